#!/usr/bin/env bash
# Compares this build's server with another build's (an earlier commit), alternately, so the machine's
# drift hits both alike. The server runs on core 0 and `load` on core 1, as in measure.sh.
#
#   git worktree add /tmp/before <commit>
#   (cd /tmp/before && CARGO_TARGET_DIR=/tmp/before-target cargo build --release --locked --bins)
#   OTHER=/tmp/before-target/release bash benches/versus.sh [PAIRS] [SECONDS]
#   TRANSPORT=tcp OTHER=... bash benches/versus.sh [PAIRS] [SECONDS]
#
# UDP (default): both servers get the same load, this build's, closed loop with 1 socket x 32 in
# flight and unique IDs (the targets' generator; UDP_ARGS="--clients 32 --window 4" changes it).
# TCP: 32 connections at once, one connection per request, each server with its own build's `load`
# (the TCP framing changed what a client sends).
# Prints, per run: pair, build, requests sent, OK, errors, timeouts, malformed, replies/s, latency (us).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OTHER:?set OTHER to the target/release directory of the other build}"
TRANSPORT=${TRANSPORT:-udp}
cargo build --release --locked --bins >/dev/null 2>&1
PAIRS=${1:-3}
SECS=${2:-5}
PORT=${PORT:-23300} # below the ephemeral range, where no TIME_WAIT connection holds a port
for pair in $(seq "$PAIRS"); do
  for build in other this; do
    if [ "$build" = other ]; then B=$OTHER; else B=target/release; fi
    if [ "$TRANSPORT" = udp ]; then
      LOAD=target/release/load
      read -r -a ARGS <<<"${UDP_ARGS:---clients 1 --window 32}"
    else
      LOAD=$B/load
      ARGS=(--clients 32)
    fi
    PORT=$((PORT + 1))
    taskset -c 0 "$B/server" 127.0.0.1 $PORT --transport "$TRANSPORT" --idle-timeout 600 >/dev/null &
    SERVER=$!
    sleep 0.5
    printf '%s %s ' "$pair" "$build"
    taskset -c 1 "$LOAD" 127.0.0.1 $PORT --transport "$TRANSPORT" --duration "$SECS" "${ARGS[@]}" --json |
      python3 -c 'import json, sys; r = json.load(sys.stdin); print(r["sent"], r["ok"], r["errors"], r["timeouts"], r["malformed"], round(r["throughput"]), r["latency_us"])'
    kill -TERM "$SERVER"
    wait "$SERVER" 2>/dev/null || true
  done
done
