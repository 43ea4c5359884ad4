#!/usr/bin/env bash
# conform explore's speed and findings on correct programs: SEEDS seeds (default 200), each a session
# over UDP and one over TCP, against connid's server and client and against the correct Python
# fixtures, with --jobs JOBS (default: conform's own, cores x 2). Prints each run's last line (its
# findings) and its speed in seeds and sessions a second. Reproduces BENCHMARKS.md's "conform
# explore" section. Python runs as the interpreter itself (PYTHON, default what `python3` names,
# resolved): a pyenv shim is a bash script whose start costs about 60 ms of CPU a session, more than
# the interpreter's.
#
#   [PYTHON=/usr/bin/python3] benches/conform_explore.sh [SEEDS] [JOBS]
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-200}
jobs=${2:-}
cargo build --release --quiet -p connid-conform -p connid
python=$("${PYTHON:-python3}" -c 'import sys; print(sys.executable)')
save=$(mktemp -d)
trap 'rm -rf "$save"' EXIT
for target in connid-server python-server connid-client python-client; do
  case $target in
    connid-server) cmd=(target/release/server {ip} {port} --transport {transport}) ;;
    python-server) cmd=("$python" tests/conform/server.py {ip} {port} {transport} 30 120) ;;
    connid-client) cmd=(target/release/client HELLO {ip} {port} {id} --transport {transport}) ;;
    python-client) cmd=("$python" tests/conform/client.py HELLO {ip} {port} {id} {transport} 15) ;;
  esac
  args=(explore "${target#*-}" --seeds "$seeds" --save "$save/$target")
  if [ -n "$jobs" ]; then args+=(--jobs "$jobs"); fi
  start=$(date +%s.%N)
  last=$(target/release/conform "${args[@]}" -- "${cmd[@]}" | tail -1) || true
  end=$(date +%s.%N)
  awk -v t="$target" -v s="$seeds" -v a="$start" -v b="$end" -v l="$last" 'BEGIN {
    w = b - a; printf "%-13s %s\n              %.1f s: %.1f seeds/s, %.1f sessions/s\n", t, l, w, s / w, 2 * s / w }'
done
