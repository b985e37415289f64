terraform {
  required_version = ">= 1.6"
  required_providers {
    aws    = { source = "hashicorp/aws", version = ">= 5.60" }
    google = { source = "hashicorp/google", version = ">= 6.20" }
    vultr  = { source = "vultr/vultr", version = ">= 2.21" }
    tls    = { source = "hashicorp/tls", version = ">= 4.0" }
    random = { source = "hashicorp/random", version = ">= 3.6" }
  }
}

# Route53 (DNS) always; EC2 when a pool is on AWS.
provider "aws" {
  region     = var.aws_region
  access_key = var.aws_access_key
  secret_key = var.aws_secret_key
}

# Only used when a pool is on GCP; terraform configures it either way.
provider "google" {
  project     = var.gcp_project
  region      = var.gcp_region
  credentials = var.gcp_credentials_file == "" ? null : file(var.gcp_credentials_file)
}

# The WireGuard gateway runs on Vultr (generous egress); pools may too.
provider "vultr" {
  api_key = var.vultr_api_key
}
