#!/usr/bin/env bash
# Runs `go test` in each module given, with -race except for the packages listed
# in NO_RACE (path prefixes): their tests compile k8s.io/kubernetes or
# k8s.io/apiserver, and a race build of those costs more CI time than it finds.
set -euo pipefail
NO_RACE=(
  github.com/k8s1m/k8s1m/distscheduler
  github.com/k8s1m/k8s1m/localcluster
  github.com/k8s1m/k8s1m/memetcd/conformance
)
timeout=${K8S1M_TEST_TIMEOUT:-30m}
for m in "$@"; do
  (
    cd "$m"
    race=() plain=()
    for p in $(go list ./...); do
      skip=
      for n in "${NO_RACE[@]}"; do
        [[ $p == "$n" || $p == "$n"/* ]] && skip=1
      done
      if [ -n "$skip" ]; then plain+=("$p"); else race+=("$p"); fi
    done
    start=$(date +%s)
    if [ ${#race[@]} -gt 0 ]; then echo "== go test -race $m (${#race[@]} packages)"; go test -count=1 -race -timeout "$timeout" "${race[@]}"; fi
    if [ ${#plain[@]} -gt 0 ]; then echo "== go test $m (${#plain[@]} packages, no -race)"; go test -count=1 -timeout "$timeout" "${plain[@]}"; fi
    echo "== $m: $(( $(date +%s) - start ))s"
  )
done
