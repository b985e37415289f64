# The sharded scheduler: RBAC, its configuration, the tree's gossip key and
# TLS, the headless Service the members find each other through, and the
# scheduling members' Deployment.
locals {
  scheduler_config = yamlencode(merge(yamldecode(var.scheduler_config), {
    parallelism = var.distscheduler.parallelism
  }))

  distscheduler = [
    { apiVersion = "v1", kind = "ServiceAccount", metadata = { name = "distscheduler", namespace = local.ns } },
    {
      apiVersion = "rbac.authorization.k8s.io/v1"
      kind       = "ClusterRole"
      metadata   = { name = "k8s1m:distscheduler" }
      rules = [
        # The leader writes every node's shard label; the mutating webhook gives new nodes theirs.
        { apiGroups = [""], resources = ["nodes"], verbs = ["get", "list", "watch", "patch"] },
        # The leader labels pods; members bind the pods they win.
        { apiGroups = [""], resources = ["pods"], verbs = ["get", "list", "watch", "patch"] },
        { apiGroups = [""], resources = ["pods/binding"], verbs = ["create"] },
        { apiGroups = [""], resources = ["pods/status"], verbs = ["patch", "update"] },
        { apiGroups = ["", "events.k8s.io"], resources = ["events"], verbs = ["create", "patch"] },
        # The leader Lease (kube-system/dist-scheduler by default).
        { apiGroups = ["coordination.k8s.io"], resources = ["leases"], verbs = ["get", "create", "update"] },
        # The leader registers the admission webhooks with its own URL and CA.
        {
          apiGroups = ["admissionregistration.k8s.io"]
          resources = ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"]
          verbs     = ["get", "create", "update", "delete"]
        },
      ]
    },
    {
      apiVersion = "v1"
      kind       = "ConfigMap"
      metadata   = { name = "distscheduler-config", namespace = local.ns }
      data       = { "scheduler-config.yaml" = local.scheduler_config }
    },
    {
      apiVersion = "v1"
      kind       = "Secret"
      metadata   = { name = "distscheduler-gossip", namespace = local.ns }
      type       = "Opaque"
      data       = { "gossip.key" = base64encode("${var.gossip_key}\n") }
    },
    {
      apiVersion = "v1"
      kind       = "Secret"
      metadata   = { name = "distscheduler-tree-tls", namespace = local.ns }
      type       = "kubernetes.io/tls"
      data = {
        "ca.crt"  = base64encode(var.tree_tls.ca_pem)
        "tls.crt" = base64encode(var.tree_tls.cert_pem)
        "tls.key" = base64encode(var.tree_tls.key_pem)
      }
    },
    {
      apiVersion = "v1"
      kind       = "Service"
      metadata   = { name = local.tree, namespace = local.ns }
      spec = {
        clusterIP = "None"
        # Seeds must resolve before members are ready: readiness needs the tree.
        publishNotReadyAddresses = true
        ipFamilies               = ["IPv6"]
        ipFamilyPolicy           = "SingleStack"
        selector                 = local.tree_labels
        ports = [
          { name = "gossip-tcp", port = 7946, protocol = "TCP" },
          { name = "gossip-udp", port = 7946, protocol = "UDP" },
          { name = "grpc", port = 50051, protocol = "TCP" },
        ]
      }
    },
    {
      apiVersion = "apps/v1"
      kind       = "Deployment"
      metadata   = { name = "distscheduler", namespace = local.ns }
      spec = {
        replicas = var.distscheduler.replicas
        selector = { matchLabels = { "app.kubernetes.io/name" = "distscheduler" } }
        template = {
          metadata = {
            labels      = merge(local.tree_labels, { "app.kubernetes.io/name" = "distscheduler" })
            annotations = { "prometheus.io/scrape" = "true", "prometheus.io/port" = "10262" }
          }
          spec = {
            serviceAccountName = "distscheduler"
            priorityClassName  = "system-cluster-critical"
            affinity           = local.real_nodes
            containers = [{
              name  = "distscheduler"
              image = var.images.distscheduler
              args = concat([
                "--config=/etc/k8s1m/config/scheduler-config.yaml",
                "--member-name=$(POD_NAME)",
                "--http-addr=:10262",
                "--webhook-addr=:8443",
                "--webhook-host=$(POD_IP)",
                "--wait-for-subschedulers=${var.distscheduler.wait_for_subschedulers}",
                "--num-concurrent-schedulers=${var.distscheduler.num_concurrent_schedulers}",
              ], local.tree_args)
              env            = local.pod_env
              ports          = concat(local.tree_ports, [{ name = "http", containerPort = 10262 }, { name = "webhook", containerPort = 8443 }])
              readinessProbe = { httpGet = { path = "/readyz", port = "http" }, periodSeconds = 10 }
              livenessProbe  = { httpGet = { path = "/healthz", port = "http" }, periodSeconds = 30, failureThreshold = 5 }
              resources = {
                requests = { cpu = var.distscheduler.cpu, memory = var.distscheduler.memory }
                limits   = { memory = var.distscheduler.memory }
              }
              volumeMounts = concat(local.tree_mounts, [{ name = "config", mountPath = "/etc/k8s1m/config", readOnly = true }])
            }]
            volumes = concat(local.tree_volumes, [{ name = "config", configMap = { name = "distscheduler-config" } }])
          }
        }
      }
    },
  ]
}
