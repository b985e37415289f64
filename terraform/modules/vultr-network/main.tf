# Vultr gives every instance a public /64 of its own; the "network" is the
# firewall group the instances join.
terraform {
  required_providers {
    vultr = { source = "vultr/vultr", version = ">= 2.21" }
  }
}

resource "vultr_firewall_group" "this" {
  description = var.name
}

resource "vultr_firewall_rule" "ipv6" {
  for_each          = { for c in var.allowed_ipv6_cidrs : c => c }
  firewall_group_id = vultr_firewall_group.this.id
  protocol          = "tcp"
  ip_type           = "v6"
  subnet            = split("/", each.value)[0]
  subnet_size       = tonumber(split("/", each.value)[1])
  port              = "1:65535"
}

resource "vultr_firewall_rule" "ipv6_udp" {
  for_each          = { for c in var.allowed_ipv6_cidrs : c => c }
  firewall_group_id = vultr_firewall_group.this.id
  protocol          = "udp"
  ip_type           = "v6"
  subnet            = split("/", each.value)[0]
  subnet_size       = tonumber(split("/", each.value)[1])
  port              = "1:65535"
}

resource "vultr_firewall_rule" "icmp" {
  firewall_group_id = vultr_firewall_group.this.id
  protocol          = "icmp"
  ip_type           = "v6"
  subnet            = "::"
  subnet_size       = 0
}
