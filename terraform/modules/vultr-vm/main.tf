# Vultr instances: each has a public /64 of its own, routed to it, from which
# pods take addresses. IPv4 only when asked (the WireGuard gateway).
terraform {
  required_providers {
    vultr = { source = "vultr/vultr", version = ">= 2.21" }
  }
}

resource "vultr_instance" "this" {
  count               = var.instance_count
  label               = "${var.name}-${count.index}"
  hostname            = "${var.name}-${count.index}"
  region              = var.zone
  plan                = var.machine_type
  os_id               = var.image != "" ? tonumber(var.image) : 2284
  enable_ipv6         = true
  disable_public_ipv4 = !var.public_ipv4
  firewall_group_id   = var.network.firewall_group_id
  user_data           = var.user_data
}
