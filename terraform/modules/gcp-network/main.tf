# A custom-mode VPC with one IPv6-only subnet whose VMs get external IPv6
# (a /96 each, gcp-vm), and a firewall rule admitting the cluster's traffic.
terraform {
  required_providers {
    google = { source = "hashicorp/google", version = ">= 6.20" }
  }
}

resource "google_compute_network" "this" {
  name                    = var.name
  auto_create_subnetworks = false
}

resource "google_compute_subnetwork" "this" {
  name             = var.name
  network          = google_compute_network.this.id
  region           = var.region
  stack_type       = "IPV6_ONLY"
  ipv6_access_type = "EXTERNAL"
}

resource "google_compute_firewall" "ingress" {
  name          = "${var.name}-ingress"
  network       = google_compute_network.this.id
  direction     = "INGRESS"
  source_ranges = var.allowed_ipv6_cidrs
  allow {
    protocol = "all"
  }
}
