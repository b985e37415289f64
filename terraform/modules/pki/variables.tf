variable "ca_name" {
  description = "Common name of the CA."
  type        = string
}

variable "certs" {
  description = "Certificates to sign, by name: subject, SANs, and whether it serves (server_auth) and/or authenticates a client (client_auth)."
  type = map(object({
    common_name  = string
    organization = optional(string, "k8s1m")
    dns_names    = optional(list(string), [])
    ip_addresses = optional(list(string), [])
    server       = optional(bool, false)
    client       = optional(bool, false)
  }))
  default = {}
}

variable "validity_hours" {
  description = "Validity of the CA and its certificates (default ~2 years)."
  type        = number
  default     = 17520
}
