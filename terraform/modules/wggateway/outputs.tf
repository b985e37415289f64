output "user_data" {
  description = "cloud-init user data of the gateway VM."
  value       = module.cloud_init.user_data
  sensitive   = true
}

output "client" {
  description = "What every other VM's cloud-init needs to use the gateway (cloud-init's gateway variable)."
  sensitive   = true
  value = {
    url        = "https://gw.${var.domain}:${var.api_port}"
    secret     = random_password.secret.result
    ca_pem     = module.tls.ca_pem
    binary_url = var.binary_url
  }
}

output "args" {
  description = "The wggateway command line."
  value       = local.args
}
