# 100,000 kwok nodes, after the scale model (scalemodel plan --nodes 100000
# --pods 100000: 14 members, no relay-only member, one apiserver at 58% of
# 64 cores, 58 s for 100,000 pods): 10 kwok controllers, one standalone
# apiserver beside k3s's, 14 scheduling members of ~7,100 nodes. Control
# plane and stores on AWS, workers on GCP: a multi-cloud cluster.
node_count                = 100000
nodes_per_kwok_controller = 10000
kwok_controllers          = 10
kube_apiserver_count      = 1
distscheduler_replicas    = 14
relay_replicas            = 0
scheduler_parallelism     = 12
num_concurrent_schedulers = 8
distscheduler_resources   = { cpu = "12", memory = "2Gi" }

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

control_plane_vm = { provider = "aws", zone = "us-east-1a", machine_type = "c7i.16xlarge" }
observability_vm = { provider = "aws", zone = "us-east-1a", machine_type = "m7i.xlarge", disk_gb = 500 }

node_pools = {
  # 14 members x 12 cores + 10 kwok x 4 cores: three members per machine.
  workers = { provider = "gcp", zone = "us-central1-a", count = 6, machine_type = "c3-standard-44" }
}
