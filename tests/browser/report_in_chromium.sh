#!/usr/bin/env bash
# The HTML report in a real browser: runs `conform matrix` over the fixtures (quick cases), renders
# the page with headless Chromium to a PNG, and checks the PNG is not blank: the matrix's colours
# (required passed, required failed, robustness failed, unsupported) must be on it.
#
#   bash tests/browser/report_in_chromium.sh [OUT_DIR]
#
# Needs chromium (Debian: apt-get install chromium) and python3. Leaves report.html and report.png
# in OUT_DIR (default: a temporary directory) to look at.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-$(mktemp -d)}
mkdir -p "$out"
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
  echo "error: no chromium here (Debian: apt-get install chromium)" >&2
  exit 2
fi
cargo run --quiet --locked -p connid-conform --bin conform -- \
  matrix tests/conform/submissions.toml --quick --html "$out/report.html" >"$out/matrix.txt"
# The network is off: the page must need nothing from it.
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --proxy-server=127.0.0.1:9 --window-size=1600,1200 \
  --screenshot="$out/report.png" "file://$(realpath "$out/report.html")" 2>/dev/null
python3 tests/browser/png_colours.py "$out/report.png" \
  '#2e7d32=20000' '#c62828=1000' '#ef7d1a=1000' '#c9c9cf=20000'
echo "report: $out/report.html, rendered: $out/report.png"
