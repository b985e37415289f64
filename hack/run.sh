#!/usr/bin/env bash
# The main job: build everything and run the local cluster-in-a-box at the
# largest scale this machine holds by default, printing its figures.
# Extra arguments go to `localcluster run` (see `bin/localcluster run --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
ensure_go
ensure_packages make util-linux git ca-certificates iproute2
make tools bins
exec bin/localcluster run "$@"
