#!/usr/bin/env bash
#
# Runs one step of a longer make target and says what it is, how long it
# usually takes, and how long it took:
#
#   scripts/step.sh "what it does (~2 min)" COMMAND [ARG...]
#
# Exits with the command's status.

set -uo pipefail

what=$1
shift
printf '\n==> %s\n' "$what"
start=$SECONDS
"$@"
rc=$?
elapsed=$((SECONDS - start))
if ((rc == 0)); then
  printf '==> done in %dm%02ds: %s\n' $((elapsed / 60)) $((elapsed % 60)) "${what%% (*}"
else
  printf '==> FAILED after %dm%02ds (exit %d): %s\n' $((elapsed / 60)) $((elapsed % 60)) "$rc" "${what%% (*}" >&2
fi
exit "$rc"
