output "names" {
  description = "Fully qualified name of each record."
  value       = { for k, r in aws_route53_record.this : k => r.fqdn }
}
