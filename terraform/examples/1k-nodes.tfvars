# 1,000 kwok nodes: the smallest cluster with every part (split store, a
# standalone apiserver, a two-member tree). Everything on Vultr.
node_count                = 1000
nodes_per_kwok_controller = 1000
kwok_controllers          = 1
kube_apiserver_count      = 1
distscheduler_replicas    = 2
relay_replicas            = 0
scheduler_parallelism     = 2
distscheduler_resources   = { cpu = "1", memory = "1Gi" }

stores = {
  main   = { resources = [], wal_default = "fsync", vm = { provider = "vultr", zone = "lax", machine_type = "vc2-2c-4gb" } }
  pods   = { resources = ["/pods"], wal_default = "buffered", vm = { provider = "vultr", zone = "lax", machine_type = "vc2-2c-4gb" } }
  leases = { resources = ["coordination.k8s.io/leases"], wal_default = "none", vm = { provider = "vultr", zone = "lax", machine_type = "vc2-1c-2gb" } }
  events = { resources = ["/events"], wal_default = "none", vm = { provider = "vultr", zone = "lax", machine_type = "vc2-1c-2gb" } }
}

control_plane_vm = { provider = "vultr", zone = "lax", machine_type = "vc2-4c-8gb" }
observability_vm = { provider = "vultr", zone = "lax", machine_type = "vc2-2c-4gb", disk_gb = 80 }

node_pools = {
  workers = { provider = "vultr", zone = "lax", count = 2, machine_type = "vc2-4c-8gb" }
}
