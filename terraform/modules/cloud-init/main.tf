# cloud-init user data shared by every VM: an admin user with the operator's
# SSH keys, a fetch helper for the artifact server, the IPv4 egress tunnel
# through the WireGuard gateway (IPv6-only VMs cannot reach IPv4-only hosts
# otherwise), then the caller's files and commands.

locals {
  gateway_files = var.gateway == null ? [] : [
    { path = "/etc/wggateway/secret", content = var.gateway.secret, permissions = "0600" },
    { path = "/etc/wggateway/ca.crt", content = var.gateway.ca_pem, permissions = "0644" },
    {
      path        = "/etc/systemd/system/wggateway-client.service"
      permissions = "0644"
      content     = <<-UNIT
        [Unit]
        Description=IPv4 egress through the k8s1m WireGuard gateway
        Wants=network-online.target
        After=network-online.target

        [Service]
        Type=oneshot
        RemainAfterExit=yes
        ExecStart=/usr/local/bin/wggateway client --server ${var.gateway.url} --ca-file /etc/wggateway/ca.crt --secret-file /etc/wggateway/secret

        [Install]
        WantedBy=multi-user.target
      UNIT
    },
  ]
  # Every long-running process is a unit of this one shape: restarted when it
  # exits, with room for the file descriptors large clusters need.
  service_files = [for name, svc in var.services : {
    path        = "/etc/systemd/system/${name}.service"
    permissions = "0644"
    content = join("\n", concat(
      ["[Unit]", "Description=${svc.description}", "Wants=network-online.target", "After=network-online.target", "", "[Service]"],
      svc.environment_file == null ? [] : ["EnvironmentFile=${svc.environment_file}"],
      ["ExecStart=${svc.exec_start}", "Restart=always", "RestartSec=2", "LimitNOFILE=1048576"],
      svc.oom_protect ? ["OOMScoreAdjust=-900"] : [],
      ["", "[Install]", "WantedBy=multi-user.target", ""],
    ))
  }]
  service_commands = length(var.services) == 0 ? [] : concat(
    ["systemctl daemon-reload"],
    [for name, _ in var.services : "systemctl enable --now ${name}.service"],
  )

  gateway_commands = var.gateway == null ? [] : [
    "k8s1m-fetch ${var.gateway.binary_url} /usr/local/bin/wggateway",
    "systemctl enable --now wggateway-client.service",
  ]

  # fetch URL DEST: downloads from the artifact server with retries; ARCH in
  # the URL becomes this machine's Debian architecture (amd64, arm64).
  fetch = {
    path        = "/usr/local/bin/k8s1m-fetch"
    permissions = "0755"
    content     = <<-SH
      #!/bin/sh
      set -eu
      url=$(echo "$1" | sed "s/ARCH/$(dpkg --print-architecture)/g")
      curl --fail --silent --show-error --location --retry 10 --retry-all-errors -o "$2.tmp" "$url"
      chmod 0755 "$2.tmp"
      mv "$2.tmp" "$2"
    SH
  }

  # k8s1m-ipv6-prefix prints the IPv6 prefix the cloud routes to this VM
  # (pods take their addresses from it), asking whichever metadata service
  # answers: AWS IMDS over IPv6, GCP, Vultr.
  prefix = {
    path        = "/usr/local/bin/k8s1m-ipv6-prefix"
    permissions = "0755"
    content     = <<-SH
      #!/bin/sh
      set -eu
      aws='http://[fd00:ec2::254]/latest'
      if t=$(curl -sf -m 2 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "$aws/api/token"); then
        mac=$(curl -sf -H "X-aws-ec2-metadata-token: $t" "$aws/meta-data/mac")
        curl -sf -H "X-aws-ec2-metadata-token: $t" "$aws/meta-data/network/interfaces/macs/$mac/ipv6-prefix" | head -n1
        exit 0
      fi
      gcp='http://metadata.google.internal/computeMetadata/v1/instance/network-interfaces/0'
      if a=$(curl -sf -m 2 -H 'Metadata-Flavor: Google' "$gcp/ipv6s"); then
        echo "$(echo "$a" | head -n1)/96"
        exit 0
      fi
      vultr='http://169.254.169.254/v1/interfaces/0/ipv6'
      echo "$(curl -sf -m 2 "$vultr/network")/$(curl -sf -m 2 "$vultr/prefix")"
    SH
  }

  cloud_config = {
    users = [{
      name                = "k8s1m"
      groups              = ["sudo"]
      shell               = "/bin/bash"
      sudo                = "ALL=(ALL) NOPASSWD:ALL"
      ssh_authorized_keys = var.ssh_public_keys
    }]
    package_update = true
    packages       = concat(["curl", "ca-certificates", "wireguard-tools"], var.packages)
    write_files = [for f in concat([local.fetch, local.prefix], local.gateway_files, var.files, local.service_files) : {
      path        = f.path
      content     = f.content
      permissions = f.permissions
      owner       = "root:root"
    }]
    runcmd = concat(local.gateway_commands, var.commands, local.service_commands)
  }
}
