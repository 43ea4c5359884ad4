#!/usr/bin/env bash
# Compares the TCP cycle of this build with another build of connid (an earlier commit), alternately,
# so the machine's drift hits both alike: each build's server with its own `load`, the server on core 0
# and `load` on core 1 as in measure.sh, 32 connections at once, one connection per request.
#
#   git worktree add /tmp/before <commit>
#   (cd /tmp/before && CARGO_TARGET_DIR=/tmp/before-target cargo build --release --locked --bins)
#   OTHER=/tmp/before-target/release bash benches/tcp_versus.sh [PAIRS] [SECONDS]
#
# Prints, per run: pair, build, requests sent, OK, errors, timeouts, malformed, cycles/s, latency (us).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OTHER:?set OTHER to the target/release directory of the other build}"
cargo build --release --locked --bins >/dev/null 2>&1
PAIRS=${1:-3}
SECS=${2:-5}
PORT=${PORT:-23300} # below the ephemeral range, where no TIME_WAIT connection holds a port
for pair in $(seq "$PAIRS"); do
  for build in other this; do
    if [ "$build" = other ]; then B=$OTHER; else B=target/release; fi
    PORT=$((PORT + 1))
    taskset -c 0 "$B/server" 127.0.0.1 $PORT --transport tcp --idle-timeout 600 >/dev/null &
    SERVER=$!
    sleep 0.5
    printf '%s %s ' "$pair" "$build"
    taskset -c 1 "$B/load" 127.0.0.1 $PORT --transport tcp --duration "$SECS" --clients 32 --json |
      python3 -c 'import json, sys; r = json.load(sys.stdin); print(r["sent"], r["ok"], r["errors"], r["timeouts"], r["malformed"], round(r["throughput"]), r["latency_us"])'
    kill -TERM "$SERVER"
    wait "$SERVER" 2>/dev/null || true
  done
done
