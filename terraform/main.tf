# The million-node cluster: networks on the clouds in use, the WireGuard
# gateway, the memetcd stores, the control plane (k3s server + standalone
# kube-apiservers), the node pools, the observability VM, DNS, and the
# Kubernetes manifests k3s applies. What runs where is named in versions.tf.

locals {
  machines = concat(
    [for s in values(var.stores) : s.vm],
    [var.control_plane_vm, var.observability_vm],
    values(var.node_pools),
  )
  providers_used = toset([for m in local.machines : m.provider])
  # One subnet per cloud: AWS pools share the first AWS machine's zone.
  aws_zone = try([for m in local.machines : m.zone if m.provider == "aws"][0], "")

  kwok_controllers = coalesce(var.kwok_controllers, ceil(var.node_count / var.nodes_per_kwok_controller))
}

# --- Networks -------------------------------------------------------------

module "aws_network" {
  source             = "./modules/aws-network"
  count              = contains(local.providers_used, "aws") ? 1 : 0
  name               = "k8s1m"
  zone               = local.aws_zone
  allowed_ipv6_cidrs = var.allowed_ipv6_cidrs
}

module "gcp_network" {
  source             = "./modules/gcp-network"
  count              = contains(local.providers_used, "gcp") ? 1 : 0
  name               = "k8s1m"
  region             = var.gcp_region
  allowed_ipv6_cidrs = var.allowed_ipv6_cidrs
}

# Always: the gateway is on Vultr.
module "vultr_network" {
  source             = "./modules/vultr-network"
  name               = "k8s1m"
  allowed_ipv6_cidrs = var.allowed_ipv6_cidrs
}

locals {
  networks = merge(
    { for n in module.aws_network : "aws" => n.network },
    { for n in module.gcp_network : "gcp" => n.network },
    { vultr = module.vultr_network.network },
  )
}

# --- WireGuard gateway (IPv4 egress for the IPv6-only VMs) ----------------

module "wggateway" {
  source          = "./modules/wggateway"
  domain          = var.domain
  binary_url      = local.artifacts.wggateway
  ssh_public_keys = var.ssh_public_keys
}

module "wggateway_vm" {
  source         = "./modules/vultr-vm"
  name           = "gw"
  instance_count = 1
  zone           = var.gateway_vm.region
  machine_type   = var.gateway_vm.plan
  disk_gb        = 0
  image          = ""
  public_ipv4    = true
  network        = module.vultr_network.network
  user_data      = module.wggateway.user_data
}

# --- memetcd stores -------------------------------------------------------

module "store_pki" {
  source  = "./modules/pki"
  ca_name = "k8s1m-store-ca"
  certs = merge(
    { for name, _ in var.stores : "store-${name}" => {
      common_name = "store-${name}.${var.domain}"
      dns_names   = ["store-${name}.${var.domain}"]
      server      = true
    } },
    { apiserver = { common_name = "kube-apiserver", client = true } },
  )
}

module "store" {
  source                = "./modules/memetcd"
  for_each              = var.stores
  name                  = each.key
  binary_url            = local.artifacts.memetcd
  wal_default           = each.value.wal_default
  wal_no_write_prefixes = each.value.wal_no_write_prefixes
  extra_args            = each.value.extra_args
  ssh_public_keys       = var.ssh_public_keys
  gateway               = module.wggateway.client
  tls = {
    ca_pem   = module.store_pki.ca_pem
    cert_pem = module.store_pki.certs["store-${each.key}"].cert_pem
    key_pem  = module.store_pki.certs["store-${each.key}"].key_pem
  }
}

module "store_vm" {
  source    = "./modules/node-pool"
  for_each  = var.stores
  name      = "store-${each.key}"
  pool      = merge(each.value.vm, { count = 1 })
  networks  = local.networks
  user_data = module.store[each.key].user_data
}

