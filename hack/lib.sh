# Shared by hack/run.sh and hack/test.sh: make a fresh Debian machine with Go
# ready to build and test k8s1m. Sourced, not run.

# ensure_packages installs the Debian packages that are missing (as root), or
# says which to install.
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "k8s1m: please install: apt-get install -y ${missing[*]}" >&2
    return 1
  fi
  echo "k8s1m: installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_go() {
  if ! command -v go >/dev/null 2>&1; then
    echo "k8s1m: Go 1.26 or newer is required (https://go.dev/doc/install)" >&2
    return 1
  fi
}

# The k8s1m modules are not on the public proxy: the workspace (go.work) finds
# them locally, and tools/release serves released versions from git for builds
# outside it. Everything else comes from the public Go module proxy.
export GOPROXY="${K8S1M_GOPROXY:-https://proxy.golang.org,direct}"
export GONOSUMDB="github.com/k8s1m/*"
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
