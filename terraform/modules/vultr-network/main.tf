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

# TCP and UDP from each allowed range.
resource "vultr_firewall_rule" "ipv6" {
  for_each = { for pair in setproduct(var.allowed_ipv6_cidrs, ["tcp", "udp"]) : "${pair[1]} ${pair[0]}" => {
    cidr     = pair[0]
    protocol = pair[1]
  } }
  firewall_group_id = vultr_firewall_group.this.id
  protocol          = each.value.protocol
  ip_type           = "v6"
  subnet            = split("/", each.value.cidr)[0]
  subnet_size       = tonumber(split("/", each.value.cidr)[1])
  port              = "1:65535"
}

resource "vultr_firewall_rule" "icmp" {
  firewall_group_id = vultr_firewall_group.this.id
  protocol          = "icmp"
  ip_type           = "v6"
  subnet            = "::"
  subnet_size       = 0
}
