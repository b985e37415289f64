variable "domain" {
  description = "The cluster's domain (metrics.obs.<domain>, logs.obs.<domain>)."
  type        = string
}

variable "binary_urls" {
  description = "Binary name in /usr/local/bin => URL on the artifact server (victoria-metrics, victoria-logs, parca)."
  type        = map(string)
}

variable "retention" {
  description = "How long metrics and logs are kept (VictoriaMetrics syntax, e.g. 30d)."
  type        = string
  default     = "30d"
}

variable "store_metrics_targets" {
  description = "host:port of every memetcd store's metrics port."
  type        = list(string)
}

variable "apiserver_targets" {
  description = "host:port of every kube-apiserver."
  type        = list(string)
}

variable "apiserver_scrape" {
  description = "CA of the apiservers and the client certificate to scrape their /metrics with."
  type = object({
    ca_pem   = string
    cert_pem = string
    key_pem  = string
  })
  sensitive = true
}

variable "wggateway_target" {
  description = "host:port of the gateway's API (its /metrics)."
  type        = string
}

variable "wggateway_ca_pem" {
  description = "CA of the gateway's certificate."
  type        = string
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
