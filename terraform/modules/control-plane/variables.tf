variable "domain" {
  description = "The cluster's domain (api.<domain>, k3s.<domain>, apiserver-<i>.<domain>)."
  type        = string
}

variable "kube_apiserver_count" {
  description = "Standalone kube-apiservers besides the k3s server's own (stateless: scale them out)."
  type        = number
}

variable "apiserver_flags" {
  description = "kube-apiserver flags (without --) every apiserver gets, e.g. max-requests-inflight, watch-cache-sizes."
  type        = map(string)
  default     = {}
}

variable "kubelet_flags" {
  description = "kubelet flags (without --) of the node pools' k3s agents."
  type        = map(string)
  default     = {}
}

variable "store_url" {
  description = "URL of the main memetcd store (everything not overridden)."
  type        = string
}

variable "store_overrides" {
  description = "group/resource (\"/pods\" for the core group) => URL of the store that holds it (--etcd-servers-overrides)."
  type        = map(string)
  default     = {}
}

variable "store_tls" {
  description = "CA of the stores and the apiservers' client certificate to them."
  type = object({
    ca_pem   = string
    cert_pem = string
    key_pem  = string
  })
  sensitive = true
}

variable "cluster_cidr" {
  description = "Pod CIDR k3s is told about (pods really use each VM's routed prefix)."
  type        = string
  default     = "fd00:10::/56"
}

variable "service_cidr" {
  description = "Service CIDR (IPv6, at most /108 for the apiserver's allocator)."
  type        = string
  default     = "fd00:20::/112"
}

variable "k3s_url" {
  description = "k3s binary on the artifact server (ARCH placeholder)."
  type        = string
}

variable "kube_apiserver_url" {
  description = "kube-apiserver binary on the artifact server (ARCH placeholder)."
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
