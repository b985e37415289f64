output "ca_pem" {
  description = "The CA certificate."
  value       = tls_self_signed_cert.ca.cert_pem
}

output "ca_key_pem" {
  description = "The CA key (k3s signs its own certificates with its CAs' keys)."
  value       = tls_private_key.ca.private_key_pem
  sensitive   = true
}

output "certs" {
  description = "name => cert_pem, key_pem."
  value = { for k, c in tls_locally_signed_cert.cert : k => {
    cert_pem = c.cert_pem
    key_pem  = tls_private_key.cert[k].private_key_pem
  } }
  sensitive = true
}
