output "network" {
  description = "What gcp-vm needs (the shape every *-network module outputs)."
  value = {
    provider          = "gcp"
    subnet_id         = ""
    security_group_id = ""
    subnetwork        = google_compute_subnetwork.this.self_link
    firewall_group_id = ""
  }
}
