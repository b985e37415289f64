output "instances" {
  description = "name, ipv6 (the VM's address) and ipv6_prefix (routed to it) of each instance, and ipv4 when it has one."
  value = [for vm in vultr_instance.this : {
    name        = vm.label
    ipv6        = vm.v6_main_ip
    ipv6_prefix = "${vm.v6_network}/${vm.v6_network_size}"
    id          = vm.id
  }]
}

output "ipv4" {
  description = "Public IPv4 address of each instance (empty without public_ipv4)."
  value       = [for vm in vultr_instance.this : vm.main_ip]
}
