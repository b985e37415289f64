variable "name" {
  description = "Name of the VPC, subnet and firewall rule."
  type        = string
}

variable "region" {
  description = "Region of the subnet, e.g. us-central1."
  type        = string
}

variable "allowed_ipv6_cidrs" {
  description = "IPv6 ranges allowed in; every pool of the cluster, and the operators."
  type        = list(string)
}
