# 1,000,000 kwok nodes, sized by the scale model (go run
# ./tools/scalemodel/cmd/scalemodel plan --tfvars; tools/scalemodel's test
# keeps the seven size variables equal to its answer): 100 kwok controllers,
# 7 standalone apiservers on 64 cores beside k3s's own (8 in all, ~46 cores
# busy each, most on Lease renewals: members do not watch pending pods),
# 2132 scheduling members (469 nodes each, 16 cores, ~10.7 used, 8
# scheduling loops) and 143 relay-only members (fanout 16); 1M pods in ~60 s
# at F = 0.205 ms (at a cluster's rate, where the tree's messages carry
# several pods; 2026-12-07) and c = 0.93 ms per 1K shard nodes (the PGO
# build, 2026-12-06/07), bound by the leader's CPU.
# 428 pods in flight: num_concurrent_schedulers 107 (the leader keeps 4 x it;
# a member runs min(it, its cores) loops).
node_count                = 1000000
nodes_per_kwok_controller = 10000
kwok_controllers          = 100
kube_apiserver_count      = 7
distscheduler_replicas    = 2132
relay_replicas            = 143
tree_fanout               = 16
scheduler_parallelism     = 16
num_concurrent_schedulers = 107
distscheduler_resources   = { cpu = "16", memory = "10Gi", relay_cpu = "1", relay_memory = "512Mi" }

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

# 2132 members x 16 cores + 143 relays x 1 + 100 kwok x 4 cores: ~34,700 cores.
# c7i.48xlarge: 192 cores / 384 GiB holds 12 members; c3-standard-176 holds 11;
# 2,177 member slots: 45 left (720 cores) for the relays and kwok.
node_pools = {
  aws-workers = { provider = "aws", zone = "us-east-1a", count = 120, machine_type = "c7i.48xlarge" }
  gcp-workers = { provider = "gcp", zone = "us-central1-a", count = 67, machine_type = "c3-standard-176" }
}
