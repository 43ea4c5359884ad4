#!/usr/bin/env bash
# Reproduces the figures in BENCHMARKS.md: server throughput and latency under `load`, the classic
# Python server side by side, TCP cycles, and memory per live ID. Release builds; the server runs on
# core 0 and `load` on core 1 (taskset), as the targets assume. Takes about two minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bins >/dev/null 2>&1
B=target/release
PORT=${PORT:-47100}

start_server() { # transport port extra...
  local t=$1 p=$2; shift 2
  taskset -c 0 $B/server 127.0.0.1 "$p" --transport "$t" --idle-timeout 600 "$@" > /dev/null &
  SERVER=$!
  sleep 0.5
}
stop_server() { kill -TERM "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null || true; }
rss_kib() { awk '/VmRSS/ {print $2}' /proc/$1/status; }
load() { taskset -c 1 $B/load 127.0.0.1 "$@"; }

echo "== UDP, closed loop, 32 sockets x 1 in flight, unique IDs, 10 s"
start_server udp $PORT
load $PORT --duration 10 --clients 32 --json
echo "rss after: $(rss_kib $SERVER) KiB"
stop_server

echo "== UDP, closed loop, 4 sockets x 8 in flight, unique IDs, 10 s"
start_server udp $((PORT+1))
load $((PORT+1)) --duration 10 --clients 4 --window 8 --json
stop_server

echo "== UDP, open loop at 40,000 requests/s, latency"
start_server udp $((PORT+2))
load $((PORT+2)) --duration 5 --clients 32 --rate 40000 --json
stop_server

echo "== TCP, closed loop, 32 connections at once, one connection per request, 5 s"
start_server tcp $((PORT+3))
load $((PORT+3)) --transport tcp --duration 5 --clients 32 --json
stop_server

echo "== Memory per live ID: unique IDs for 15 s with a 600 s TTL (all stay live)"
start_server udp $((PORT+4)) --id-ttl 600
base=$(rss_kib $SERVER)
load $((PORT+4)) --duration 15 --clients 32 --window 4 --json | tee /tmp/connid-mem.json
granted=$(grep -o '"ok":[0-9]*' /tmp/connid-mem.json | cut -d: -f2)
full=$(rss_kib $SERVER)
echo "baseline $base KiB, with $granted live IDs $full KiB: $(( (full - base) * 1024 / granted )) bytes per ID"
stop_server

echo "== Memory after expiry: the same with a 10 s TTL, then 11 s idle and one request"
start_server udp $((PORT+6)) --id-ttl 10
base=$(rss_kib $SERVER)
load $((PORT+6)) --duration 15 --clients 32 --window 4 --json > /dev/null
peak=$(rss_kib $SERVER)
sleep 11
load $((PORT+6)) --duration 0.2 --clients 1 --json > /dev/null
echo "baseline $base KiB, at the end of the load $peak KiB, after expiry $(rss_kib $SERVER) KiB"
stop_server

echo "== Classic Python server (tests/interop/classic_server.py), same load, 10 s"
taskset -c 0 python3 tests/interop/classic_server.py 127.0.0.1 $((PORT+5)) udp > /dev/null &
PY=$!
sleep 0.5
load $((PORT+5)) --duration 10 --clients 32 --json
kill $PY
