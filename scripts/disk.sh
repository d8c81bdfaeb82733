#!/usr/bin/env bash
#
# Fails early, and says why, when the disk cannot hold what the build is about to write:
#
#   scripts/disk.sh GIB
#
# GIB is how large target/ grows from nothing for the steps that follow (`make test`: ~6 GiB;
# `make package` adds ~2 GiB). What target/ already holds counts towards it, so a warm tree
# needs less. Without this check a full disk shows up minutes later as a compiler error deep in
# a C dependency's build ("No space left on device").

set -euo pipefail

need_gib=$1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
mkdir -p "$target"

kib_per_gib=$((1024 * 1024))
have_kib=$(du -sk "$target" 2>/dev/null | cut -f1 || echo 0)
free_kib=$(df -Pk "$target" | awk 'NR == 2 { print $4 }')
missing_kib=$((need_gib * kib_per_gib - have_kib - free_kib))
if ((missing_kib > 0)); then
  printf 'Not enough disk space for the build: %s holds %d GiB and the disk has %d GiB free;\n' \
    "$target" $((have_kib / kib_per_gib)) $((free_kib / kib_per_gib)) >&2
  printf 'this step needs about %d GiB in all. Free %d GiB or more (`cargo clean` in old clones\n' \
    "$need_gib" $(((missing_kib + kib_per_gib - 1) / kib_per_gib)) >&2
  printf 'of this repository, temporary directories) and run it again.\n' >&2
  exit 1
fi
