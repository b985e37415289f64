output "kubeconfig" {
  description = "Cluster-admin kubeconfig: terraform output -raw kubeconfig > k8s1m.kubeconfig"
  value       = module.control_plane.admin_kubeconfig
  sensitive   = true
}

output "api" {
  description = "The apiservers' address (round-robin over every apiserver)."
  value       = "https://api.${var.domain}:6443"
}

output "observability" {
  description = "VictoriaMetrics, VictoriaLogs and Parca (user u, password: terraform output -raw observability_password)."
  value       = module.observability.urls
}

output "observability_password" {
  description = "Basic auth password of user u on the observability VM."
  value       = module.observability.password
  sensitive   = true
}

output "observability_ca" {
  description = "CA of the observability VM's certificate (Grafana data sources need it)."
  value       = module.observability.ca_pem
}

output "tree" {
  description = "The distscheduler tree as deployed."
  value = {
    schedulers       = var.distscheduler_replicas
    relays           = module.manifests.relay_replicas
    fanout           = var.tree_fanout
    kwok_controllers = local.kwok_controllers
  }
}

output "stores" {
  description = "Each memetcd store's URL and the resources it holds."
  value       = { for name, s in var.stores : name => { url = local.store_url[name], resources = s.resources } }
}

output "makenodes" {
  description = "The command that creates the kwok nodes once the cluster is up."
  value       = "makenodes nodes create --count ${var.node_count} --per-kwok-group ${var.nodes_per_kwok_controller} --kubeconfig k8s1m.kubeconfig"
}
