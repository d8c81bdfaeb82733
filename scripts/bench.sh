#!/usr/bin/env bash
#
# `make bench`: the figures of BENCHMARKS.md, measured on this machine against the local
# services, printed as a table and written to bench/results.json.
#
#   scripts/bench.sh [BENCH ARGUMENTS...]   everything, as `make bench` does; the arguments go
#                                           to the bench (bench/src/main.rs), e.g. --quick
#   scripts/bench.sh release-builds         only the functions' native release binaries
#
# Everything: install the missing tools, build the five functions' release binaries natively
# (target/release/<function>, the processes of figures 4 and 5), build the bench, then run it
# under moto and tansu, each phase timed. Run it through `make bench`, which sets the addresses
# of the local services.
#
# The release binaries come from one build of the five functions, as `make package` builds its
# zips, with the same [profile.release].

set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly PYTHON=${PYTHON:-python3}
export PATH="$ROOT/.local/tools/bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
# As the Makefile sets it: a build input of aws-lc-sys, so a different value (or none, when this
# script is run directly) would rebuild it and everything above it.
export AWS_LC_SYS_NO_JITTER_ENTROPY=${AWS_LC_SYS_NO_JITTER_ENTROPY:-1}

die() {
  printf '%s: %s\n' "${0##*/}" "$*" >&2
  exit 1
}

step() { bash "$ROOT/scripts/step.sh" "$@"; }

# The crates under functions/, by package name: each is one Lambda function.
function_crates() {
  local manifest
  for manifest in "$ROOT"/functions/*/Cargo.toml; do
    sed -n 's/^name = "\(.*\)"$/\1/p' "$manifest" | head -n 1
  done
}

# One `cargo build --release` of every function (fat LTO, one codegen unit: [profile.release]).
cmd_release_builds() {
  local packages=() crate
  while IFS= read -r crate; do packages+=(-p "$crate"); done < <(function_crates)
  ((${#packages[@]})) || die "no function crates under functions/"
  step "release build of the five functions (first: 7-11 min on 2 cores; then seconds)" \
    cargo build --release --locked "${packages[@]}"
}

cmd_all() {
  cd "$ROOT"
  # target/ from nothing: the dev build of the bench (~1.2 GiB, shared with `make test`) and the
  # release build (~1 GiB).
  bash scripts/disk.sh 3
  step "tools under .local/tools (first: ~1 min; then none)" bash scripts/tools.sh install
  cmd_release_builds
  # The dev profile, which `make test` builds too: no second optimised build of the SDKs.
  step "build of the bench (first: 3-4 min; then seconds)" cargo build --locked -p orderflow-bench
  # Where the release builds went: target/ unless CARGO_TARGET_DIR or Cargo's configuration
  # says otherwise. A --release-dir among the arguments comes later and wins.
  local release_dir
  release_dir=$(cargo metadata --format-version 1 --no-deps |
    "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release
  step "figures against moto and tansu (~3 min; --quick: ~1 min)" \
    bash scripts/services.sh with -- \
    cargo run --quiet --locked -p orderflow-bench -- --release-dir "$release_dir" "$@"
}

case ${1:-} in
  release-builds) cmd_release_builds ;;
  *) cmd_all "$@" ;;
esac
