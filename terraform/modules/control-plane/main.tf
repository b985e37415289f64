# The control plane: one k3s server with most of its components off (no
# scheduler: distscheduler schedules; no agent, traefik, servicelb,
# local-storage, metrics-server or network policy controller; no flannel:
# pods use each VM's routed IPv6 prefix) plus kube_apiserver_count standalone
# kube-apiservers, all stateless and pointed at the memetcd stores. The store
# is split by resource with --etcd-servers-overrides. The k3s agents of the
# node pools join through k3s.<domain>; clients use api.<domain>, which
# resolves to every apiserver.
terraform {
  required_providers {
    tls    = { source = "hashicorp/tls", version = ">= 4.0" }
    random = { source = "hashicorp/random", version = ">= 3.5" }
  }
}

locals {
  # group/resource#url;url,... as kube-apiserver wants it ("" is the core group).
  overrides = join(",", [for resource, url in var.store_overrides : "${resource}#${url}"])

  # Flags both the k3s server's embedded apiserver and the standalone ones get.
  shared_apiserver_flags = merge(
    var.store_overrides == {} ? {} : { "etcd-servers-overrides" = local.overrides },
    var.apiserver_flags,
  )

  k3s_args = concat([
    "server",
    "--datastore-endpoint=${var.store_url}",
    "--datastore-cafile=/etc/k8s1m/store-ca.crt",
    "--datastore-certfile=/etc/k8s1m/store-client.crt",
    "--datastore-keyfile=/etc/k8s1m/store-client.key",
    "--token-file=/etc/k8s1m/k3s-token",
    "--tls-san=k3s.${var.domain}",
    "--tls-san=api.${var.domain}",
    "--disable-agent",
    "--disable-scheduler",
    "--disable-cloud-controller",
    "--disable-network-policy",
    "--disable=traefik,servicelb,local-storage,metrics-server",
    "--flannel-backend=none",
    "--egress-selector-mode=disabled",
    "--cluster-cidr=${var.cluster_cidr}",
    "--service-cidr=${var.service_cidr}",
    "--node-ip=$${NODE_IP}",
    ],
    [for k, v in local.shared_apiserver_flags : "--kube-apiserver-arg=${k}=${v}"],
  )

  apiserver_args = concat([
    "--etcd-servers=${var.store_url}",
    "--etcd-cafile=/etc/k8s1m/store-ca.crt",
    "--etcd-certfile=/etc/k8s1m/store-client.crt",
    "--etcd-keyfile=/etc/k8s1m/store-client.key",
    "--bind-address=::",
    "--secure-port=6443",
    "--advertise-address=$${NODE_IP}",
    "--tls-cert-file=/etc/k8s1m/apiserver.crt",
    "--tls-private-key-file=/etc/k8s1m/apiserver.key",
    "--client-ca-file=/etc/k8s1m/client-ca.crt",
    "--requestheader-client-ca-file=/etc/k8s1m/request-header-ca.crt",
    "--kubelet-client-certificate=/etc/k8s1m/kubelet-client.crt",
    "--kubelet-client-key=/etc/k8s1m/kubelet-client.key",
    "--service-account-key-file=/etc/k8s1m/service-account.key",
    "--service-account-signing-key-file=/etc/k8s1m/service-account.key",
    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
    "--service-cluster-ip-range=${var.service_cidr}",
    "--authorization-mode=Node,RBAC",
    "--enable-admission-plugins=NodeRestriction",
    "--profiling=false",
    ],
    [for k, v in local.shared_apiserver_flags : "--${k}=${v}"],
  )

  store_files = [
    { path = "/etc/k8s1m/store-ca.crt", content = var.store_tls.ca_pem, permissions = "0644" },
    { path = "/etc/k8s1m/store-client.crt", content = var.store_tls.cert_pem, permissions = "0644" },
    { path = "/etc/k8s1m/store-client.key", content = var.store_tls.key_pem, permissions = "0600" },
  ]

  # NODE_IP: the VM's global IPv6 address, known only at boot.
  node_env = "echo NODE_IP=$(ip -6 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -n1) > /etc/k8s1m/node.env"

  k3s_tls = "/var/lib/rancher/k3s/server/tls"

  agent_args = concat([
    "agent",
    "--server=https://k3s.${var.domain}:6443",
    "--token-file=/etc/k8s1m/k3s-token",
    "--node-ip=$${NODE_IP}",
  ], [for k, v in var.kubelet_flags : "--kubelet-arg=${k}=${v}"])
}

