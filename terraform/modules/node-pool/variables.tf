variable "name" {
  description = "Pool name; instance i is <name>-<i>."
  type        = string
}

variable "pool" {
  description = "Where and what: provider (aws, gcp, vultr), zone (AWS/GCP zone, Vultr region), count, machine_type, disk_gb, image (empty: Ubuntu 24.04), arch (amd64, arm64)."
  type = object({
    provider     = string
    zone         = string
    count        = number
    machine_type = string
    disk_gb      = optional(number, 50)
    image        = optional(string, "")
    arch         = optional(string, "amd64")
  })
  validation {
    condition     = contains(["aws", "gcp", "vultr"], var.pool.provider)
    error_message = "pool.provider must be aws, gcp or vultr."
  }
}

variable "networks" {
  description = "Network of each provider in use, keyed by provider (outputs of the *-network modules)."
  type = map(object({
    provider          = string
    subnet_id         = string
    security_group_id = string
    subnetwork        = string
    firewall_group_id = string
  }))
}

variable "user_data" {
  description = "cloud-init user data for every VM of the pool."
  type        = string
  sensitive   = true
}
