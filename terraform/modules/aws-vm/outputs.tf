output "instances" {
  description = "name, ipv6 (the VM's address) and ipv6_prefix (routed to it) of each instance."
  value = [for i, nic in aws_network_interface.this : {
    name        = "${var.name}-${i}"
    ipv6        = tolist(nic.ipv6_address_list)[0]
    ipv6_prefix = tolist(nic.ipv6_prefixes)[0]
    id          = aws_instance.this[i].id
  }]
}
