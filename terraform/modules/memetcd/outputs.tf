output "user_data" {
  description = "cloud-init user data of the store VM."
  value       = module.cloud_init.user_data
  sensitive   = true
}

output "args" {
  description = "The memetcd command line (for the record and the checks)."
  value       = local.args
}
