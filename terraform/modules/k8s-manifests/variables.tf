variable "namespace" {
  description = "Namespace of the distscheduler tree and the agents."
  type        = string
  default     = "k8s1m"
}

variable "images" {
  description = "Image references (the root's versions.tf)."
  type = object({
    distscheduler = string
    relay         = string
    kwok          = string
    vmagent       = string
    fluent_bit    = string
  })
}

variable "scheduler_config" {
  description = "KubeSchedulerConfiguration YAML (the root passes distscheduler/examples/scheduler-config.yaml, which distscheduler's tests load with upstream's loader); parallelism is replaced."
  type        = string
}

variable "kwok_manifest" {
  description = "The kwok controllers' manifest (the root passes makenodes/deploy/kwok.yaml, one StatefulSet pod per kwok group); replicas and image are replaced."
  type        = string
}

variable "distscheduler" {
  description = "The scheduler tree: scheduling replicas, relay-only replicas (null: one per fanout's worth of schedulers, plus one, once replicas exceed the fanout), fanout, parallelism per member, gather deadline, in-flight window, and each member's resources."
  type = object({
    replicas                  = number
    relay_replicas            = optional(number)
    fanout                    = optional(number, 16)
    parallelism               = optional(number, 4)
    wait_for_subschedulers    = optional(number, 1)
    num_concurrent_schedulers = optional(number, 8)
    cpu                       = optional(string, "2")
    memory                    = optional(string, "4Gi")
    relay_cpu                 = optional(string, "1")
    relay_memory              = optional(string, "1Gi")
  })
}

variable "kwok_controllers" {
  description = "kwok controllers, one per kwok-group label value (makenodes --per-kwok-group nodes each)."
  type        = number
}

variable "gossip_key" {
  description = "base64 memberlist key (16, 24 or 32 bytes) the tree's members share."
  type        = string
  sensitive   = true
}

variable "tree_tls_flags" {
  description = "Pass the tree TLS files to distscheduler and relay (--tls-cert-file, --tls-key-file, --tls-ca-file). Off: the members run with --insecure-tree (a warning at start), because distscheduler spells these --tree-tls-*-file and every member needs a certificate naming it. The Secret is mounted either way."
  type        = bool
  default     = false
}

variable "tree_tls" {
  description = "CA, certificate and key the tree's members authenticate each other with (mutual TLS on gRPC)."
  type = object({
    ca_pem   = string
    cert_pem = string
    key_pem  = string
  })
  sensitive = true
}

variable "observability" {
  description = "Where vmagent and fluent-bit push: VictoriaMetrics and VictoriaLogs base URLs, basic auth password (user u), and the CA of their certificate."
  type = object({
    metrics_url = string
    logs_url    = string
    password    = string
    ca_pem      = string
  })
  sensitive = true
}
