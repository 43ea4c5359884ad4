#!/usr/bin/env bash
# How long `conform matrix` takes for a class: the fixtures' manifest (tests/conform/submissions.toml,
# four implementations) repeated until it lists N implementations, full suites over both transports on
# the default clock. Prints the matrix's own lines and the wall time.
#
#   benches/conform_class.sh [N]      (default 80)
#
# Needs a release build (cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-80}
manifest=tests/conform/.class-$$.toml
trap 'rm -f "$manifest"' EXIT
python3 - "$n" "$manifest" <<'PY'
import re, sys
n, out = int(sys.argv[1]), sys.argv[2]
src = open("tests/conform/submissions.toml").read()
body = src[src.index("[[implementation]]"):]
blocks = ["[[implementation]]" + b for b in body.split("[[implementation]]")[1:]]
with open(out, "w") as f:
    for k in range(n):
        b = blocks[k % len(blocks)]
        f.write(re.sub(r'name = "([^"]*)"', lambda m: f'name = "{m.group(1)} {k + 1}"', b) + "\n")
PY
start=$(date +%s.%N)
./target/release/conform matrix "$manifest" --csv /dev/null 2>/dev/null | tail -n +1
end=$(date +%s.%N)
echo "implementations: $n, wall: $(echo "$end - $start" | bc) s"
