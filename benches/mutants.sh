#!/usr/bin/env bash
# Mutation score of the protocol's code: which changes to it no test notices (cargo-mutants 27.1).
#
#   benches/mutants.sh sim   the client and the server, judged by the simulator's tests alone:
#                            connid-sim's unit tests (oracle, generator, runner), the scenario suite and
#                            the bounded exploration (sim/tests/{scenarios,explore}.rs)
#   benches/mutants.sh all   the client, the server, the registry and the protocol parser, judged by the
#                            whole `cargo test --workspace`: connid's unit tests first, then the whole
#                            suite for the mutants they miss (`--iterate`), so a caught mutant costs one
#                            fast build and test
#
# Each prints caught / missed / unviable / timeouts and the score (caught / (caught + missed + timeouts)),
# and keeps cargo-mutants' own output in target/mutants-<mode>/ (missed.txt names the survivors).
# Exclusions, each with its reason, are in .cargo/mutants.toml. Not part of CI: `sim` takes about an
# hour on 2 cores, `all` a few hours. Extra arguments go to cargo-mutants (e.g. `--shard 1/4`, `-j 2`).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
shift || true
client_server=(--file src/client.rs --file 'src/server/*.rs')

count() { [ -f "$1" ] && wc -l <"$1" || echo 0; }

# report DIR CAUGHT UNVIABLE: the missed and timed-out mutants are those of DIR's last run.
report() {
  local out=$1 caught=$2 unviable=$3 missed timeout
  missed=$(count "$out/mutants.out/missed.txt")
  timeout=$(count "$out/mutants.out/timeout.txt")
  local viable=$((caught + missed + timeout))
  echo "caught $caught, missed $missed, unviable $unviable, timeouts $timeout"
  if [ "$viable" -gt 0 ]; then
    echo "score: $caught of $viable viable mutants caught ($((100 * caught / viable)) %, rounded down)"
  fi
  if [ "$missed" -gt 0 ]; then
    echo "missed:"
    sed 's/^/  /' "$out/mutants.out/missed.txt"
  fi
}

case "$mode" in
  sim)
    out=target/mutants-sim
    mkdir -p "$out"
    cargo mutants -p connid "${client_server[@]}" --test-package connid-sim -o "$out" "$@" \
      -- --lib --test scenarios --test explore || true
    report "$out" "$(count "$out/mutants.out/caught.txt")" "$(count "$out/mutants.out/unviable.txt")"
    ;;
  all)
    out=target/mutants-all
    files=("${client_server[@]}" --file src/registry.rs --file src/protocol.rs)
    rm -rf "$out" && mkdir -p "$out"
    cargo mutants -p connid "${files[@]}" -o "$out" "$@" -- --lib || true
    # The second run skips what the first caught or found unviable, and retries the rest.
    cp -r "$out/mutants.out" "$out/unit"
    cargo mutants -p connid "${files[@]}" --iterate --test-workspace=true -o "$out" "$@" || true
    report "$out" \
      $(($(count "$out/unit/caught.txt") + $(count "$out/mutants.out/caught.txt"))) \
      $(($(count "$out/unit/unviable.txt") + $(count "$out/mutants.out/unviable.txt")))
    ;;
  *)
    echo "usage: benches/mutants.sh sim|all [cargo-mutants arguments]" >&2
    exit 2
    ;;
esac
