variable "name" {
  description = "Name prefix; instance i is named <name>-<i> (also its hostname)."
  type        = string
}

variable "instance_count" {
  description = "How many identical VMs."
  type        = number
}

variable "zone" {
  description = "Availability zone, e.g. us-east-1a."
  type        = string
}

variable "machine_type" {
  description = "Instance type, e.g. c7i.2xlarge."
  type        = string
}

variable "disk_gb" {
  description = "Boot disk size in GiB."
  type        = number
}

variable "image" {
  description = "AMI id; empty: the latest Ubuntu 24.04 LTS from Canonical for the architecture."
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

variable "arch" {
  description = "amd64 or arm64 (the instance type must match)."
  type        = string
  default     = "amd64"
}
