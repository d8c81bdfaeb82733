#!/usr/bin/env bash
#
# Packaging and offline checks of the AWS deployment (infra/), behind
# `make package` and `make test`:
#
#   package   build every function crate's Lambda zip with cargo-lambda, the
#             Kafka clients and the other functions in separate builds
#             (target/lambda/<crate>/bootstrap.zip), and the topic creator's
#             (target/lambda/kafka-topics/kafka-topics.zip)
#   check       run tests/infra but the zips' checks: Terraform parsing,
#               formatting, checkov, the IAM linter parliament on every policy
#               (rendered to JSON), the consistency of infra/ with the code
#   check-zips  run the zips' checks (tests/infra/test_packaging.py) on the
#               zips `package` built
#   api-fuzz ENDPOINT
#               fuzz the API functions served at ENDPOINT (the local Lambda
#               endpoint of scripts/run.sh) against shared/http/openapi.yaml
#               with schemathesis; API_FUZZ_SEED=N replays a run
#
# Installs what it needs first, each only when missing: cargo-lambda and Zig
# (scripts/tools.sh, under .local/tools), the Rust target of LAMBDA_ARCH, and
# three Python environments under .local/venvs.

set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly VENVS=$ROOT/.local/venvs
readonly PYTHON=${PYTHON:-python3}
# The tests read it too, to know which architecture the zips must have.
export LAMBDA_ARCH=${LAMBDA_ARCH:-arm64}
readonly PACKAGE_DIR=$ROOT/target/lambda

readonly ZIG=$ROOT/.local/tools/bin/zig
export PATH="$ROOT/.local/tools/bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
# As the Makefile sets it: a build input of aws-lc-sys, so a different value (or none, when this
# script is run directly) would rebuild it and everything above it.
export AWS_LC_SYS_NO_JITTER_ENTROPY=${AWS_LC_SYS_NO_JITTER_ENTROPY:-1}

say() { printf '==> %s\n' "$*"; }
die() {
  printf '%s: %s\n' "${0##*/}" "$*" >&2
  exit 1
}

rust_target() {
  case $LAMBDA_ARCH in
    arm64) echo aarch64-unknown-linux-gnu ;;
    x86_64) echo x86_64-unknown-linux-gnu ;;
    *) die "LAMBDA_ARCH must be arm64 or x86_64, not '$LAMBDA_ARCH'" ;;
  esac
}

# A virtual environment with the given requirements, remade only when a
# requirements file changes. Each tool gets its own: checkov ships a fork of
# python-hcl2 that installs over the real one.
ensure_venv() {
  local name=$1 requirements=$2 venv=$VENVS/$1 stamp lock
  shift 2
  # One preparation of an environment at a time (`make test` prepares them in the background).
  mkdir -p "$VENVS"
  exec {lock}>"$VENVS/.$name.lock"
  flock "$lock"
  stamp=$(cat "$requirements" "$@" | sha256sum | cut -c1-16)
  if [[ -f $venv/.stamp && $(<"$venv/.stamp") == "$stamp" ]]; then
    exec {lock}>&-
    return
  fi
  say "preparing the $name environment (.local/venvs/$name)"
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet -r "$requirements"
  printf '%s\n' "$stamp" >"$venv/.stamp"
  exec {lock}>&-
}

ensure_build_tools() {
  bash "$ROOT/scripts/tools.sh" install
  local target
  target=$(rust_target)
  if ! rustup target list --installed | grep -qx "$target"; then
    say "adding the Rust standard library for $target (rustup)"
    rustup target add "$target"
  fi
}

