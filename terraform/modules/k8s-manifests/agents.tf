# The in-cluster agents of the observability VM: vmagent scrapes every pod
# annotated prometheus.io/scrape (distscheduler, relay, kwok, CoreDNS) and
# pushes to VictoriaMetrics; fluent-bit ships container and systemd logs to
# VictoriaLogs. Both authenticate with the observability VM's basic auth.
locals {
  vmagent_scrape = {
    global = { scrape_interval = "15s" }
    scrape_configs = [{
      job_name              = "pods"
      kubernetes_sd_configs = [{ role = "pod" }]
      relabel_configs = [
        { source_labels = ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"], action = "keep", regex = "true" },
        {
          source_labels = ["__meta_kubernetes_pod_ip", "__meta_kubernetes_pod_annotation_prometheus_io_port"]
          regex         = "(.+);(.+)"
          replacement   = "[$1]:$2"
          target_label  = "__address__"
        },
        { source_labels = ["__meta_kubernetes_namespace"], target_label = "namespace" },
        { source_labels = ["__meta_kubernetes_pod_name"], target_label = "pod" },
        { source_labels = ["__meta_kubernetes_pod_label_app_kubernetes_io_name"], target_label = "job" },
      ]
    }]
  }

  fluent_bit_config = <<-CONF
    [SERVICE]
        Flush        5
        Log_Level    info
        Parsers_File /fluent-bit/etc/parsers.conf

    [INPUT]
        Name              tail
        Path              /var/log/containers/*.log
        Tag               kube.*
        multiline.parser  cri
        Mem_Buf_Limit     64MB
        Skip_Long_Lines   On

    [INPUT]
        Name            systemd
        Tag             host.*
        Read_From_Tail  On

    [FILTER]
        Name       kubernetes
        Match      kube.*
        Merge_Log  On
        Labels     Off

    [OUTPUT]
        Name        http
        Match       *
        Host        ${regex("^https://([^:/]+)", var.observability.logs_url)[0]}
        Port        ${try(regex(":([0-9]+)$", var.observability.logs_url)[0], "443")}
        URI         /insert/jsonline?_stream_fields=stream,kubernetes_pod_name,kubernetes_container_name&_msg_field=log&_time_field=date
        Format      json_lines
        Json_Date_Key    date
        Json_Date_Format iso8601
        tls         On
        tls.verify  On
        tls.ca_file /etc/k8s1m/obs/ca.crt
        HTTP_User   u
        HTTP_Passwd $${VL_PASSWORD}
  CONF

  obs_secret = {
    apiVersion = "v1"
    kind       = "Secret"
    metadata   = { name = "observability", namespace = local.ns }
    type       = "Opaque"
    data = {
      password = base64encode(var.observability.password)
      "ca.crt" = base64encode(var.observability.ca_pem)
    }
  }

  agents = [
    local.obs_secret,
    { apiVersion = "v1", kind = "ServiceAccount", metadata = { name = "vmagent", namespace = local.ns } },
    {
      apiVersion = "rbac.authorization.k8s.io/v1"
      kind       = "ClusterRole"
      metadata   = { name = "k8s1m:vmagent" }
      rules = [
        { apiGroups = [""], resources = ["pods", "nodes", "services", "endpoints"], verbs = ["get", "list", "watch"] },
        { apiGroups = ["discovery.k8s.io"], resources = ["endpointslices"], verbs = ["get", "list", "watch"] },
        { nonResourceURLs = ["/metrics"], verbs = ["get"] },
      ]
    },
    {
      apiVersion = "v1"
      kind       = "ConfigMap"
      metadata   = { name = "vmagent", namespace = local.ns }
      data       = { "scrape.yaml" = yamlencode(local.vmagent_scrape) }
    },
    {
      apiVersion = "apps/v1"
      kind       = "Deployment"
      metadata   = { name = "vmagent", namespace = local.ns }
      spec = {
        replicas = 1
        selector = { matchLabels = { "app.kubernetes.io/name" = "vmagent" } }
        template = {
          metadata = { labels = { "app.kubernetes.io/name" = "vmagent" } }
          spec = {
            serviceAccountName = "vmagent"
            containers = [{
              name  = "vmagent"
              image = var.images.vmagent
              args = [
                "-promscrape.config=/etc/k8s1m/vmagent/scrape.yaml",
                "-remoteWrite.url=${var.observability.metrics_url}/api/v1/write",
                "-remoteWrite.basicAuth.username=u",
                "-remoteWrite.basicAuth.passwordFile=/etc/k8s1m/obs/password",
                "-remoteWrite.tlsCAFile=/etc/k8s1m/obs/ca.crt",
                "-remoteWrite.tmpDataPath=/tmp/vmagent",
              ]
              resources = { requests = { cpu = "1", memory = "1Gi" }, limits = { memory = "2Gi" } }
              volumeMounts = [
                { name = "config", mountPath = "/etc/k8s1m/vmagent", readOnly = true },
                { name = "obs", mountPath = "/etc/k8s1m/obs", readOnly = true },
              ]
            }]
            volumes = [
              { name = "config", configMap = { name = "vmagent" } },
              { name = "obs", secret = { secretName = "observability" } },
            ]
          }
        }
      }
    },
    { apiVersion = "v1", kind = "ServiceAccount", metadata = { name = "fluent-bit", namespace = local.ns } },
    {
      apiVersion = "rbac.authorization.k8s.io/v1"
      kind       = "ClusterRole"
      metadata   = { name = "k8s1m:fluent-bit" }
      rules      = [{ apiGroups = [""], resources = ["pods", "namespaces"], verbs = ["get", "list", "watch"] }]
    },
    {
      apiVersion = "v1"
      kind       = "ConfigMap"
      metadata   = { name = "fluent-bit", namespace = local.ns }
      data       = { "fluent-bit.conf" = local.fluent_bit_config }
    },
    {
      apiVersion = "apps/v1"
      kind       = "DaemonSet"
      metadata   = { name = "fluent-bit", namespace = local.ns }
      spec = {
        selector = { matchLabels = { "app.kubernetes.io/name" = "fluent-bit" } }
        template = {
          metadata = { labels = { "app.kubernetes.io/name" = "fluent-bit" } }
          spec = {
            serviceAccountName = "fluent-bit"
            priorityClassName  = "system-node-critical"
            affinity           = local.real_nodes
            tolerations        = [{ operator = "Exists", effect = "NoSchedule" }]
            containers = [{
              name      = "fluent-bit"
              image     = var.images.fluent_bit
              env       = [{ name = "VL_PASSWORD", valueFrom = { secretKeyRef = { name = "observability", key = "password" } } }]
              resources = { requests = { cpu = "100m", memory = "128Mi" }, limits = { memory = "256Mi" } }
              volumeMounts = [
                { name = "config", mountPath = "/fluent-bit/etc/fluent-bit.conf", subPath = "fluent-bit.conf", readOnly = true },
                { name = "obs", mountPath = "/etc/k8s1m/obs", readOnly = true },
                { name = "varlog", mountPath = "/var/log", readOnly = true },
                { name = "journal", mountPath = "/run/log/journal", readOnly = true },
              ]
            }]
            volumes = [
              { name = "config", configMap = { name = "fluent-bit" } },
              { name = "obs", secret = { secretName = "observability" } },
              { name = "varlog", hostPath = { path = "/var/log" } },
              { name = "journal", hostPath = { path = "/run/log/journal" } },
            ]
          }
        }
      }
    },
    # The observability VM scrapes the apiservers' /metrics with a client
    # certificate in group k8s1m:metrics (control-plane).
    {
      apiVersion = "rbac.authorization.k8s.io/v1"
      kind       = "ClusterRole"
      metadata   = { name = "k8s1m:metrics-scraper" }
      rules      = [{ nonResourceURLs = ["/metrics"], verbs = ["get"] }]
    },
    {
      apiVersion = "rbac.authorization.k8s.io/v1"
      kind       = "ClusterRoleBinding"
      metadata   = { name = "k8s1m:metrics-scraper" }
      roleRef    = { apiGroup = "rbac.authorization.k8s.io", kind = "ClusterRole", name = "k8s1m:metrics-scraper" }
      subjects   = [{ apiGroup = "rbac.authorization.k8s.io", kind = "Group", name = "k8s1m:metrics" }]
    },
  ]
}