locals {
  store_url = { for name, _ in var.stores : name => "https://store-${name}.${var.domain}:2379" }
  store_overrides = merge([for name, s in var.stores : {
    for r in s.resources : r => local.store_url[name]
  }]...)
}

# --- Control plane --------------------------------------------------------

module "control_plane" {
  source               = "./modules/control-plane"
  domain               = var.domain
  kube_apiserver_count = var.kube_apiserver_count
  apiserver_flags      = var.kube_apiserver_flags
  kubelet_flags        = var.kubelet_flags
  store_url            = local.store_url["main"]
  store_overrides      = local.store_overrides
  store_tls = {
    ca_pem   = module.store_pki.ca_pem
    cert_pem = module.store_pki.certs["apiserver"].cert_pem
    key_pem  = module.store_pki.certs["apiserver"].key_pem
  }
  k3s_url            = local.artifacts.k3s
  kube_apiserver_url = local.artifacts.kube_apiserver
  ssh_public_keys    = var.ssh_public_keys
  gateway            = module.wggateway.client
}

module "k3s_vm" {
  source    = "./modules/node-pool"
  name      = "k3s"
  pool      = merge(var.control_plane_vm, { count = 1 })
  networks  = local.networks
  user_data = module.control_plane.k3s_server_user_data
}

module "apiserver_vms" {
  source    = "./modules/node-pool"
  name      = "apiserver"
  pool      = merge(var.control_plane_vm, { count = var.kube_apiserver_count })
  networks  = local.networks
  user_data = module.control_plane.apiserver_user_data
}

# --- Node pools (real kubelets) -------------------------------------------

module "pool" {
  source    = "./modules/node-pool"
  for_each  = var.node_pools
  name      = each.key
  pool      = each.value
  networks  = local.networks
  user_data = module.control_plane.agent_user_data
}

# --- Observability --------------------------------------------------------

module "observability" {
  source                = "./modules/observability"
  domain                = var.domain
  binary_urls           = { "victoria-metrics" = local.artifacts.victoriametrics, "victoria-logs" = local.artifacts.victorialogs, parca = local.artifacts.parca }
  store_metrics_targets = [for name, _ in var.stores : "store-${name}.${var.domain}:9000"]
  apiserver_targets     = concat(["k3s.${var.domain}:6443"], [for i in range(var.kube_apiserver_count) : "apiserver-${i}.${var.domain}:6443"])
  apiserver_scrape = {
    ca_pem   = module.control_plane.ca_pem
    cert_pem = module.control_plane.metrics_client.cert_pem
    key_pem  = module.control_plane.metrics_client.key_pem
  }
  wggateway_target = "gw.${var.domain}:8443"
  wggateway_ca_pem = nonsensitive(module.wggateway.client.ca_pem)
  ssh_public_keys  = var.ssh_public_keys
  gateway          = module.wggateway.client
}

module "observability_vm" {
  source    = "./modules/node-pool"
  name      = "obs"
  pool      = merge(var.observability_vm, { count = 1 })
  networks  = local.networks
  user_data = module.observability.user_data
}

# --- DNS ------------------------------------------------------------------

module "dns" {
  source  = "./modules/dns"
  zone_id = var.route53_zone_id
  domain  = var.domain
  records = merge(
    {
      "k3s"         = [module.k3s_vm.instances[0].ipv6]
      "api"         = concat([module.k3s_vm.instances[0].ipv6], [for vm in module.apiserver_vms.instances : vm.ipv6])
      "gw"          = [module.wggateway_vm.instances[0].ipv6]
      "obs"         = [module.observability_vm.instances[0].ipv6]
      "metrics.obs" = [module.observability_vm.instances[0].ipv6]
      "logs.obs"    = [module.observability_vm.instances[0].ipv6]
    },
    { for i, vm in module.apiserver_vms.instances : "apiserver-${i}" => [vm.ipv6] },
    { for name, vm in module.store_vm : "store-${name}" => [vm.instances[0].ipv6] },
  )
}
