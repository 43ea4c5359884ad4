#!/usr/bin/env bash
# conform explore's speed and findings on correct servers: SEEDS seeds (default 200), each a session
# over UDP and one over TCP, against connid's server and against the correct Python fixture, with
# --jobs JOBS (default: conform's own, cores x 2). Prints each run's last line (its findings) and its
# speed in seeds and sessions a second. Reproduces BENCHMARKS.md's "conform explore" section.
#
#   benches/conform_explore.sh [SEEDS] [JOBS]
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-200}
jobs=${2:-}
cargo build --release --quiet -p connid-conform -p connid
save=$(mktemp -d)
trap 'rm -rf "$save"' EXIT
for target in connid python; do
  case $target in
    connid) cmd=(target/release/server {ip} {port} --transport {transport}) ;;
    python) cmd=(python3 tests/conform/server.py {ip} {port} {transport} 30 120) ;;
  esac
  args=(explore server --seeds "$seeds" --save "$save/$target")
  if [ -n "$jobs" ]; then args+=(--jobs "$jobs"); fi
  start=$(date +%s.%N)
  last=$(target/release/conform "${args[@]}" -- "${cmd[@]}" | tail -1) || true
  end=$(date +%s.%N)
  awk -v t="$target" -v s="$seeds" -v a="$start" -v b="$end" -v l="$last" 'BEGIN {
    w = b - a; printf "%-7s %s\n        %.1f s: %.1f seeds/s, %.1f sessions/s\n", t, l, w, s / w, 2 * s / w }'
done
