output "k3s_server_user_data" {
  description = "cloud-init user data of the k3s server VM."
  value       = module.k3s_server_init.user_data
  sensitive   = true
}

output "apiserver_user_data" {
  description = "cloud-init user data of every standalone kube-apiserver VM."
  value       = module.apiserver_init.user_data
  sensitive   = true
}

output "agent_user_data" {
  description = "cloud-init user data of the node pools' VMs (k3s agents)."
  value       = module.agent_init.user_data
  sensitive   = true
}

output "apiserver_args" {
  description = "The standalone kube-apiservers' command line."
  value       = local.apiserver_args
}

output "ca_pem" {
  description = "CA of the apiservers' serving certificates."
  value       = module.server_ca.ca_pem
}

output "admin_kubeconfig" {
  description = "Cluster-admin kubeconfig for https://api.<domain>:6443."
  sensitive   = true
  value = yamlencode({
    apiVersion      = "v1"
    kind            = "Config"
    current-context = "k8s1m"
    clusters = [{ name = "k8s1m", cluster = {
      server                     = "https://api.${var.domain}:6443"
      certificate-authority-data = base64encode(module.server_ca.ca_pem)
    } }]
    users = [{ name = "admin", user = {
      client-certificate-data = base64encode(module.client_ca.certs["admin"].cert_pem)
      client-key-data         = base64encode(module.client_ca.certs["admin"].key_pem)
    } }]
    contexts = [{ name = "k8s1m", context = { cluster = "k8s1m", user = "admin" } }]
  })
}

output "metrics_client" {
  description = "Client certificate VictoriaMetrics scrapes the apiservers with."
  value       = module.client_ca.certs["metrics"]
  sensitive   = true
}
