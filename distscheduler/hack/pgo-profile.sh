#!/usr/bin/env bash
# Refreshes cmd/distscheduler/default.pgo, the CPU profile `go build` uses for
# profile-guided optimization of the distscheduler binary (Go picks up a
# main package's default.pgo by itself: make bins, the release images, go
# install). The profile is the merge of
#   - a member's small-shard, per-pod work: TestMemberFixedCost's members
#     (1, 4 and 16 of them) with K8S1M_BENCH_CPUPROFILE, run here, and
#   - any profiles given as arguments, e.g. a member's 60 s profile at a
#     large shard, taken during a localcluster run's pods phase:
#       DISTSCHEDULER_ENABLE_PPROF=true bin/localcluster up --nodes 50000 --pods 10000 --node-lease-duration 10m
#       curl -o member50k.pprof "http://<member --http-addr>/debug/pprof/profile?seconds=60"
#
#   distscheduler/hack/pgo-profile.sh [extra.pprof ...]
#
# Needs bin/kube-apiserver and bin/memetcd (make tools bins). Takes ~5
# minutes: a build of the bench, then ~70 s of benchmark.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export K8S1M_BIN=${K8S1M_BIN:-$root/bin}
for b in kube-apiserver memetcd; do
  [[ -x $K8S1M_BIN/$b ]] || { echo "pgo-profile: $K8S1M_BIN/$b is missing (make tools bins)" >&2; exit 1; }
done
for p in "$@"; do
  [[ -s $p ]] || { echo "pgo-profile: $p is not a profile file" >&2; exit 1; }
done

work=$(mktemp -d /tmp/pgo-profile-XXXXXX)
trap 'rm -rf "$work"' EXIT
out=$root/distscheduler/cmd/distscheduler/default.pgo

cd "$root/distscheduler"
go test -c -o "$work/bench.test" ./test/bench
(cd test/bench && K8S1M_BENCH=1 K8S1M_REQUIRE_BINARIES=1 K8S1M_BENCH_CPUPROFILE="$work/fixed" \
  "$work/bench.test" -test.run TestMemberFixedCost -test.v -test.timeout 30m | grep -E 'x[0-9]+:|least-squares')
go tool pprof -proto "$work"/fixed-x*.pprof "$@" > "$work/merged.pgo"
mv "$work/merged.pgo" "$out"
echo "pgo-profile: wrote $out ($(stat -c %s "$out") bytes) from $(ls "$work"/fixed-x*.pprof | wc -l) bench profiles and $# given"
