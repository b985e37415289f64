# The cluster's CAs, made here rather than by k3s so that the standalone
# kube-apiservers and k3s share them: k3s uses CA files it finds in its tls
# directory at first start instead of generating its own.
module "server_ca" {
  source  = "../pki"
  ca_name = "k8s1m-server-ca"
  certs = {
    apiserver = {
      common_name = "kube-apiserver"
      dns_names = concat(
        ["api.${var.domain}", "k3s.${var.domain}", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"],
        [for i in range(var.kube_apiserver_count) : "apiserver-${i}.${var.domain}"],
      )
      ip_addresses = [cidrhost(var.service_cidr, 1)]
      server       = true
    }
  }
}

module "client_ca" {
  source  = "../pki"
  ca_name = "k8s1m-client-ca"
  certs = {
    # The apiservers' client certificate towards kubelets (logs, exec).
    kubelet_client = { common_name = "system:kube-apiserver", organization = "system:masters", client = true }
    admin          = { common_name = "k8s1m-admin", organization = "system:masters", client = true }
    # What VictoriaMetrics scrapes the apiservers' /metrics with (RBAC: kubernetes manifests).
    metrics = { common_name = "k8s1m-metrics-scraper", organization = "k8s1m:metrics", client = true }
  }
}

module "request_header_ca" {
  source  = "../pki"
  ca_name = "k8s1m-request-header-ca"
}

resource "tls_private_key" "service_account" {
  algorithm = "RSA"
  rsa_bits  = 2048
}

resource "random_password" "k3s_token" {
  length  = 48
  special = false
}
