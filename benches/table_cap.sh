#!/usr/bin/env bash
# The server's memory under a flood of unique IDs, with and without --max-ids (issue 25): `load`
# sends unique IDs as fast as replies come for longer than two TTLs, and the server's RSS is sampled
# every half second. With the cap, RSS must stop growing once the table is full and stay flat; without
# it, RSS follows the IDs granted within the last TTL. The TTL is shortened (--id-ttl) so the run
# outlasts it; the cap is small against the flood so it is reached in seconds. Release builds; the
# server on core 0, `load` on core 1 (taskset), as in measure.sh. Takes about a minute.
#
#   benches/table_cap.sh [TTL_SECS] [CAP] [SECONDS] [RATE]     (defaults: 8 200000 20 200000)
set -euo pipefail
cd "$(dirname "$0")/.."
TTL=${1:-8}
CAP=${2:-200000}
SECS=${3:-20}
RATE=${4:-200000}
cargo build --release --locked --bins >/dev/null 2>&1
B=target/release
PORT=${PORT:-23200} # below the ephemeral range, as in measure.sh

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

run() { # label max-ids
  local label=$1 max=$2 port=$((PORT + RANDOM % 500))
  taskset -c 0 $B/server 127.0.0.1 "$port" --idle-timeout 600 --id-ttl "$TTL" --max-ids "$max" \
    > "/tmp/table_cap.$label.log" &
  local server=$!
  sleep 0.5
  local base
  base=$(rss_kib $server)
  taskset -c 1 $B/load 127.0.0.1 "$port" --duration "$SECS" --clients 1 --rate "$RATE" --json \
    > "/tmp/table_cap.$label.json" &
  local load=$!
  local peak=0 t=0 series=""
  while kill -0 $load 2>/dev/null; do
    sleep 0.5
    t=$((t + 5))
    local r
    r=$(rss_kib $server)
    [ "$r" -gt "$peak" ] && peak=$r
    series="$series $((t / 10)).$((t % 10))s:$((r / 1024))MiB"
  done
  wait $load || true
  kill -TERM $server 2>/dev/null
  wait $server 2>/dev/null || true
  local full
  full=$(grep -c "table full" "/tmp/table_cap.$label.log" || true)
  echo "== $label (--max-ids $max, TTL $TTL s, $SECS s of unique IDs at $RATE/s)"
  echo "baseline ${base} KiB, peak ${peak} KiB; 'table full' lines: $full"
  echo "load: $(cat "/tmp/table_cap.$label.json")"
  echo "RSS over time:$series"
}

run capped "$CAP"
run uncapped 1000000000
