#!/usr/bin/env bash
#
# Runs `cargo test` with the given arguments and ends with one plain line that
# counts every test of every test binary, e.g. "tests: 84 passed, 0 failed".
# cargo prints a "test result" line per binary, and the last ones are often
# the doc-test runs of crates that have no doc tests ("0 passed"); the total
# is what a reader, and CI, needs to see. Before it, the figures the
# scenarios reported (`orderflow_testing::figures`): what each tried and
# found, which the test harness would otherwise hide. The exit status is
# cargo's.

set -euo pipefail

log=$(mktemp)
ORDERFLOW_FIGURES=$(mktemp)
export ORDERFLOW_FIGURES
trap 'rm -f "$log" "$ORDERFLOW_FIGURES"' EXIT

rc=0
cargo test "$@" 2>&1 | tee "$log" || rc=$?
if [[ -s $ORDERFLOW_FIGURES ]]; then
  printf '\nFigures of this run, scenario by scenario:\n'
  sort -s -t: -k1,1 "$ORDERFLOW_FIGURES" | sed 's/^/  /'
  printf '\n'
fi
awk '/^test result:/ { passed += $4; failed += $6 }
     END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
exit "$rc"
