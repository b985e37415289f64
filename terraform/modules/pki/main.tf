# A CA and the certificates it signs (ECDSA P-256). Every TLS listener of the
# deployment gets its certificate from an instance of this module, so the
# key type, validity and usages are decided once.
terraform {
  required_providers {
    tls = { source = "hashicorp/tls", version = ">= 4.0" }
  }
}

resource "tls_private_key" "ca" {
  algorithm   = "ECDSA"
  ecdsa_curve = "P256"
}

resource "tls_self_signed_cert" "ca" {
  private_key_pem       = tls_private_key.ca.private_key_pem
  is_ca_certificate     = true
  validity_period_hours = var.validity_hours
  allowed_uses          = ["cert_signing", "crl_signing", "digital_signature"]
  subject {
    common_name  = var.ca_name
    organization = "k8s1m"
  }
}

resource "tls_private_key" "cert" {
  for_each    = var.certs
  algorithm   = "ECDSA"
  ecdsa_curve = "P256"
}

resource "tls_cert_request" "cert" {
  for_each        = var.certs
  private_key_pem = tls_private_key.cert[each.key].private_key_pem
  dns_names       = each.value.dns_names
  ip_addresses    = each.value.ip_addresses
  subject {
    common_name  = each.value.common_name
    organization = each.value.organization
  }
}

resource "tls_locally_signed_cert" "cert" {
  for_each              = var.certs
  cert_request_pem      = tls_cert_request.cert[each.key].cert_request_pem
  ca_private_key_pem    = tls_private_key.ca.private_key_pem
  ca_cert_pem           = tls_self_signed_cert.ca.cert_pem
  validity_period_hours = var.validity_hours
  allowed_uses = concat(["digital_signature", "key_encipherment"],
    each.value.server ? ["server_auth"] : [],
  each.value.client ? ["client_auth"] : [])
}
