variable "zone_id" {
  description = "Route53 hosted zone id of var.domain."
  type        = string
}

variable "domain" {
  description = "The cluster's domain; records are <name>.<domain>."
  type        = string
}

variable "records" {
  description = "Name (without the domain) => its IPv6 addresses."
  type        = map(list(string))
}

variable "ttl" {
  description = "Record TTL in seconds."
  type        = number
  default     = 60
}
