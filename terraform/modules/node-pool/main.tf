# A pool of identical VMs on the cloud the pool names: one shape for every
# provider, so a cluster can mix clouds pool by pool. Only the module of the
# pool's provider gets instances.
locals {
  n = { for p in ["aws", "gcp", "vultr"] : p => var.pool.provider == p ? var.pool.count : 0 }
}

module "aws" {
  source         = "../aws-vm"
  count          = local.n.aws > 0 ? 1 : 0
  name           = var.name
  instance_count = local.n.aws
  zone           = var.pool.zone
  machine_type   = var.pool.machine_type
  disk_gb        = var.pool.disk_gb
  image          = var.pool.image
  arch           = var.pool.arch
  network        = var.networks["aws"]
  user_data      = var.user_data
}

module "gcp" {
  source         = "../gcp-vm"
  count          = local.n.gcp > 0 ? 1 : 0
  name           = var.name
  instance_count = local.n.gcp
  zone           = var.pool.zone
  machine_type   = var.pool.machine_type
  disk_gb        = var.pool.disk_gb
  image          = var.pool.image
  arch           = var.pool.arch
  network        = var.networks["gcp"]
  user_data      = var.user_data
}

module "vultr" {
  source         = "../vultr-vm"
  count          = local.n.vultr > 0 ? 1 : 0
  name           = var.name
  instance_count = local.n.vultr
  zone           = var.pool.zone
  machine_type   = var.pool.machine_type
  disk_gb        = var.pool.disk_gb
  image          = var.pool.image
  network        = var.networks["vultr"]
  user_data      = var.user_data
}
