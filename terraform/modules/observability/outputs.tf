output "user_data" {
  description = "cloud-init user data of the observability VM."
  value       = module.cloud_init.user_data
  sensitive   = true
}

output "password" {
  description = "Basic auth password of user u (VictoriaMetrics, VictoriaLogs)."
  value       = random_password.basic_auth.result
  sensitive   = true
}

output "ca_pem" {
  description = "CA of the observability VM's certificate."
  value       = module.tls.ca_pem
}

output "urls" {
  description = "Where the services answer."
  value = {
    victoriametrics = "https://metrics.obs.${var.domain}:8428"
    victorialogs    = "https://logs.obs.${var.domain}:9428"
    parca           = "ssh -L 7070:[::1]:7070 k8s1m@obs.${var.domain}, then http://localhost:7070"
  }
}
