output "user_data" {
  description = "The #cloud-config document."
  value       = "#cloud-config\n${yamlencode(local.cloud_config)}"
  sensitive   = true
}
