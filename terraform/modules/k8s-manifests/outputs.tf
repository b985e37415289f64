output "manifests" {
  description = "File name => multi-document YAML, applied in name order (k3s applies what it finds in its server/manifests directory)."
  sensitive   = true
  value = {
    "k8s1m-00-namespace.yaml"     = yamlencode({ apiVersion = "v1", kind = "Namespace", metadata = { name = local.ns } })
    "k8s1m-10-distscheduler.yaml" = join("---\n", [for o in local.distscheduler : yamlencode(o)])
    "k8s1m-20-relay.yaml"         = join("---\n", [for o in local.relay : yamlencode(o)])
    "k8s1m-30-kwok.yaml"          = local.kwok
    "k8s1m-40-agents.yaml"        = join("---\n", [for o in local.agents : yamlencode(o)])
    "k8s1m-50-bindings.yaml"      = join("---\n", [for o in local.bindings : yamlencode(o)])
  }
}

output "relay_replicas" {
  description = "Relay-only members deployed (given or derived from the scheduling replicas)."
  value       = local.relay_replicas
}
