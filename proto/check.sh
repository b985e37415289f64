#!/usr/bin/env bash
# proto/check.sh: what `make proto-check` runs. Fails when
#   - buf lint finds a problem,
#   - the committed generated Go differs from a fresh generation,
#   - the protocol breaks compatibility with the last released proto
#     (tag proto/v*, else the commit versions.txt records for proto; skipped
#     with a message when neither exists yet).
# Expects buf, protoc-gen-go and protoc-gen-go-grpc (pinned) on PATH.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/proto"

buf lint

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r buf.yaml buf.gen.yaml relay "$tmp/"
find "$tmp" -name '*.go' -delete
(cd "$tmp" && buf generate)
stale=0
while IFS= read -r f; do
	rel=${f#"$tmp/"}
	if ! cmp -s "$f" "$rel"; then
		echo "stale generated code: proto/$rel (run make proto)" >&2
		stale=1
	fi
done < <(find "$tmp" -name '*.go' | sort)
while IFS= read -r f; do
	if [ ! -e "$tmp/$f" ]; then
		echo "generated file with no source: proto/$f (run make proto)" >&2
		stale=1
	fi
done < <(find . -name '*.pb.go' | sed 's|^\./||' | sort)
[ "$stale" = 0 ] || exit 1
echo "generated code is fresh"

against=""
tag=$(git -C "$root" tag --list 'proto/v*' --sort=-v:refname | head -n1)
if [ -n "$tag" ]; then
	against="$root/.git#tag=$tag,subdir=proto"
else
	commit=$(awk '$1=="module" && $2=="proto" {print $4}' "$root/versions.txt")
	if [ -n "$commit" ]; then
		against="$root/.git#ref=$commit,subdir=proto"
	fi
fi
if [ -z "$against" ]; then
	echo "buf breaking: skipped, no released proto yet (no proto/v* tag, no proto line in versions.txt)"
	exit 0
fi
buf breaking --against "$against"
echo "no breaking change against $against"
