# The observability VM, outside the cluster so that it sees the cluster's
# trouble instead of sharing it: VictoriaMetrics (scrapes the stores, the
# apiservers and the gateway; the in-cluster vmagent pushes the rest),
# VictoriaLogs (the in-cluster fluent-bit pushes logs), Parca (profiles).
# VictoriaMetrics and VictoriaLogs serve HTTPS with basic auth (user "u", a
# generated password); Parca has no authentication of its own and listens
# only on localhost: reach it through an SSH tunnel.
terraform {
  required_providers {
    random = { source = "hashicorp/random", version = ">= 3.5" }
  }
}

resource "random_password" "basic_auth" {
  length  = 32
  special = false
}

module "tls" {
  source  = "../pki"
  ca_name = "k8s1m-observability-ca"
  certs = {
    web = {
      common_name = "obs.${var.domain}"
      dns_names   = ["obs.${var.domain}", "metrics.obs.${var.domain}", "logs.obs.${var.domain}"]
      server      = true
    }
  }
}

locals {
  auth = "-httpAuth.username=u -httpAuth.password=file:///etc/k8s1m-obs/password"
  tls  = "-tls -tlsCertFile=/etc/k8s1m-obs/tls.crt -tlsKeyFile=/etc/k8s1m-obs/tls.key"

  scrape = {
    global = { scrape_interval = "15s" }
    scrape_configs = [
      {
        job_name       = "memetcd"
        static_configs = [{ targets = var.store_metrics_targets }]
      },
      {
        job_name       = "kube-apiserver"
        scheme         = "https"
        tls_config     = { ca_file = "/etc/k8s1m-obs/apiserver-ca.crt", cert_file = "/etc/k8s1m-obs/apiserver-client.crt", key_file = "/etc/k8s1m-obs/apiserver-client.key" }
        static_configs = [{ targets = var.apiserver_targets }]
      },
      {
        job_name       = "wggateway"
        scheme         = "https"
        tls_config     = { ca_file = "/etc/k8s1m-obs/wggateway-ca.crt" }
        static_configs = [{ targets = [var.wggateway_target] }]
      },
    ]
  }

  units = {
    victoriametrics = "/usr/local/bin/victoria-metrics -storageDataPath=/var/lib/victoria-metrics -retentionPeriod=${var.retention} -httpListenAddr=[::]:8428 -promscrape.config=/etc/k8s1m-obs/scrape.yaml ${local.auth} ${local.tls}"
    victorialogs    = "/usr/local/bin/victoria-logs -storageDataPath=/var/lib/victoria-logs -retentionPeriod=${var.retention} -httpListenAddr=[::]:9428 ${local.auth} ${local.tls}"
    parca           = "/usr/local/bin/parca --config-path=/etc/k8s1m-obs/parca.yaml --http-address=[::1]:7070 --storage-active-memory=4294967296"
  }
}

module "cloud_init" {
  source          = "../cloud-init"
  ssh_public_keys = var.ssh_public_keys
  gateway         = var.gateway
  files = [
    { path = "/etc/k8s1m-obs/password", content = random_password.basic_auth.result, permissions = "0600" },
    { path = "/etc/k8s1m-obs/tls.crt", content = module.tls.certs["web"].cert_pem, permissions = "0644" },
    { path = "/etc/k8s1m-obs/tls.key", content = module.tls.certs["web"].key_pem, permissions = "0600" },
    { path = "/etc/k8s1m-obs/apiserver-ca.crt", content = var.apiserver_scrape.ca_pem, permissions = "0644" },
    { path = "/etc/k8s1m-obs/apiserver-client.crt", content = var.apiserver_scrape.cert_pem, permissions = "0644" },
    { path = "/etc/k8s1m-obs/apiserver-client.key", content = var.apiserver_scrape.key_pem, permissions = "0600" },
    { path = "/etc/k8s1m-obs/wggateway-ca.crt", content = var.wggateway_ca_pem, permissions = "0644" },
    { path = "/etc/k8s1m-obs/scrape.yaml", content = yamlencode(local.scrape), permissions = "0644" },
    { path = "/etc/k8s1m-obs/parca.yaml", content = yamlencode({ object_storage = { bucket = { type = "FILESYSTEM", config = { directory = "/var/lib/parca" } } } }), permissions = "0644" },
  ]
  commands = concat(
    ["mkdir -p /var/lib/victoria-metrics /var/lib/victoria-logs /var/lib/parca"],
    [for name, url in var.binary_urls : "k8s1m-fetch ${url} /usr/local/bin/${name}"],
  )
  services = { for name, cmd in local.units : name => { description = "${name} (k8s1m observability)", exec_start = cmd } }
}
