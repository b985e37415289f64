variable "name" {
  description = "Name (tag) of the VPC and its parts."
  type        = string
}

variable "zone" {
  description = "Availability zone of the subnet, e.g. us-east-1a."
  type        = string
}

variable "allowed_ipv6_cidrs" {
  description = "IPv6 ranges allowed in; every pool of the cluster, and the operators."
  type        = list(string)
}
