output "instances" {
  description = "name, ipv6 (the VM's address) and ipv6_prefix (routed to it) of each instance."
  value = [for vm in google_compute_instance.this : {
    name        = vm.name
    ipv6        = vm.network_interface[0].ipv6_access_config[0].external_ipv6
    ipv6_prefix = "${vm.network_interface[0].ipv6_access_config[0].external_ipv6}/${vm.network_interface[0].ipv6_access_config[0].external_ipv6_prefix_length}"
    id          = vm.instance_id
  }]
}
