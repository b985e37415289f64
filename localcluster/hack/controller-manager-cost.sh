#!/usr/bin/env bash
# What kube-controller-manager costs a local cluster at rest: brings a cluster
# up with and then without it (same flags), and over the same idle window
# after `up` returns measures each process's CPU (from /proc) and the
# kube-apiserver's requests by verb and resource (apiserver_request_total from
# its /metrics, read with the run's admin certificate). The whole `up` run's
# report (CPU per process, pods/s) is printed too. Results in BENCHMARKS.md.
#
#   localcluster/hack/controller-manager-cost.sh [idle seconds] [localcluster up flags...]
#   e.g. localcluster/hack/controller-manager-cost.sh 120 --nodes 10000 --pods 10000
set -euo pipefail
cd "$(dirname "$0")/../.."
idle=${1:-120}
shift || true
bin=${K8S1M_BIN:-$PWD/bin}
runs=$(mktemp -d /tmp/cm-cost-XXXXXX)
hz=$(getconf CLK_TCK)

# cpu_ticks PID: user+system clock ticks of the process so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# requests FILE: "verb resource[/subresource] count" per line, summed over
# the other labels (code, scope, group, version, ...).
requests() {
  awk '/^apiserver_request_total\{/ {
    v = $0; sub(/.*[{,]verb="/, "", v); sub(/".*/, "", v)
    r = "-"; if ($0 ~ /[{,]resource="/) { r = $0; sub(/.*[{,]resource="/, "", r); sub(/".*/, "", r) }
    s = $0; sub(/.*[{,]subresource="/, "", s); sub(/".*/, "", s); if (s != "") r = r "/" s
    n[v " " r] += $NF
  } END { for (k in n) print k, n[k] }' "$1"
}

measure() { # measure on|off
  local cm=$1 dir=$runs/$1
  mkdir -p "$dir"
  echo "== up --controller-manager=$cm ${*:2}"
  "$bin/localcluster" up --bin-dir "$bin" --runs-dir "$dir" --build never --progress 30s \
    --controller-manager="$cm" "${@:2}" >"$dir/up.out" 2>"$dir/up.err" || { tail -20 "$dir/up.err"; exit 1; }
  grep -v '^  export\|^  kubectl\|^  localcluster\|^The cluster\|^Stop it' "$dir/up.out" | sed '/^$/d'
  local state=$dir/active.json rundir url pki
  rundir=$(jq -r .run_dir "$state")
  pki=$rundir/pki
  url=$(awk '/server:/ {gsub(/"/, "", $2); print $2}' "$rundir/admin.kubeconfig")
  scrape() { curl -s --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "$url/metrics"; }
  declare -A t0
  local names pids
  mapfile -t names < <(jq -r '.processes[].name' "$state")
  mapfile -t pids < <(jq -r '.processes[].pid' "$state")
  scrape >"$dir/metrics.0"
  for i in "${!pids[@]}"; do t0[$i]=$(cpu_ticks "${pids[$i]}"); done
  sleep "$idle"
  scrape >"$dir/metrics.1"
  echo "-- idle ${idle}s after up: CPU per process (cores); CPU seconds and peak RSS since start"
  for i in "${!pids[@]}"; do
    awk -v n="${names[$i]}" -v d=$(( $(cpu_ticks "${pids[$i]}") - t0[$i] )) -v all="$(cpu_ticks "${pids[$i]}")" \
      -v hwm="$(awk '/VmHWM/ {print $2}' "/proc/${pids[$i]}/status")" -v hz="$hz" -v s="$idle" \
      'BEGIN { printf "  %-26s %.3f cores  %7.1f CPU s  %6.0f MiB\n", n, d / hz / s, all / hz, hwm / 1024 }'
  done
  echo "-- idle ${idle}s after up: apiserver requests/s by verb and resource (>= 0.05/s)"
  awk -v s="$idle" 'FNR == NR { a[$1 " " $2] = $3; next }
    { r = ($3 - a[$1 " " $2]) / s; tot += r; if (r >= 0.05) printf "  %-8s %-32s %8.2f\n", $1, $2, r }
    END { printf "  %-41s %8.2f\n", "total", tot }' <(requests "$dir/metrics.0") <(requests "$dir/metrics.1") | sort -k3 -g -r
  echo "-- whole run (since the apiserver started): requests by verb and resource (>= 100)"
  requests "$dir/metrics.1" | sort -k3 -g -r | awk '$3 >= 100 { printf "  %-8s %-32s %10d\n", $1, $2, $3 }'
  "$bin/localcluster" down --bin-dir "$bin" --runs-dir "$dir" >/dev/null
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u)"
measure true "$@"
measure false "$@"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u); runs in $runs"
