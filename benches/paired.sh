#!/usr/bin/env bash
# Separates the server's own cost from this machine's drift: runs the same `load` command against a
# reference and against the server, alternately, and prints each pair side by side with the server's
# share of the reference's figure. A slow spell slows both runs of a pair alike, so the share holds
# still where the absolute figures swing. The reference is the echo example (examples/udp_echo.rs, the
# least a server can do), or with AGAINST=minimal_server the yardstick the targets were set against
# (examples/minimal_server.rs: std socket, one datagram per call, parses, checks a set, replies).
#
#   bash benches/paired.sh [PAIRS] [SECONDS]            # closed loop, 1 socket x 32, unique IDs
#   RATE=150000 bash benches/paired.sh [PAIRS] [SECONDS] # open loop at RATE: compares p99 instead
#   AGAINST=minimal_server bash benches/paired.sh [PAIRS] [SECONDS]
#
# Release builds; the server (or echo) on core 0 and `load` on core 1, as in measure.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bins --examples >/dev/null 2>&1
B=target/release
PAIRS=${1:-5}
SECS=${2:-10}
RATE=${RATE:-}
AGAINST=${AGAINST:-udp_echo}
case "$AGAINST" in
  udp_echo) REF_IDS=(--ids pool:1000) ;; # the echo answers RESET; a pool keeps its replies matched
  minimal_server) REF_IDS=() ;;          # unique IDs, as the server gets: its set grows the same way
  *) echo "AGAINST must be udp_echo or minimal_server" >&2; exit 2 ;;
esac
PORT=${PORT:-23700} # below the ephemeral range, where no TIME_WAIT connection holds a port

# One run of `load` against whatever listens on $PORT; prints throughput and p99 (us).
measure() { # extra load arguments...
  local json
  if [ -n "$RATE" ]; then
    json=$(taskset -c 1 $B/load 127.0.0.1 $PORT --duration "$SECS" --clients 1 --rate "$RATE" --json "$@")
  else
    json=$(taskset -c 1 $B/load 127.0.0.1 $PORT --duration "$SECS" --clients 1 --window 32 --json "$@")
  fi
  local rate p99 lost
  rate=$(grep -o '"throughput":[0-9]*' <<<"$json" | cut -d: -f2)
  p99=$(grep -o '"p99":[0-9]*' <<<"$json" | cut -d: -f2)
  lost=$(grep -o '"timeouts":[0-9]*' <<<"$json" | cut -d: -f2)
  echo "$rate $p99 $lost"
}

# Stops a process and waits for it, whatever it exits with.
stop() { kill -TERM "$1" 2>/dev/null; wait "$1" 2>/dev/null || true; }

if [ -n "$RATE" ]; then
  echo "open loop at $RATE/s, $SECS s a run, $PAIRS pairs"
else
  echo "closed loop, 1 socket x 32 in flight, $SECS s a run, $PAIRS pairs"
fi
echo "reference: examples/$AGAINST.rs"
printf '%4s  %10s %8s  %10s %8s %6s  %7s %7s\n' pair ref/s p99us server/s p99us lost share p99x
for pair in $(seq "$PAIRS"); do
  taskset -c 0 "$B/examples/$AGAINST" 127.0.0.1:$PORT >/dev/null &
  pid=$!
  sleep 0.3
  read -r e_rate e_p99 _ < <(measure "${REF_IDS[@]}")
  stop $pid
  taskset -c 0 $B/server 127.0.0.1 $PORT --transport udp --idle-timeout 600 >/dev/null &
  pid=$!
  sleep 0.3
  read -r s_rate s_p99 s_lost < <(measure)
  stop $pid
  printf '%4s  %10s %8s  %10s %8s %6s  %7s %7s\n' "$pair" "$e_rate" "$e_p99" "$s_rate" "$s_p99" "$s_lost" \
    "$(awk -v s="$s_rate" -v e="$e_rate" 'BEGIN { printf "%.3f", s / e }')" \
    "$(awk -v s="$s_p99" -v e="$e_p99" 'BEGIN { printf "%.2f", s / e }')"
done
