# 1,000,000 kwok nodes, sized by the scale model (go run
# ./tools/scalemodel/cmd/scalemodel plan --tfvars; tools/scalemodel's test
# keeps the six size variables equal to its answer): 100 kwok controllers,
# 5 standalone apiservers on 64 cores beside k3s's own (6 in all, ~48 cores
# busy each, most on Lease renewals: members do not watch pending pods),
# 3163 scheduling members (316 nodes each, ~4.4 cores used) and 211
# relay-only members (fanout 16); 1M pods in ~157 s at F = 0.35 ms (measured
# whole, 2026-12-05), bound by each member's one scheduling loop (157 us per
# pod on it): more members do not help until a member runs several loops.
node_count                = 1000000
nodes_per_kwok_controller = 10000
kwok_controllers          = 100
kube_apiserver_count      = 5
distscheduler_replicas    = 3163
relay_replicas            = 211
tree_fanout               = 16
scheduler_parallelism     = 16
num_concurrent_schedulers = 32
distscheduler_resources   = { cpu = "8", memory = "10Gi", relay_cpu = "1", relay_memory = "512Mi" }

kube_apiserver_flags = {
  "max-requests-inflight"          = "8000"
  "max-mutating-requests-inflight" = "4000"
  "default-watch-cache-size"       = "10000"
}

kubelet_flags = {
  "max-pods" = "250"
}

# The model's stores: 96 cores each; leases take 100,000 writes/s.
stores = {
  main   = { resources = [], wal_default = "fsync", vm = { provider = "aws", zone = "us-east-1a", machine_type = "r7i.24xlarge", disk_gb = 500 } }
  pods   = { resources = ["/pods"], wal_default = "buffered", vm = { provider = "aws", zone = "us-east-1a", machine_type = "r7i.24xlarge", disk_gb = 500 } }
  leases = { resources = ["coordination.k8s.io/leases"], wal_default = "none", vm = { provider = "aws", zone = "us-east-1a", machine_type = "c7i.24xlarge" } }
  events = { resources = ["/events"], wal_default = "none", vm = { provider = "aws", zone = "us-east-1a", machine_type = "c7i.24xlarge" } }
}

# kube-apiservers: 64 cores and ~100 GiB each.
control_plane_vm = { provider = "aws", zone = "us-east-1a", machine_type = "r7i.16xlarge" }
observability_vm = { provider = "aws", zone = "us-east-1a", machine_type = "m7i.4xlarge", disk_gb = 2000 }

# 3163 members x 8 cores + 211 relays x 1 + 100 kwok x 4 cores: ~25,900 cores.
# c7i.48xlarge: 192 cores / 384 GiB holds 24 members; c3-standard-176 holds 22.
node_pools = {
  aws-workers = { provider = "aws", zone = "us-east-1a", count = 92, machine_type = "c7i.48xlarge" }
  gcp-workers = { provider = "gcp", zone = "us-central1-a", count = 48, machine_type = "c3-standard-176" }
}
