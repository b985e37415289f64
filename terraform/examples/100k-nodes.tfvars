# 100,000 kwok nodes: 10 kwok controllers, 4 standalone apiservers, 32
# scheduling members (~3,100 nodes each) and 3 relays. Control plane and
# stores on AWS, workers on GCP: a multi-cloud cluster.
node_count                = 100000
nodes_per_kwok_controller = 10000
kwok_controllers          = 10
kube_apiserver_count      = 4
distscheduler_replicas    = 32
relay_replicas            = 3
scheduler_parallelism     = 4
distscheduler_resources   = { cpu = "2", memory = "2Gi" }

kube_apiserver_flags = {
  "max-requests-inflight"          = "2000"
  "max-mutating-requests-inflight" = "1000"
}

stores = {
  main   = { resources = [], wal_default = "fsync", vm = { provider = "aws", zone = "us-east-1a", machine_type = "r7i.xlarge" } }
  pods   = { resources = ["/pods"], wal_default = "buffered", vm = { provider = "aws", zone = "us-east-1a", machine_type = "r7i.xlarge" } }
  leases = { resources = ["coordination.k8s.io/leases"], wal_default = "none", vm = { provider = "aws", zone = "us-east-1a", machine_type = "c7i.xlarge" } }
  events = { resources = ["/events"], wal_default = "none", vm = { provider = "aws", zone = "us-east-1a", machine_type = "c7i.large" } }
}

control_plane_vm = { provider = "aws", zone = "us-east-1a", machine_type = "c7i.4xlarge" }
observability_vm = { provider = "aws", zone = "us-east-1a", machine_type = "m7i.xlarge", disk_gb = 500 }

node_pools = {
  workers = { provider = "gcp", zone = "us-central1-a", count = 12, machine_type = "c3-standard-8" }
}
