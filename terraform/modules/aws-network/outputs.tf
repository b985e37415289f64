output "network" {
  description = "What aws-vm needs (the shape every *-network module outputs)."
  value = {
    provider          = "aws"
    subnet_id         = aws_subnet.this.id
    security_group_id = aws_security_group.this.id
    subnetwork        = ""
    firewall_group_id = ""
  }
}
