output "network" {
  description = "What vultr-vm needs (the shape every *-network module outputs)."
  value = {
    provider          = "vultr"
    subnet_id         = ""
    security_group_id = ""
    subnetwork        = ""
    firewall_group_id = vultr_firewall_group.this.id
  }
}
