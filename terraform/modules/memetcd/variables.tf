variable "name" {
  description = "Store name (main, leases, events, pods, ...)."
  type        = string
}

variable "binary_url" {
  description = "memetcd binary on the artifact server (ARCH placeholder)."
  type        = string
}

variable "port" {
  description = "etcd gRPC client port."
  type        = number
  default     = 2379
}

variable "metrics_port" {
  description = "Port of /metrics, /healthz and pprof (plain HTTP: keep it behind the firewall)."
  type        = number
  default     = 9000
}

variable "wal_default" {
  description = "WAL mode of prefixes without an override: none, buffered or fsync."
  type        = string
  validation {
    condition     = contains(["none", "buffered", "fsync"], var.wal_default)
    error_message = "wal_default must be none, buffered or fsync."
  }
}

variable "wal_no_write_prefixes" {
  description = "Key prefixes never written to the WAL."
  type        = list(string)
  default     = []
}

variable "wal_prefix_modes" {
  description = "Key prefix => WAL mode (longest prefix wins)."
  type        = map(string)
  default     = {}
}

variable "extra_args" {
  description = "More memetcd flags, e.g. --wal-snapshot-interval=10m."
  type        = list(string)
  default     = []
}

variable "tls" {
  description = "CA that client certificates must chain to, and the store's serving certificate."
  type = object({
    ca_pem   = string
    cert_pem = string
    key_pem  = string
  })
  sensitive = true
}

variable "ssh_public_keys" {
  description = "Operators' SSH keys."
  type        = list(string)
}

variable "gateway" {
  description = "WireGuard gateway for IPv4 egress (see cloud-init); null for none."
  type = object({
    url        = string
    secret     = string
    ca_pem     = string
    binary_url = string
  })
  default   = null
  sensitive = true
}
