# AAAA records in the Route53 zone of the cluster's domain. Several addresses
# under one name (the apiservers) are answered round-robin.
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.60" }
  }
}

resource "aws_route53_record" "this" {
  for_each = var.records
  zone_id  = var.zone_id
  name     = "${each.key}.${var.domain}"
  type     = "AAAA"
  ttl      = var.ttl
  records  = each.value
}
