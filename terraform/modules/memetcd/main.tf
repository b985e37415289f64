# One memetcd store on its own VM: the released binary under systemd, TLS
# with client certificates (only the apiservers hold one), and the store's
# WAL mode. The kube-apiservers split resources over several such stores with
# --etcd-servers-overrides (control-plane), so each store's WAL mode fits what
# it holds: none for leases and events, which the cluster recreates.
locals {
  args = concat([
    "--listen-address=::",
    "--port=${var.port}",
    "--metrics-port=${var.metrics_port}",
    "--wal-dir=/var/lib/memetcd/wal",
    "--wal-default=${var.wal_default}",
    "--cert-file=/etc/memetcd/tls.crt",
    "--key-file=/etc/memetcd/tls.key",
    "--trusted-ca-file=/etc/memetcd/ca.crt",
    "--client-cert-auth",
    "--log-format=json",
    ],
    [for p in var.wal_no_write_prefixes : "--wal-no-write-prefix=${p}"],
    [for p, mode in var.wal_prefix_modes : "--wal-prefix-mode=${p}=${mode}"],
    var.extra_args,
  )
}

module "cloud_init" {
  source          = "../cloud-init"
  ssh_public_keys = var.ssh_public_keys
  gateway         = var.gateway
  files = [
    { path = "/etc/memetcd/ca.crt", content = var.tls.ca_pem, permissions = "0644" },
    { path = "/etc/memetcd/tls.crt", content = var.tls.cert_pem, permissions = "0644" },
    { path = "/etc/memetcd/tls.key", content = var.tls.key_pem, permissions = "0600" },
  ]
  commands = [
    "mkdir -p /var/lib/memetcd/wal",
    "k8s1m-fetch ${var.binary_url} /usr/local/bin/memetcd",
  ]
  services = {
    # memetcd holds the whole store in memory: the OOM killer must pick anything else first.
    memetcd = { description = "memetcd ${var.name} store (k8s1m)", exec_start = "/usr/local/bin/memetcd ${join(" ", local.args)}", oom_protect = true }
  }
}
