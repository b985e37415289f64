locals {
  ns   = var.namespace
  tree = "dist-scheduler" # the headless Service every tree member is behind; gossip seeds resolve through it
  seed = "${local.tree}.${local.ns}.svc.cluster.local:7946"

  relay_replicas = coalesce(var.distscheduler.relay_replicas,
  var.distscheduler.replicas > var.distscheduler.fanout ? ceil(var.distscheduler.replicas / var.distscheduler.fanout) + 1 : 0)

  # Pods that run processes stay off kwok's fake nodes (makenodes labels them type=kwok).
  real_nodes = { nodeAffinity = { requiredDuringSchedulingIgnoredDuringExecution = { nodeSelectorTerms = [
    { matchExpressions = [{ key = "type", operator = "NotIn", values = ["kwok"] }] },
  ] } } }

  tree_labels = { "app.kubernetes.io/part-of" = local.tree }

  # What both distscheduler and relay members mount and are told.
  pod_env = [
    { name = "POD_NAME", valueFrom = { fieldRef = { fieldPath = "metadata.name" } } },
    { name = "POD_IP", valueFrom = { fieldRef = { fieldPath = "status.podIP" } } },
  ]
  tree_volumes = [
    { name = "gossip", secret = { secretName = "distscheduler-gossip", defaultMode = 256 } },
    { name = "tree-tls", secret = { secretName = "distscheduler-tree-tls", defaultMode = 256 } },
  ]
  tree_mounts = [
    { name = "gossip", mountPath = "/etc/k8s1m/gossip", readOnly = true },
    { name = "tree-tls", mountPath = "/etc/k8s1m/tree-tls", readOnly = true },
  ]
  tree_ports = [
    { name = "gossip-tcp", containerPort = 7946, protocol = "TCP" },
    { name = "gossip-udp", containerPort = 7946, protocol = "UDP" },
    { name = "grpc", containerPort = 50051, protocol = "TCP" },
  ]
  # Flags the distscheduler and relay binaries spell the same way.
  tree_args = concat([
    "--seeds=${local.seed}",
    "--gossip-key-file=/etc/k8s1m/gossip/gossip.key",
    "--gossip-port=7946",
    "--grpc-addr=:50051",
    "--advertise-gossip-addr=$(POD_IP)",
    "--advertise-grpc-addr=[$(POD_IP)]:50051",
    "--fanout=${var.distscheduler.fanout}",
    "--log-format=json",
    # Without TLS both binaries refuse to join a tree unless told it is
    # insecure on purpose (they log a warning at start).
    ], !var.tree_tls_flags ? ["--insecure-tree"] : [
    "--tls-cert-file=/etc/k8s1m/tree-tls/tls.crt",
    "--tls-key-file=/etc/k8s1m/tree-tls/tls.key",
    "--tls-ca-file=/etc/k8s1m/tree-tls/ca.crt",
  ])


  # ClusterRoleBindings of this module's service accounts: name => the role
  # and the service account. distscheduler also gets what kube-scheduler is
  # granted: upstream's informers (services, PVCs, CSI objects, ...) never
  # sync without it.
  service_account_bindings = {
    "k8s1m:distscheduler"                  = { role = "k8s1m:distscheduler", account = "distscheduler" }
    "k8s1m:distscheduler:kube-scheduler"   = { role = "system:kube-scheduler", account = "distscheduler" }
    "k8s1m:distscheduler:volume-scheduler" = { role = "system:volume-scheduler", account = "distscheduler" }
    "k8s1m:vmagent"                        = { role = "k8s1m:vmagent", account = "vmagent" }
    "k8s1m:fluent-bit"                     = { role = "k8s1m:fluent-bit", account = "fluent-bit" }
  }
  bindings = [for name, b in local.service_account_bindings : {
    apiVersion = "rbac.authorization.k8s.io/v1"
    kind       = "ClusterRoleBinding"
    metadata   = { name = name }
    roleRef    = { apiGroup = "rbac.authorization.k8s.io", kind = "ClusterRole", name = b.role }
    subjects   = [{ kind = "ServiceAccount", name = b.account, namespace = local.ns }]
  }]
}
