#!/usr/bin/env bash
# Reproduces the network and memory figures in BENCHMARKS.md: server throughput and latency under
# `load`, `load` against the echo example, the classic Python server side by side, TCP cycles, and
# memory per live ID. Release builds; the server runs on core 0 and `load` on core 1 (taskset), as the
# targets assume. Takes about three minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bins --examples >/dev/null 2>&1
B=target/release
PORT=${PORT:-23100} # below the ephemeral range, where no TIME_WAIT connection holds a port

start_server() { # transport port extra...
  local t=$1 p=$2; shift 2
  taskset -c 0 $B/server 127.0.0.1 "$p" --transport "$t" --idle-timeout 600 "$@" > /dev/null &
  SERVER=$!
  sleep 0.5
}
stop_server() { kill -TERM "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null || true; }
rss_kib() { awk '/VmRSS/ {print $2}' /proc/$1/status; }
cpu_ticks() { awk '{print $14 + $15}' /proc/$1/stat; } # user + system, in clock ticks
load() { taskset -c 1 $B/load 127.0.0.1 "$@"; }

echo "== UDP, closed loop, 1 socket x 32 in flight (the targets' generator), unique IDs, 10 s, twice"
for run in 1 2; do
  start_server udp $PORT
  load $PORT --duration 10 --clients 1 --window 32 --json
  echo "rss after: $(rss_kib $SERVER) KiB"
  stop_server
done

echo "== UDP, the same with 32 sockets x 4 in flight, 10 s"
start_server udp $((PORT+1))
load $((PORT+1)) --duration 10 --clients 32 --window 4 --json
stop_server

echo "== UDP, open loop at 150,000 requests/s (half the target), 1 socket, 10 s"
start_server udp $((PORT+2))
load $((PORT+2)) --duration 10 --clients 1 --rate 150000 --json
stop_server

echo "== UDP, open loop at 150,000 requests/s, 32 sockets, 10 s"
start_server udp $((PORT+2))
load $((PORT+2)) --duration 10 --clients 32 --rate 150000 --json
stop_server

echo "== load against the echo example (examples/udp_echo.rs), 1 socket x 32, 5 s, with CPU use"
taskset -c 0 $B/examples/udp_echo 127.0.0.1:$((PORT+7)) > /dev/null &
ECHO=$!
sleep 0.3
taskset -c 1 $B/load 127.0.0.1 $((PORT+7)) --duration 5 --clients 1 --window 32 --ids pool:1000 --json &
LOAD=$!
sleep 1.5
e0=$(cpu_ticks $ECHO); l0=$(cpu_ticks $LOAD)
sleep 2
echo "over 2 s: echo $(( $(cpu_ticks $ECHO) - e0 )) ticks, load $(( $(cpu_ticks $LOAD) - l0 )) ticks (of $(( 2 * $(getconf CLK_TCK) )) a core)"
wait $LOAD
kill $ECHO

echo "== TCP, closed loop, 32 connections at once, one connection per request, 5 s"
start_server tcp $((PORT+3))
load $((PORT+3)) --transport tcp --duration 5 --clients 32 --json
stop_server

echo "== Memory per live ID: unique IDs for 10 s with a 600 s TTL (all stay live)"
start_server udp $((PORT+4)) --id-ttl 600
base=$(rss_kib $SERVER)
load $((PORT+4)) --duration 10 --clients 1 --window 32 --json | tee /tmp/connid-mem.json
granted=$(grep -o '"ok":[0-9]*' /tmp/connid-mem.json | cut -d: -f2)
full=$(rss_kib $SERVER)
echo "baseline $base KiB, with $granted live IDs $full KiB: $(( (full - base) * 1024 / granted )) bytes per ID"
stop_server

echo "== Memory after expiry: the same with a 10 s TTL, then 12 s without any request"
start_server udp $((PORT+6)) --id-ttl 10
base=$(rss_kib $SERVER)
load $((PORT+6)) --duration 10 --clients 1 --window 32 --json > /dev/null
peak=$(rss_kib $SERVER)
sleep 12
echo "baseline $base KiB, at the end of the load $peak KiB, after expiry $(rss_kib $SERVER) KiB"
# The first requests after that: none waits for a mass removal.
load $((PORT+6)) --duration 1 --clients 1 --json
stop_server

echo "== Classic Python server (tests/interop/classic_server.py), same load against both, 10 s"
start_server udp $((PORT+8))
load $((PORT+8)) --duration 10 --clients 32 --json
stop_server
taskset -c 0 python3 tests/interop/classic_server.py 127.0.0.1 $((PORT+5)) udp > /dev/null &
PY=$!
sleep 0.5
load $((PORT+5)) --duration 10 --clients 32 --json
kill $PY
