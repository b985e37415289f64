variable "domain" {
  description = "The cluster's domain; the API is https://gw.<domain>:<api_port>."
  type        = string
}

variable "binary_url" {
  description = "wggateway binary on the artifact server (ARCH placeholder)."
  type        = string
}

variable "api_port" {
  description = "HTTPS port of the config API."
  type        = number
  default     = 8443
}

variable "wireguard_port" {
  description = "WireGuard UDP port."
  type        = number
  default     = 51820
}

variable "snat_interface" {
  description = "Interface holding the VM's public IPv4 address (Vultr's Ubuntu: enp1s0)."
  type        = string
  default     = "enp1s0"
}

variable "pool_v4" {
  description = "Tunnel address pool; one address per client VM (a /16 holds 65,533)."
  type        = string
  default     = "10.99.0.0/16"
}

variable "idle_timeout" {
  description = "Release a client's address after this long without a handshake or request."
  type        = string
  default     = "72h"
}

variable "extra_args" {
  description = "More wggateway flags."
  type        = list(string)
  default     = []
}

variable "ssh_public_keys" {
  description = "Operators' SSH keys."
  type        = list(string)
}
