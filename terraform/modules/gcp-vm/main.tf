# IPv6-only Compute Engine instances with an external IPv6 /96 each, which
# is routed to the VM: pods take addresses from it. Ubuntu images run
# cloud-init from the user-data metadata key.
terraform {
  required_providers {
    google = { source = "hashicorp/google", version = ">= 6.20" }
  }
}

locals {
  image = var.image != "" ? var.image : "ubuntu-os-cloud/ubuntu-2404-lts-${var.arch}"
}

resource "google_compute_instance" "this" {
  count        = var.instance_count
  name         = "${var.name}-${count.index}"
  machine_type = var.machine_type
  zone         = var.zone

  boot_disk {
    initialize_params {
      image = local.image
      size  = var.disk_gb
      type  = "pd-balanced"
    }
  }

  network_interface {
    subnetwork = var.network.subnetwork
    stack_type = "IPV6_ONLY"
    ipv6_access_config {
      network_tier = "PREMIUM"
    }
  }

  metadata = {
    user-data = var.user_data
  }
}
