variable "name" {
  description = "Description of the firewall group."
  type        = string
}

variable "allowed_ipv6_cidrs" {
  description = "IPv6 ranges allowed in (TCP and UDP); every pool of the cluster, and the operators."
  type        = list(string)
}
