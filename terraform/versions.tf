# The one place that names what this deployment runs. Every k8s1m binary and
# image is named by its module's released version (versions.txt at the
# repository root); the check in check/ fails when a version here is not the
# release versions.txt records, and when a module released since is still
# marked "unreleased" (release it, then name the version here).
#
# Where things come from (no personal hosts; both are variables):
#   images:    "${var.registry}/<binary>:<version>"  (tools/release writes the OCI
#              archives; push them with crane/skopeo), third-party images are
#              pulled from var.mirror_registry (a pull-through cache of their
#              public registries; Docker Hub's rate limits do not survive a
#              large cluster).
#   binaries:  "${var.artifact_base_url}/<binary>/<version>/<binary>-linux-<arch>"
#              for what runs under systemd on VMs (memetcd, kube-apiserver,
#              wggateway, k3s, CNI plugins), from an HTTP server reachable
#              over IPv6.
locals {
  # k8s1m modules: the module directory and its released version.
  k8s1m_versions = {
    memetcd       = "unreleased"
    relay         = "v0.3.0"
    distscheduler = "unreleased"
    wggateway     = "unreleased"
    makenodes     = "unreleased"
  }

  # Upstream builds the workspace pins (versions.txt "pin" lines): the check
  # keeps these equal to the pins.
  upstream_versions = {
    kubernetes = "v1.37.2" # pin k8s.io/kubernetes: kube-apiserver on the apiserver VMs
    kwok       = "v0.8.0"  # pin sigs.k8s.io/kwok
  }

  # Third-party software the deployment runs, not built by this repository.
  third_party_versions = {
    k3s             = "v1.37.2+k3s1"
    cni_plugins     = "v1.6.2"
    victoriametrics = "v1.110.0"
    victorialogs    = "v1.3.2-victorialogs"
    vmagent         = "v1.110.0"
    parca           = "v0.23.1"
    fluent_bit      = "3.2.4"
  }

  images = {
    distscheduler = "${var.registry}/distscheduler:${local.k8s1m_versions.distscheduler}"
    relay         = "${var.registry}/relay:${local.k8s1m_versions.relay}"
    kwok          = "${var.mirror_registry}/kwok/kwok:${local.upstream_versions.kwok}"
    vmagent       = "${var.mirror_registry}/victoriametrics/vmagent:${local.third_party_versions.vmagent}"
    fluent_bit    = "${var.mirror_registry}/fluent/fluent-bit:${local.third_party_versions.fluent_bit}"
  }

  # Binaries installed on VMs: name => URL (architecture chosen per VM).
  artifacts = {
    memetcd         = "${var.artifact_base_url}/memetcd/${local.k8s1m_versions.memetcd}/memetcd-linux-ARCH"
    wggateway       = "${var.artifact_base_url}/wggateway/${local.k8s1m_versions.wggateway}/wggateway-linux-ARCH"
    kube_apiserver  = "${var.artifact_base_url}/kube-apiserver/${local.upstream_versions.kubernetes}/kube-apiserver-linux-ARCH"
    k3s             = "${var.artifact_base_url}/k3s/${local.third_party_versions.k3s}/k3s-linux-ARCH"
    cni_plugins     = "${var.artifact_base_url}/cni-plugins/${local.third_party_versions.cni_plugins}/cni-plugins-linux-ARCH.tgz"
    victoriametrics = "${var.artifact_base_url}/victoriametrics/${local.third_party_versions.victoriametrics}/victoria-metrics-linux-ARCH"
    victorialogs    = "${var.artifact_base_url}/victorialogs/${local.third_party_versions.victorialogs}/victoria-logs-linux-ARCH"
    parca           = "${var.artifact_base_url}/parca/${local.third_party_versions.parca}/parca-linux-ARCH"
  }
}
