#!/usr/bin/env bash
# The HTML report in a real browser: runs `conform matrix` (quick cases) over the fixtures and over a
# class of seven, renders the pages with headless Chromium to PNGs, and checks them:
#   - the fixtures' page is not blank: the matrix's colours (required passed, required failed,
#     robustness failed, unsupported) are on it;
#   - the class's matrix fits a 1,400 x 900 screen: no cell colour in its right-most 30 pixels;
#   - at 900 px wide, scrolled to the matrix's last column (`#matrix-end`), that column is in view
#     and the implementations' names are still at the left (a sticky column).
#
#   bash tests/browser/report_in_chromium.sh [OUT_DIR]
#
# Needs chromium (Debian: apt-get install chromium), node (the class has a Node.js client) and
# python3. Leaves the pages and PNGs in OUT_DIR (default: a temporary directory) to look at.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-$(mktemp -d)}
mkdir -p "$out"
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
  echo "error: no chromium here (Debian: apt-get install chromium)" >&2
  exit 2
fi
conform() { cargo run --quiet --locked -p connid-conform --bin conform -- "$@"; }
# The network is off: a page must need nothing from it.
shot() { # PNG WIDTH HEIGHT URL
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --proxy-server=127.0.0.1:9 --window-size="$2,$3" --screenshot="$1" "$4" 2>/dev/null
}
conform matrix tests/conform/submissions.toml --quick --html "$out/report.html" >"$out/matrix.txt"
shot "$out/report.png" 1600 1200 "file://$(realpath "$out/report.html")"
python3 tests/browser/png_colours.py "$out/report.png" \
  '#2e7d32=20000' '#c62828=1000' '#ef7d1a=1000' '#c9c9cf=20000'
conform matrix tests/conform/class.toml --quick --html "$out/class.html" >"$out/class.txt"
page="file://$(realpath "$out/class.html")"
# Passed cells of both levels: none in the right-most strip of a 1,400 px screen.
shot "$out/class-1400.png" 1400 900 "$page"
python3 tests/browser/png_colours.py "$out/class-1400.png" \
  '#2e7d32=20000' '#eef0fa=20000' 'x=1370:' '#2e7d32<=0' '#66a86a<=0' '#c62828<=0'
# Scrolled to the far end on a narrower screen: the names' column still at the left, the last
# columns' cells on the right.
shot "$out/class-end.png" 900 900 "$page#matrix-end"
python3 tests/browser/png_colours.py "$out/class-end.png" \
  'x=0:120' '#eef0fa=20000' 'x=700:' '#2e7d32=2000'
echo "reports: $out/report.html, $out/class.html; rendered: $out/*.png"
