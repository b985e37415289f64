# --- Credentials and constants (terraform.tfvars; see terraform.tfvars.example) ---

variable "domain" {
  description = "Domain of a Route53 zone the cluster's records go in (api.<domain>, k3s.<domain>, gw.<domain>, *.obs.<domain>, store-<name>.<domain>)."
  type        = string
}

variable "route53_zone_id" {
  description = "Route53 hosted zone id of var.domain."
  type        = string
}

variable "aws_region" {
  description = "AWS region (Route53 is global; EC2 pools live here)."
  type        = string
  default     = "us-east-1"
}

variable "aws_access_key" {
  description = "AWS access key; null: the usual AWS credential chain."
  type        = string
  default     = null
  sensitive   = true
}

variable "aws_secret_key" {
  description = "AWS secret key; null: the usual AWS credential chain."
  type        = string
  default     = null
  sensitive   = true
}

variable "gcp_project" {
  description = "GCP project of GCP pools."
  type        = string
  default     = ""
}

variable "gcp_region" {
  description = "GCP region of GCP pools."
  type        = string
  default     = "us-central1"
}

variable "gcp_credentials_file" {
  description = "Path of a GCP service account key; empty: application default credentials."
  type        = string
  default     = ""
}

variable "vultr_api_key" {
  description = "Vultr API key (the WireGuard gateway runs on Vultr)."
  type        = string
  sensitive   = true
}

variable "ssh_public_keys" {
  description = "OpenSSH public keys that may log in to every VM as user k8s1m."
  type        = list(string)
}

variable "allowed_ipv6_cidrs" {
  description = "IPv6 ranges the VMs accept traffic from. Pools on several clouds talk over the internet, so the default is everything; every listener authenticates (TLS client certificates, tokens, basic auth)."
  type        = list(string)
  default     = ["::/0"]
}

variable "registry" {
  description = "OCI registry holding the k8s1m images (tools/release's archives, pushed), reachable over IPv6, e.g. registry.example.org/k8s1m."
  type        = string
}

variable "mirror_registry" {
  description = "Registry mirroring third-party images (kwok/kwok, victoriametrics/vmagent, fluent/fluent-bit), reachable over IPv6."
  type        = string
}

variable "artifact_base_url" {
  description = "HTTP(S) server, reachable over IPv6, holding the VMs' binaries as <name>/<version>/<name>-linux-<arch> (versions.tf)."
  type        = string
}

# --- Cluster size (examples/*.tfvars) ---

variable "node_count" {
  description = "kwok nodes the cluster is sized for (makenodes creates them after apply)."
  type        = number
}

variable "nodes_per_kwok_controller" {
  description = "Nodes per kwok controller (makenodes --per-kwok-group)."
  type        = number
  default     = 10000
}

variable "kwok_controllers" {
  description = "kwok controllers; null: ceil(node_count / nodes_per_kwok_controller)."
  type        = number
  default     = null
}

variable "kube_apiserver_count" {
  description = "Standalone kube-apiservers besides the k3s server's."
  type        = number
}

variable "kube_apiserver_flags" {
  description = "kube-apiserver scale flags (without --), e.g. max-requests-inflight, max-mutating-requests-inflight, watch-cache-sizes, default-watch-cache-size."
  type        = map(string)
  default     = {}
}

variable "kubelet_flags" {
  description = "kubelet flags (without --) of the node pools' VMs, e.g. max-pods."
  type        = map(string)
  default     = {}
}

variable "distscheduler_replicas" {
  description = "Scheduling members of the distscheduler tree (a member per 1,000-5,000 nodes; ~100 KB of memory per node in its shard)."
  type        = number
}

variable "relay_replicas" {
  description = "Relay-only members; null: ceil(distscheduler_replicas / tree_fanout) + 1 once the schedulers outnumber the fanout."
  type        = number
  default     = null
}

variable "tree_fanout" {
  description = "Children per member in the tree (every member must agree)."
  type        = number
  default     = 16
}

variable "scheduler_parallelism" {
  description = "Filter/score goroutines per scheduling member (1-2x its CPU)."
  type        = number
  default     = 4
}

variable "num_concurrent_schedulers" {
  description = "distscheduler --num-concurrent-schedulers: each member runs this many scheduling loops (at most its cores) and the leader keeps 4x this many pods in the tree (scalemodel plan says how many a rate needs)."
  type        = number
  default     = 8
}

variable "tree_tls_flags" {
  description = "Mutual TLS between the tree's members (distscheduler and relay). Off: the members run with --insecure-tree (a warning at start) until per-member certificates are issued (distscheduler spells the flags --tree-tls-*-file); the gossip key is always on."
  type        = bool
  default     = false
}

variable "distscheduler_resources" {
  description = "cpu and memory of each scheduling member, and of each relay."
  type = object({
    cpu          = string
    memory       = string
    relay_cpu    = optional(string, "1")
    relay_memory = optional(string, "1Gi")
  })
  default = { cpu = "2", memory = "4Gi" }
}

# --- Machines ---

variable "stores" {
  description = "memetcd stores, one VM each. \"main\" holds everything not listed in another store's resources (group/resource, \"/pods\" for the core group); each has its own WAL mode."
  type = map(object({
    resources             = list(string)
    wal_default           = string
    wal_no_write_prefixes = optional(list(string), [])
    extra_args            = optional(list(string), [])
    vm = object({
      provider     = string
      zone         = string
      machine_type = string
      disk_gb      = optional(number, 100)
      arch         = optional(string, "amd64")
    })
  }))
  validation {
    condition     = contains(keys(var.stores), "main") && length(var.stores["main"].resources) == 0
    error_message = "stores must have a \"main\" store, with no resources of its own (it holds everything the others do not)."
  }
}

variable "control_plane_vm" {
  description = "VM of the k3s server and of each standalone kube-apiserver."
  type = object({
    provider     = string
    zone         = string
    machine_type = string
    disk_gb      = optional(number, 100)
    arch         = optional(string, "amd64")
  })
}

variable "node_pools" {
  description = "Real (kubelet) nodes, per pool: provider, zone, count, machine type. They run distscheduler, relays, kwok and the agents; kwok's nodes are fake and cost no VM."
  type = map(object({
    provider     = string
    zone         = string
    count        = number
    machine_type = string
    disk_gb      = optional(number, 50)
    image        = optional(string, "")
    arch         = optional(string, "amd64")
  }))
}

variable "observability_vm" {
  description = "VM of VictoriaMetrics, VictoriaLogs and Parca."
  type = object({
    provider     = string
    zone         = string
    machine_type = string
    disk_gb      = optional(number, 500)
    arch         = optional(string, "amd64")
  })
}

variable "gateway_vm" {
  description = "Vultr region and plan of the WireGuard gateway (it needs IPv4, which only the Vultr module gives)."
  type = object({
    region = string
    plan   = string
  })
  default = { region = "lax", plan = "vc2-2c-4gb" }
}
