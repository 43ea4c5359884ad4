#!/usr/bin/env bash
# Mutation score of the protocol's code: which changes to it no test notices (cargo-mutants 27.1).
#
#   benches/mutants.sh sim   the client and the server (src/client.rs, src/server/), judged by the
#                            simulator's tests alone: connid-sim's unit tests (oracle, generator, runner,
#                            coverage), the scenario suite and the bounded exploration
#                            (sim/tests/{scenarios,explore}.rs)
#   benches/mutants.sh all   the client, the server, the registry and the protocol parser, judged by the
#                            whole `cargo test --workspace`, in three passes so a mutant costs only as
#                            much as the first tests that catch it: connid's unit tests, then the
#                            simulator's tests for what they missed, then every other test target of the
#                            workspace for the rest (`--iterate`). The three passes together run the
#                            whole suite (there are no doctests), so a mutant missed by all three is
#                            missed by `cargo test --workspace`, and one caught by any is caught by it.
#
# Each prints caught / missed / unviable / timeouts and the score: caught of the viable mutants (and
# caught or hung: a mutant that makes the tests hang fails CI too). cargo-mutants' own output stays in
# target/mutants-<mode>/ (missed.txt names the survivors; for `all`, each pass in its own directory).
# Exclusions, each with its reason, are in .cargo/mutants.toml. Not part of CI: on 2 cores `sim` takes
# about an hour with -j 2, and `all` about two. Extra arguments go to every cargo-mutants run
# (e.g. `-j 2`, `--shard 1/4`).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
shift || true
client_server=(--file src/client.rs --file 'src/server/*.rs')
sim_tests=(-- --lib --test scenarios --test explore)
# cargo-mutants 27.1 runs its baseline on the mutated package's tests even with --test-package (where
# `--test scenarios` does not exist), so the simulator's passes skip it and set their own timeout
# (those tests take about a minute on 2 cores); so does the whole suite's last pass, for the same reason.
no_baseline=(--baseline=skip --timeout 300)
sim_only=(--test-package connid-sim "${no_baseline[@]}")

count() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }

# Sums one outcome file over the given pass directories.
total() {
  local file=$1 n=0
  shift
  for dir in "$@"; do n=$((n + $(count "$dir/$file"))); done
  echo "$n"
}

# `--exclude-re` arguments for every mutant named in the given files (exact names).
excluding() {
  cat "$@" 2>/dev/null | sed 's/[][\.*^$+?(){}|]/\\&/g; s/^/^/; s/$/$/' | while read -r re; do
    printf -- '--exclude-re\n%s\n' "$re"
  done
}

# report PASS_DIR...: the last directory's missed mutants are the survivors.
report() {
  local caught unviable timeout missed last=${*: -1}
  caught=$(total caught.txt "$@")
  unviable=$(total unviable.txt "$@")
  timeout=$(total timeout.txt "$@")
  missed=$(count "$last/missed.txt")
  local viable=$((caught + missed + timeout))
  echo "caught $caught, missed $missed, unviable $unviable, timeouts $timeout"
  if [ "$viable" -gt 0 ]; then
    echo "score: $caught of $viable viable mutants caught ($((1000 * caught / viable / 10)).$((1000 * caught / viable % 10)) %);" \
      "caught or hung: $((caught + timeout)) ($((1000 * (caught + timeout) / viable / 10)).$((1000 * (caught + timeout) / viable % 10)) %)"
  fi
  if [ "$missed" -gt 0 ]; then
    echo "missed:"
    sed 's/^/  /' "$last/missed.txt"
  fi
}

case "$mode" in
  sim)
    out=target/mutants-sim
    rm -rf "$out" && mkdir -p "$out"
    cargo mutants -p connid "${client_server[@]}" "${sim_only[@]}" -o "$out" "$@" \
      "${sim_tests[@]}" || true
    report "$out/mutants.out"
    ;;
  all)
    out=target/mutants-all
    files=("${client_server[@]}" --file src/registry.rs --file src/protocol.rs)
    rm -rf "$out" && mkdir -p "$out"
    # Each pass retries what the earlier ones neither caught nor found unviable; a mutant that made
    # earlier tests hang is counted as such and not retried (it would hang these too).
    cargo mutants -p connid "${files[@]}" -o "$out" "$@" -- --lib || true
    cp -r "$out/mutants.out" "$out/unit"
    mapfile -t skip < <(excluding "$out/unit/timeout.txt")
    cargo mutants -p connid "${files[@]}" --iterate "${sim_only[@]}" "${skip[@]}" \
      -o "$out" "$@" "${sim_tests[@]}" || true
    cp -r "$out/mutants.out" "$out/sim"
    mapfile -t skip < <(excluding "$out/unit/timeout.txt" "$out/sim/timeout.txt")
    # The rest of the suite: the binaries' unit tests and every integration test target in the
    # workspace except the two the simulator's pass ran.
    rest=(--bins)
    # A target is a file of its own (`tests/x.rs`) or a directory of modules (`tests/x/main.rs`).
    for target in {,sim/,conform/}tests/*.rs {,sim/,conform/}tests/*/main.rs; do
      [ -e "$target" ] || continue
      case "$target" in
        */main.rs) name=$(basename "$(dirname "$target")") ;;
        *) name=$(basename "$target" .rs) ;;
      esac
      case "$name" in scenarios | explore) ;; *) rest+=(--test "$name") ;; esac
    done
    cargo mutants -p connid "${files[@]}" --iterate --test-package connid,connid-sim,connid-conform \
      "${no_baseline[@]}" "${skip[@]}" -o "$out" "$@" -- "${rest[@]}" || true
    cp -r "$out/mutants.out" "$out/whole"
    report "$out/unit" "$out/sim" "$out/whole"
    ;;
  *)
    echo "usage: benches/mutants.sh sim|all [cargo-mutants arguments]" >&2
    exit 2
    ;;
esac
