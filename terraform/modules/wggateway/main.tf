# The IPv6->IPv4 WireGuard gateway: wggateway serves its config API over
# HTTPS with a generated shared secret, and carries the IPv6-only VMs' IPv4
# traffic out through this VM's IPv4 address (SNAT). The VM needs a public
# IPv4 address (root module: a Vultr instance with public_ipv4).
terraform {
  required_providers {
    random = { source = "hashicorp/random", version = ">= 3.5" }
  }
}

resource "random_password" "secret" {
  length  = 48
  special = false
}

module "tls" {
  source  = "../pki"
  ca_name = "k8s1m-wggateway-ca"
  certs = {
    api = { common_name = "gw.${var.domain}", dns_names = ["gw.${var.domain}"], server = true }
  }
}

locals {
  args = concat([
    "--listen=[::]:${var.api_port}",
    "--tls-cert=/etc/wggateway/tls.crt",
    "--tls-key=/etc/wggateway/tls.key",
    "--secret-file=/etc/wggateway/secret",
    "--listen-port=${var.wireguard_port}",
    "--snat-interface=${var.snat_interface}",
    "--pool-v4=${var.pool_v4}",
    "--idle-timeout=${var.idle_timeout}",
    "--log-format=json",
  ], var.extra_args)
}

module "cloud_init" {
  source          = "../cloud-init"
  ssh_public_keys = var.ssh_public_keys
  files = [
    { path = "/etc/wggateway/secret", content = random_password.secret.result, permissions = "0600" },
    { path = "/etc/wggateway/tls.crt", content = module.tls.certs["api"].cert_pem, permissions = "0644" },
    { path = "/etc/wggateway/tls.key", content = module.tls.certs["api"].key_pem, permissions = "0600" },
  ]
  commands = [
    "mkdir -p /var/lib/wggateway",
    "echo WGGATEWAY_ENDPOINT=[$(ip -6 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -n1)]:${var.wireguard_port} > /etc/wggateway/env",
    "k8s1m-fetch ${var.binary_url} /usr/local/bin/wggateway",
  ]
  services = {
    # WGGATEWAY_ENDPOINT in the env file: this VM's IPv6 address, known only at boot.
    wggateway = { description = "k8s1m WireGuard gateway", exec_start = "/usr/local/bin/wggateway ${join(" ", local.args)}", environment_file = "/etc/wggateway/env" }
  }
}
