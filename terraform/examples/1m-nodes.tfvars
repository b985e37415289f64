# 1,000,000 kwok nodes: 100 kwok controllers, 24 standalone apiservers, 256
# scheduling members (~3,900 nodes each, ~400 MB of node state) and 17 relays
# (fanout 16: 256 / 16 + 1). Pools on AWS and GCP. The tree and apiserver
# counts are the scale model's to change.
node_count                = 1000000
nodes_per_kwok_controller = 10000
kwok_controllers          = 100
kube_apiserver_count      = 24
distscheduler_replicas    = 256
relay_replicas            = 17
tree_fanout               = 16
scheduler_parallelism     = 4
distscheduler_resources   = { cpu = "2", memory = "3Gi", relay_cpu = "2", relay_memory = "2Gi" }

kube_apiserver_flags = {
  "max-requests-inflight"          = "8000"
  "max-mutating-requests-inflight" = "4000"
  "default-watch-cache-size"       = "10000"
}

kubelet_flags = {
  "max-pods" = "250"
}

stores = {
  main   = { resources = [], wal_default = "fsync", vm = { provider = "aws", zone = "us-east-1a", machine_type = "r7i.8xlarge", disk_gb = 500 } }
  pods   = { resources = ["/pods"], wal_default = "buffered", vm = { provider = "aws", zone = "us-east-1a", machine_type = "r7i.8xlarge", disk_gb = 500 } }
  leases = { resources = ["coordination.k8s.io/leases"], wal_default = "none", vm = { provider = "aws", zone = "us-east-1a", machine_type = "c7i.8xlarge" } }
  events = { resources = ["/events"], wal_default = "none", vm = { provider = "aws", zone = "us-east-1a", machine_type = "c7i.4xlarge" } }
}

control_plane_vm = { provider = "aws", zone = "us-east-1a", machine_type = "c7i.16xlarge" }
observability_vm = { provider = "aws", zone = "us-east-1a", machine_type = "m7i.4xlarge", disk_gb = 2000 }

node_pools = {
  aws-workers = { provider = "aws", zone = "us-east-1a", count = 20, machine_type = "c7i.16xlarge" }
  gcp-workers = { provider = "gcp", zone = "us-central1-a", count = 12, machine_type = "c3-standard-88" }
}
