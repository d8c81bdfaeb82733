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
# The release binaries come from two builds split as `make package` splits them: the functions
# that link librdkafka, then the others. Within one build Cargo unifies each dependency's
# features across the crates it builds, which would link the Kafka code into the API functions
# and make their binaries, cold starts and memory unlike the ones deployed.

set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
# kafka_crates (from scripts/infra.sh) reads `cargo metadata` with it.
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

# function_crates and kafka_crates exactly as scripts/infra.sh defines them for `make package`,
# so that both split the builds the same way. infra.sh runs a command when it is sourced, so the
# two definitions are read out of it, and their absence is an error rather than a silent change.
load_crate_split() {
  local definitions
  definitions=$(sed -n \
    -e '/^function_crates() {$/,/^}$/p' \
    -e '/^kafka_crates() {$/,/^}$/p' \
    "$ROOT/scripts/infra.sh")
  eval "$definitions"
  if ! declare -F function_crates >/dev/null || ! declare -F kafka_crates >/dev/null; then
    die "scripts/infra.sh no longer defines function_crates and kafka_crates; update load_crate_split"
  fi
}

# One `cargo build --release` of the given crates; nothing without crates.
release_build() {
  local what=$1 packages=() crate
  shift
  (($#)) || return 0
  for crate in "$@"; do packages+=(-p "$crate"); done
  step "release build of $what: $* ($(release_estimate "$what"))" \
    cargo build --release --locked "${packages[@]}"
}

# How long each release build took on a 2-core machine, from nothing and again (fat LTO, one
# codegen unit: [profile.release]).
release_estimate() {
  case $1 in
    "the Kafka clients") echo "first: ~20-30 min; then seconds" ;;
    *) echo "first: ~10 min; then seconds" ;;
  esac
}

cmd_release_builds() {
  local crates=() kafka=() others=() listed crate
  load_crate_split
  mapfile -t crates < <(function_crates)
  ((${#crates[@]})) || die "no function crates under functions/"
  listed=$(kafka_crates "${crates[@]}")
  for crate in "${crates[@]}"; do
    if grep -qx -- "$crate" <<<"$listed"; then kafka+=("$crate"); else others+=("$crate"); fi
  done
  release_build "the Kafka clients" "${kafka[@]}"
  release_build "the other functions" "${others[@]}"
}

cmd_all() {
  cd "$ROOT"
  # target/ from nothing: the dev build of the bench (~1.2 GiB, shared with `make test`) and the
  # two release builds (~1.4 GiB).
  bash scripts/disk.sh 3
  step "tools under .local/tools (first: ~1 min; then none)" bash scripts/tools.sh install
  cmd_release_builds
  # The dev profile, which `make test` builds too: no third optimised build of the SDKs.
  step "build of the bench (first: ~9 min; then seconds)" cargo build --locked -p orderflow-bench
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
