#!/usr/bin/env bash
# How stable conform's verdicts are: RUNS full runs (both transports) of each correct program
# (connid's server and client, tests/conform/server.py, threaded_server.py and client.py) at --speed SPEED beside HOGS CPU
# hogs (`yes`); a wrong verdict is any case not passed (each such run's output is kept in
# target/conform-speed/). Prints one line per run and a summary.
#
#   benches/conform_speed.sh [RUNS] [SPEED] [HOGS]      (default 20 runs, auto (the virtual clock), 4 hogs)
#
# SPEED is auto (the virtual clock) or 1 (real time). Needs a release build (cargo build --release).
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
speed=${2:-auto}
hogs=${3:-4}
C=./target/release/conform
pids=()
for _ in $(seq 1 "$hogs"); do
  yes > /dev/null &
  pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
kept=target/conform-speed
mkdir -p "$kept"
out=$(mktemp)
wrong_total=0
for i in $(seq 1 "$runs"); do
  for run in "server connid" "server python" "server threaded" "client connid" "client python"; do
    set -- $run
    case "$1 $2" in
      "server connid") cmd="./target/release/server {ip} {port} --transport {transport}";;
      "server python") cmd="python3 tests/conform/server.py {ip} {port} {transport} 30 120";;
      "server threaded") cmd="python3 tests/conform/threaded_server.py {ip} {port} {transport} 30 120";;
      "client connid") cmd="./target/release/client HELLO {ip} {port} {id} --transport {transport}";;
      "client python") cmd="python3 tests/conform/client.py HELLO {ip} {port} {id} {transport} 15";;
    esac
    start=$(date +%s.%N)
    $C "$1" --transport both --speed "$speed" -- $cmd > "$out" 2>/dev/null
    code=$?
    end=$(date +%s.%N)
    wrong=$(grep -c "^✘\|^–" "$out")
    if [ "$wrong" -gt 0 ]; then cp "$out" "$kept/run-$i-$1-$2.txt"; fi
    wrong_total=$((wrong_total + wrong))
    echo "$i $1 $2 exit=$code wrong=$wrong wall=$(echo "$end - $start" | bc)"
  done
done
rm -f "$out"
echo "runs: $((runs * 5)), wrong verdicts: $wrong_total"
