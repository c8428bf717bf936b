#!/usr/bin/env bash
# busy-test.sh [RUNS]: `make test` on a fresh clone of this repository's
# HEAD, RUNS times in a row (default 10), with two CPU-burning processes
# beside it, as issue #11 asks; stops at the first failure and keeps each
# run's log. Not part of `make test` (about 5 minutes a run on 2 cores).
set -u
runs=${1:-10}
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel) || exit 1
dir=$(mktemp -d /tmp/busy-test.XXXXXX)
git clone -q "$repo" "$dir/clone" || exit 1
cd "$dir/clone" || exit 1
echo "busy-test: $(git log --oneline -1) in $dir"
sh -c 'while :; do :; done' & b1=$!
sh -c 'while :; do :; done' & b2=$!
trap 'kill $b1 $b2 2>/dev/null' EXIT
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  if make test > "$dir/run-$i.log" 2>&1; then
    echo "run $i: pass in $(( $(date +%s) - start )) s"
  else
    echo "run $i: FAIL in $(( $(date +%s) - start )) s (log $dir/run-$i.log)"
    exit 1
  fi
done
echo "busy-test: $runs passed in a row"
