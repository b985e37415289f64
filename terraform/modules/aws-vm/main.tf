# IPv6-only EC2 instances. Each gets its own network interface with one
# address and one delegated /80 prefix: pods on the VM take addresses from
# that prefix (routed to the VM by AWS, no overlay). IMDS answers on IPv6
# (fd00:ec2::254) because there is no IPv4 to reach it by.
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.60" }
  }
}

data "aws_ami" "ubuntu" {
  count       = var.image == "" ? 1 : 0
  most_recent = true
  owners      = ["099720109477"] # Canonical
  filter {
    name   = "name"
    values = ["ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-${var.arch}-server-*"]
  }
}

resource "aws_network_interface" "this" {
  count              = var.instance_count
  subnet_id          = var.network.subnet_id
  security_groups    = [var.network.security_group_id]
  ipv6_address_count = 1
  ipv6_prefix_count  = 1
  tags               = { Name = "${var.name}-${count.index}" }
}

resource "aws_instance" "this" {
  count            = var.instance_count
  ami              = var.image != "" ? var.image : data.aws_ami.ubuntu[0].id
  instance_type    = var.machine_type
  user_data_base64 = base64gzip(var.user_data)

  network_interface {
    network_interface_id = aws_network_interface.this[count.index].id
    device_index         = 0
  }

  metadata_options {
    http_endpoint      = "enabled"
    http_protocol_ipv6 = "enabled"
    http_tokens        = "required"
  }

  root_block_device {
    volume_size = var.disk_gb
    volume_type = "gp3"
  }

  tags = { Name = "${var.name}-${count.index}" }
}
