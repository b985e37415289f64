variable "name" {
  description = "Name prefix; instance i is named <name>-<i> (also its hostname)."
  type        = string
}

variable "instance_count" {
  description = "How many identical VMs."
  type        = number
}

variable "zone" {
  description = "Region, e.g. lax."
  type        = string
}

variable "machine_type" {
  description = "Plan, e.g. vc2-4c-8gb."
  type        = string
}

variable "disk_gb" {
  description = "Boot disk size in GiB; ignored (a Vultr plan fixes its disk)."
  type        = number
}

variable "image" {
  description = "OS id; empty: Ubuntu 24.04 LTS x64 (2284)."
  type        = string
}

variable "network" {
  description = "The output of the provider's *-network module."
  type = object({
    provider          = string
    subnet_id         = string
    security_group_id = string
    subnetwork        = string
    firewall_group_id = string
  })
}

variable "user_data" {
  description = "cloud-init user data (#cloud-config), the same for every instance."
  type        = string
  sensitive   = true
}

variable "public_ipv4" {
  description = "Give the instances a public IPv4 address too (the WireGuard gateway needs one; nothing else does)."
  type        = bool
  default     = false
}
