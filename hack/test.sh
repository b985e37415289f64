#!/usr/bin/env bash
# Every test k8s1m has: consistency checks (pins, modules build alone, generated
# code fresh), lint, and each module's unit and integration tests against the
# real binaries (kube-apiserver, etcd, kwok, ...), which it builds first.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
ensure_go
ensure_packages make util-linux git ca-certificates iproute2 iputils-ping
# Integration tests fail, rather than skip, when a binary they need is missing.
export K8S1M_REQUIRE_BINARIES="${K8S1M_REQUIRE_BINARIES:-1}"
make test
