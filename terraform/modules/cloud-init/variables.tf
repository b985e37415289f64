variable "ssh_public_keys" {
  description = "OpenSSH public keys of the operators (user k8s1m, passwordless sudo)."
  type        = list(string)
}

variable "files" {
  description = "Files to write before the commands run."
  type = list(object({
    path        = string
    content     = string
    permissions = string
  }))
  default = []
}

variable "commands" {
  description = "Shell commands run once at first boot, in order, after the gateway tunnel is up."
  type        = list(string)
  default     = []
}

variable "services" {
  description = "systemd services to write and start after the commands (which fetch their binaries): name => description, command line, optional EnvironmentFile, and whether the OOM killer should spare it."
  type = map(object({
    description      = string
    exec_start       = string
    environment_file = optional(string)
    oom_protect      = optional(bool, false)
  }))
  default = {}
}

variable "packages" {
  description = "Extra Debian/Ubuntu packages to install."
  type        = list(string)
  default     = []
}

variable "gateway" {
  description = "The WireGuard gateway that gives this VM IPv4 egress; null for none (the gateway itself, or VMs with IPv4)."
  type = object({
    url        = string # https://gw.<domain>:8443
    secret     = string
    ca_pem     = string
    binary_url = string # wggateway binary on the artifact server (ARCH placeholder)
  })
  default   = null
  sensitive = true
}
