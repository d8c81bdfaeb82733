#!/usr/bin/env bash
#
# `make soak`: the scenarios whose input changes from run to run, longer and
# more often than `make test` runs them. Each run of the randomized histories
# has its own seed, more customers and more actions; a failure names the seed
# that replays it (`SEED=<n> make soak SOAK_RUNS=1`). Ends with the figures
# every run reported.
#
#   SOAK_RUNS        histories to run (default 5)
#   HISTORY_USERS    customers per history (default 24)
#   HISTORY_ACTIONS  actions per customer (default 40)
#   SEED             the first run's seed (default: a new one per run)
#
# Run it through `make soak`, which starts moto and tansu first.

set -euo pipefail

runs=${SOAK_RUNS:-5}
export HISTORY_USERS=${HISTORY_USERS:-24}
export HISTORY_ACTIONS=${HISTORY_ACTIONS:-40}
ORDERFLOW_FIGURES=$(mktemp)
export ORDERFLOW_FIGURES
trap 'rm -f "$ORDERFLOW_FIGURES"' EXIT

cargo test --locked -p orderflow-emulators --test histories --no-run
started=$SECONDS
for ((run = 1; run <= runs; run++)); do
  if [[ $run -eq 1 && -n ${SEED:-} ]]; then
    seed=$SEED
  else
    seed=$(od -An -N6 -tu8 /dev/urandom | tr -d ' ')
  fi
  printf '\n==> history %d of %d: SEED=%s, %s customers, %s actions each\n' \
    "$run" "$runs" "$seed" "$HISTORY_USERS" "$HISTORY_ACTIONS"
  if ! SEED=$seed cargo test --locked --quiet -p orderflow-emulators --test histories \
    -- --nocapture; then
    printf '\nsoak: history %d failed; replay it with SEED=%s make soak SOAK_RUNS=1\n' "$run" "$seed" >&2
    exit 1
  fi
done
printf '\nsoak: %d histories passed in %d s. Their figures:\n' "$runs" $((SECONDS - started))
sed 's/^/  /' "$ORDERFLOW_FIGURES"