module "k3s_server_init" {
  source          = "../cloud-init"
  ssh_public_keys = var.ssh_public_keys
  gateway         = var.gateway
  files = concat(local.store_files, [
    { path = "/etc/k8s1m/k3s-token", content = random_password.k3s_token.result, permissions = "0600" },
    { path = "${local.k3s_tls}/server-ca.crt", content = module.server_ca.ca_pem, permissions = "0644" },
    { path = "${local.k3s_tls}/server-ca.key", content = module.server_ca.ca_key_pem, permissions = "0600" },
    { path = "${local.k3s_tls}/client-ca.crt", content = module.client_ca.ca_pem, permissions = "0644" },
    { path = "${local.k3s_tls}/client-ca.key", content = module.client_ca.ca_key_pem, permissions = "0600" },
    { path = "${local.k3s_tls}/request-header-ca.crt", content = module.request_header_ca.ca_pem, permissions = "0644" },
    { path = "${local.k3s_tls}/request-header-ca.key", content = module.request_header_ca.ca_key_pem, permissions = "0600" },
    { path = "${local.k3s_tls}/service.key", content = tls_private_key.service_account.private_key_pem, permissions = "0600" },
  ])
  commands = [
    local.node_env,
    "k8s1m-fetch ${var.k3s_url} /usr/local/bin/k3s",
  ]
  services = {
    k3s = { description = "k3s server (k8s1m control plane)", exec_start = "/usr/local/bin/k3s ${join(" ", local.k3s_args)}", environment_file = "/etc/k8s1m/node.env" }
  }
}

module "apiserver_init" {
  source          = "../cloud-init"
  ssh_public_keys = var.ssh_public_keys
  gateway         = var.gateway
  files = concat(local.store_files, [
    { path = "/etc/k8s1m/apiserver.crt", content = module.server_ca.certs["apiserver"].cert_pem, permissions = "0644" },
    { path = "/etc/k8s1m/apiserver.key", content = module.server_ca.certs["apiserver"].key_pem, permissions = "0600" },
    { path = "/etc/k8s1m/client-ca.crt", content = module.client_ca.ca_pem, permissions = "0644" },
    { path = "/etc/k8s1m/request-header-ca.crt", content = module.request_header_ca.ca_pem, permissions = "0644" },
    { path = "/etc/k8s1m/kubelet-client.crt", content = module.client_ca.certs["kubelet_client"].cert_pem, permissions = "0644" },
    { path = "/etc/k8s1m/kubelet-client.key", content = module.client_ca.certs["kubelet_client"].key_pem, permissions = "0600" },
    { path = "/etc/k8s1m/service-account.key", content = tls_private_key.service_account.private_key_pem, permissions = "0600" },
  ])
  commands = [
    local.node_env,
    "k8s1m-fetch ${var.kube_apiserver_url} /usr/local/bin/kube-apiserver",
  ]
  services = {
    kube-apiserver = { description = "kube-apiserver (k8s1m, on memetcd)", exec_start = "/usr/local/bin/kube-apiserver ${join(" ", local.apiserver_args)}", environment_file = "/etc/k8s1m/node.env" }
  }
}

# Node pool VMs: k3s agents (kubelet, containerd, kube-proxy) whose pods take
# addresses from the VM's routed prefix through the bridge plugin k3s ships.
module "agent_init" {
  source          = "../cloud-init"
  ssh_public_keys = var.ssh_public_keys
  gateway         = var.gateway
  files = [
    { path = "/etc/k8s1m/k3s-token", content = random_password.k3s_token.result, permissions = "0600" },
    {
      path        = "/etc/k8s1m/cni.conflist.in"
      permissions = "0644"
      content = jsonencode({
        cniVersion = "1.0.0"
        name       = "k8s1m"
        plugins = [
          {
            type      = "bridge"
            bridge    = "cni0"
            isGateway = true
            ipMasq    = false
            ipam = {
              type   = "host-local"
              ranges = [[{ subnet = "@PREFIX@" }]]
              routes = [{ dst = "::/0" }]
            }
          },
          { type = "portmap", capabilities = { portMappings = true } },
        ]
      })
    },
  ]
  commands = [
    local.node_env,
    "mkdir -p /var/lib/rancher/k3s/agent/etc/cni/net.d",
    "sed \"s|@PREFIX@|$(k8s1m-ipv6-prefix)|\" /etc/k8s1m/cni.conflist.in > /var/lib/rancher/k3s/agent/etc/cni/net.d/10-k8s1m.conflist",
    "k8s1m-fetch ${var.k3s_url} /usr/local/bin/k3s",
  ]
  services = {
    k3s-agent = { description = "k3s agent (k8s1m node)", exec_start = "/usr/local/bin/k3s ${join(" ", local.agent_args)}", environment_file = "/etc/k8s1m/node.env" }
  }
}