# The crates under functions/, by package name: each is one Lambda function.
function_crates() {
  local manifest
  for manifest in "$ROOT"/functions/*/Cargo.toml; do
    sed -n 's/^name = "\(.*\)"$/\1/p' "$manifest" | head -n 1
  done
}

# rdkafka-sys builds librdkafka with librdkafka's own configure script and
# make, which compile with $CC, $CXX and $AR: the host's gcc, g++ and ar
# unless set. cargo-lambda hands its cross compiler (zig) only to the cc
# crate, so a cross build would link x86_64 objects into an arm64 binary.
# These wrappers give librdkafka the same zig, for the same target.
# --undefined-version: zig's linker (lld), unlike GNU ld, rejects the version
# script of librdkafka's shared library, which `make libs` builds beside the
# static library that is linked.
cross_compilers() {
  local dir=$PACKAGE_DIR/.cross/$1 tool
  mkdir -p "$dir"
  for tool in cc c++; do
    printf '#!/bin/sh\nexec %q %s -fno-sanitize=all -target %s -Wl,--undefined-version "$@"\n' \
      "$ZIG" "$tool" "$1" >"$dir/$tool"
  done
  printf '#!/bin/sh\nexec %q ar "$@"\n' "$ZIG" >"$dir/ar"
  chmod +x "$dir"/*
  export CC=$dir/cc CXX=$dir/c++ AR=$dir/ar HOST_CC=${HOST_CC:-cc} HOST_CXX=${HOST_CXX:-c++}
}

# cargo-lambda's release zips of every function, in one build. Cargo unifies each dependency's
# features across the crates of a build, so the adapters' Kafka module is compiled for create-order
# and orders-api too; neither calls it, so the linker leaves it, and librdkafka, out of their
# binaries (tests/infra/test_packaging.py checks the zips).
package_functions() {
  local packages=() crate arch_flag
  while IFS= read -r crate; do packages+=(-p "$crate"); done < <(function_crates)
  ((${#packages[@]})) || die "no function crates under functions/"
  case $LAMBDA_ARCH in
    arm64)
      arch_flag=--arm64
      # The target and flags of cargo-lambda's own zig wrapper, so that C and Rust agree.
      cross_compilers aarch64-linux-gnu
      ;;
    x86_64)
      arch_flag=--x86-64
      # The Makefile points native builds at the machine's OpenSSL; a package compiles its own.
      unset X86_64_UNKNOWN_LINUX_GNU_OPENSSL_NO_VENDOR X86_64_UNKNOWN_LINUX_GNU_OPENSSL_STATIC
      ;;
  esac
  local start=$SECONDS
  say "building the functions for $LAMBDA_ARCH (release)"
  (cd "$ROOT" && cargo lambda build --release --locked --output-format zip "$arch_flag" "${packages[@]}")
  say "built in $((SECONDS - start)) s"
}

# The topic creator: its source and its pure-Python dependencies, in a zip
# whose bytes depend only on them, so that Terraform sees no change when
# nothing changed.
package_kafka_topics() {
  local src=$ROOT/infra/topics out=$PACKAGE_DIR/kafka-topics stamp staging
  stamp=$(cat "$src/kafka_topics.py" "$src/requirements.txt" | sha256sum | cut -c1-16)
  if [[ -f $out/kafka-topics.zip && -f $out/.stamp && $(<"$out/.stamp") == "$stamp" ]]; then
    return
  fi
  say "packaging the topic creator"
  staging=$(mktemp -d)
  # --no-deps: what the two packages need besides each other is boto3 and botocore, which the
  # Lambda Python runtime provides (and the signer's command line, which is not used).
  "$PYTHON" -m pip install --quiet --no-compile --no-deps --target "$staging" -r "$src/requirements.txt"
  cp "$src/kafka_topics.py" "$staging/"
  mkdir -p "$out"
  "$PYTHON" - "$staging" "$out/kafka-topics.zip" <<'PY'
import os, sys, zipfile
root, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(directory, name)
            entry = zipfile.ZipInfo(os.path.relpath(path, root), date_time=(1980, 1, 1, 0, 0, 0))
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as source:
                archive.writestr(entry, source.read())
PY
  rm -rf "$staging"
  printf '%s\n' "$stamp" >"$out/.stamp"
}

report_sizes() {
  local zip
  for zip in "$PACKAGE_DIR"/*/*.zip; do
    printf '    %-40s %s\n' "${zip#"$ROOT"/}" "$(du -h "$zip" | cut -f1)"
  done
}

cmd_package() {
  ensure_build_tools
  package_functions
  package_kafka_topics
  report_sizes
}

# The Python environments of the checks, ready before they are needed.
cmd_prepare() {
  ensure_venv infra-tests "$ROOT/tests/infra/requirements.txt" "$ROOT/infra/topics/requirements.txt"
  ensure_venv checkov "$ROOT/tests/infra/checkov-requirements.txt"
  ensure_venv schemathesis "$ROOT/tests/api/requirements.txt"
}

cmd_check() {
  cmd_prepare
  # The IAM checks read which adapter methods each function binary links. Every binary of the
  # workspace, not -p per function: the same features, so the same build as `make e2e`'s.
  (cd "$ROOT" && cargo build --quiet --locked --bins)
  CHECKOV="$VENVS/checkov/bin/checkov" \
    "$VENVS/infra-tests/bin/python" -m pytest "$ROOT/tests/infra" -q \
    --ignore "$ROOT/tests/infra/test_packaging.py" "$@"
}

cmd_check_zips() {
  ensure_venv infra-tests "$ROOT/tests/infra/requirements.txt" "$ROOT/infra/topics/requirements.txt"
  "$VENVS/infra-tests/bin/python" -m pytest "$ROOT/tests/infra/test_packaging.py" -q "$@"
}

# Every operation of the document against the function that serves it, as API Gateway routes
# them: create-order serves POST /orders, orders-api the rest. Every check schemathesis has, but
# one: a schema-valid order for products that do not exist is refused (422 unknown_products, a
# documented answer), so whether valid data is accepted depends on the stored catalogue, not on
# the document. tests/api/hooks.py says what else differs from AWS locally, and why.
cmd_api_fuzz() {
  local endpoint=${1:?usage: api-fuzz ENDPOINT} seed=${API_FUZZ_SEED:-$RANDOM$RANDOM}
  ensure_venv schemathesis "$ROOT/tests/api/requirements.txt"
  local run=(
    "$VENVS/schemathesis/bin/st" run "$ROOT/shared/http/openapi.yaml"
    --checks all --exclude-checks positive_data_acceptance --continue-on-failure
    --seed "$seed" --no-color -H "x-dev-user: api-fuzz" -H "x-dev-groups: admin"
  )
  say "fuzzing the API against shared/http/openapi.yaml (API_FUZZ_SEED=$seed replays it)"
  # schemathesis keeps its cache (the failures `st replay` reads) in its working directory.
  local work=$ROOT/.local/api-fuzz
  mkdir -p "$work"
  export PYTHONPATH=$ROOT/tests/api SCHEMATHESIS_HOOKS=hooks
  (cd "$work" && "${run[@]}" \
    --url "$endpoint/lambda-url/create-order" --include-operation-id createOrder --max-examples 100)
  (cd "$work" && "${run[@]}" \
    --url "$endpoint/lambda-url/orders-api" --exclude-operation-id createOrder --max-examples 50)
}

case ${1:-} in
  package) cmd_package ;;
  prepare) cmd_prepare ;;
  check) shift; cmd_check "$@" ;;
  check-zips) shift; cmd_check_zips "$@" ;;
  api-fuzz) shift; cmd_api_fuzz "$@" ;;
  *) die "usage: ${0##*/} package | prepare | check [pytest arguments] | check-zips [pytest arguments] | api-fuzz ENDPOINT" ;;
esac
