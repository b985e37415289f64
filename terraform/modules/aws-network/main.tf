# An IPv6-only subnet in a dual-stack VPC (AWS requires an IPv4 CIDR on the
# VPC itself), a route to the internet for ::/0, and a security group that
# admits the cluster's traffic. Instances get a delegated /80 prefix each
# (aws-vm) from the subnet's /64.
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.60" }
  }
}

resource "aws_vpc" "this" {
  cidr_block                       = "10.255.0.0/16"
  assign_generated_ipv6_cidr_block = true
  enable_dns_support               = true
  enable_dns_hostnames             = true
  tags                             = { Name = var.name }
}

resource "aws_subnet" "this" {
  vpc_id                                         = aws_vpc.this.id
  availability_zone                              = var.zone
  ipv6_native                                    = true
  ipv6_cidr_block                                = cidrsubnet(aws_vpc.this.ipv6_cidr_block, 8, 0)
  assign_ipv6_address_on_creation                = true
  enable_resource_name_dns_aaaa_record_on_launch = true
  tags                                           = { Name = var.name }
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = var.name }
}

resource "aws_route_table" "this" {
  vpc_id = aws_vpc.this.id
  route {
    ipv6_cidr_block = "::/0"
    gateway_id      = aws_internet_gateway.this.id
  }
  tags = { Name = var.name }
}

resource "aws_route_table_association" "this" {
  subnet_id      = aws_subnet.this.id
  route_table_id = aws_route_table.this.id
}

resource "aws_security_group" "this" {
  name   = var.name
  vpc_id = aws_vpc.this.id

  ingress {
    description      = "cluster traffic (pools on other clouds reach this one over the internet)"
    protocol         = "-1"
    from_port        = 0
    to_port          = 0
    ipv6_cidr_blocks = var.allowed_ipv6_cidrs
  }
  egress {
    protocol         = "-1"
    from_port        = 0
    to_port          = 0
    ipv6_cidr_blocks = ["::/0"]
  }
}
