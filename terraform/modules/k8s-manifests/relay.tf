# Relay-only members: inner nodes of the tree that forward items and gather
# scores but schedule nothing, sized from the scheduling replicas (relay
# tree.Build puts relay-only members on the inner levels first).
locals {
  relay = local.relay_replicas == 0 ? [] : [{
    apiVersion = "apps/v1"
    kind       = "Deployment"
    metadata   = { name = "relay", namespace = local.ns }
    spec = {
      replicas = local.relay_replicas
      selector = { matchLabels = { "app.kubernetes.io/name" = "relay" } }
      template = {
        metadata = {
          labels      = merge(local.tree_labels, { "app.kubernetes.io/name" = "relay" })
          annotations = { "prometheus.io/scrape" = "true", "prometheus.io/port" = "9090" }
        }
        spec = {
          priorityClassName = "system-cluster-critical"
          # A relay needs no API access: no token in the pod.
          automountServiceAccountToken = false
          affinity                     = local.real_nodes
          containers = [{
            name  = "relay"
            image = var.images.relay
            args  = concat(["--name=$(POD_NAME)", "--metrics-addr=:9090"], local.tree_args)
            env   = local.pod_env
            ports = concat(local.tree_ports, [{ name = "metrics", containerPort = 9090 }])
            # Ready once joined; alive while the process serves.
            readinessProbe = { httpGet = { path = "/readyz", port = "metrics" }, periodSeconds = 10 }
            livenessProbe  = { httpGet = { path = "/healthz", port = "metrics" }, periodSeconds = 30, failureThreshold = 5 }
            resources = {
              requests = { cpu = var.distscheduler.relay_cpu, memory = var.distscheduler.relay_memory }
              limits   = { memory = var.distscheduler.relay_memory }
            }
            volumeMounts = local.tree_mounts
          }]
          volumes = local.tree_volumes
        }
      }
    }
  }]
}
