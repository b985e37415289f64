# What runs inside the cluster. The manifests are rendered by a module with no
# providers (so the checks in check/ render them with OpenTofu and give them
# to a real kube-apiserver), then copied into k3s's server/manifests
# directory, which k3s applies and keeps applied: no Kubernetes provider
# whose configuration would depend on a cluster that does not exist yet at
# plan time.

resource "random_bytes" "gossip_key" {
  length = 32
}

module "tree_pki" {
  source  = "./modules/pki"
  ca_name = "k8s1m-tree-ca"
  certs = {
    member = {
      common_name = "dist-scheduler.k8s1m.svc"
      dns_names   = ["dist-scheduler.k8s1m.svc", "dist-scheduler.k8s1m.svc.cluster.local", "*.dist-scheduler.k8s1m.svc.cluster.local"]
      server      = true
      client      = true
    }
  }
}

module "manifests" {
  source           = "./modules/k8s-manifests"
  images           = local.images
  scheduler_config = file("${path.module}/../distscheduler/examples/scheduler-config.yaml")
  kwok_manifest    = file("${path.module}/../makenodes/deploy/kwok.yaml")
  kwok_controllers = local.kwok_controllers
  gossip_key       = random_bytes.gossip_key.base64
  distscheduler = merge(var.distscheduler_resources, {
    replicas                  = var.distscheduler_replicas
    relay_replicas            = var.relay_replicas
    fanout                    = var.tree_fanout
    parallelism               = var.scheduler_parallelism
    num_concurrent_schedulers = var.num_concurrent_schedulers
  })
  tree_tls_flags = var.tree_tls_flags
  tree_tls = {
    ca_pem   = module.tree_pki.ca_pem
    cert_pem = module.tree_pki.certs["member"].cert_pem
    key_pem  = module.tree_pki.certs["member"].key_pem
  }
  observability = {
    metrics_url = module.observability.urls.victoriametrics
    logs_url    = module.observability.urls.victorialogs
    password    = module.observability.password
    ca_pem      = module.observability.ca_pem
  }
}

# Each manifest file goes to the k3s server over SSH (the operator's agent
# holds a key listed in ssh_public_keys) once k3s has made its directory.
resource "terraform_data" "manifest" {
  for_each         = toset(nonsensitive(keys(module.manifests.manifests)))
  triggers_replace = [module.k3s_vm.instances[0].id, sha256(module.manifests.manifests[each.key])]

  connection {
    type    = "ssh"
    host    = module.k3s_vm.instances[0].ipv6
    user    = "k8s1m"
    agent   = true
    timeout = "15m"
  }

  provisioner "file" {
    content     = module.manifests.manifests[each.key]
    destination = "/tmp/${each.key}"
  }

  provisioner "remote-exec" {
    inline = [
      "until [ -d /var/lib/rancher/k3s/server/manifests ]; do sleep 5; done",
      "sudo install -m 0600 /tmp/${each.key} /var/lib/rancher/k3s/server/manifests/${each.key}",
      "rm -f /tmp/${each.key}",
    ]
  }
}
