#!/usr/bin/env bash
#
# The whole pipeline on this machine: moto (DynamoDB, its streams, Scheduler),
# the tansu Kafka broker, every function under `cargo lambda watch`, and the
# emulators of the three AWS event sources that invoke them (the DynamoDB
# Streams and MSK event source mappings, and EventBridge Scheduler). Then a
# short story shows it working.
#
#   scripts/run.sh run   start it all, tell the story, keep it running until Ctrl-C
#   scripts/run.sh e2e   start it all on fresh tables and topics, run the
#                        end-to-end test and the API fuzzing run (schemathesis),
#                        stop everything; exit with their status
#
# Run it through `make run` / `make e2e`, which first start moto and tansu
# (and stop afterwards the ones they started).

set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly RUN_DIR=$ROOT/.local/run
readonly LOG_DIR=$ROOT/.local/logs
readonly LAMBDA_PORT=${LAMBDA_PORT:-9000}
readonly LAMBDA_ENDPOINT=http://127.0.0.1:$LAMBDA_PORT
# Short enough to watch an unpaid order being cancelled during the story.
readonly PAYMENT_TIMEOUT_SECONDS=${PAYMENT_TIMEOUT_SECONDS:-15}
export PATH="$ROOT/.local/tools/bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

say() { printf '\n==> %s\n' "$*"; }
die() {
  printf 'run.sh: %s\n' "$*" >&2
  exit 1
}

mode=${1:-run}
case $mode in
  run)
    suffix=local
    topic=order-events
    ;;
  e2e)
    # Fresh names, so that the test sees only what it did.
    suffix=e2e-$(date +%s)-$$
    topic=order-events-$suffix
    ;;
  *) die "usage: run.sh run|e2e" ;;
esac

# What the functions, the emulators and devstack read. The ARNs are placeholders:
# locally the Scheduler emulator takes the function name from the target ARN.
export DYNAMODB_TABLE_PREFIX=orderflow-$suffix-
export ORDER_EVENTS_TOPIC=$topic
export ORDER_EVENTS_DLQ_TOPIC=$topic-dlq
export SCHEDULE_GROUP_NAME=orderflow-timeouts-$suffix
export ESM_TOPIC=$topic
# The orders table's stream mapping retries as infra/ configures it (order_stream_* variables):
# a broker stopped for a while delays the events, it does not lose them.
export STREAM_MAX_RETRY_ATTEMPTS=${STREAM_MAX_RETRY_ATTEMPTS:-10000}
export STREAM_MAX_RECORD_AGE_SECONDS=${STREAM_MAX_RECORD_AGE_SECONDS:-21600}
export ESM_CONSUMER_GROUP_ID=orderflow-order-events-$suffix
export LAMBDA_ENDPOINT PAYMENT_TIMEOUT_SECONDS
export ORDER_TIMEOUT_FUNCTION_ARN=arn:aws:lambda:${AWS_REGION:-us-east-1}:000000000000:function:order-timeout
export SCHEDULER_ROLE_ARN=arn:aws:iam::000000000000:role/orderflow-scheduler
# Function URLs carry no JWT: locally, the caller is named by the x-dev-user header.
export DEV_IDENTITY_HEADERS=true

mkdir -p "$RUN_DIR" "$LOG_DIR"
pids=()

stop() {
  local pid
  for pid in "${pids[@]}"; do
    # Each was started in its own process group: stop the group (cargo and its children).
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  pids=()
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

port_free "$LAMBDA_PORT" || die "port $LAMBDA_PORT (the local Lambda endpoint) is already in use; stop what uses it or set LAMBDA_PORT"

# Every binary in one build, with the features of the whole workspace: the same build that
# `cargo lambda watch` runs for each function, so it starts them without compiling again.
say "building the functions, the emulators and devstack (first build: ~5 min on 2 cores; then seconds)"
cargo build --locked --bins
readonly BIN_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/debug
devstack=$BIN_DIR/devstack

say "preparing tables, topics and products ($DYNAMODB_TABLE_PREFIX*, $ORDER_EVENTS_TOPIC)"
"$devstack" bootstrap
"$devstack" seed shared/devstack/seed/products.json

say "starting the functions under cargo lambda watch on $LAMBDA_ENDPOINT (log: .local/logs/lambda.log)"
setsid cargo lambda watch --invoke-port "$LAMBDA_PORT" --ignore-changes >"$LOG_DIR/lambda.log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 120); do
  port_free "$LAMBDA_PORT" || break
  kill -0 "${pids[-1]}" 2>/dev/null || { tail -n 20 "$LOG_DIR/lambda.log" >&2; die "cargo lambda watch exited"; }
  sleep 0.5
done
port_free "$LAMBDA_PORT" && die "cargo lambda watch did not open port $LAMBDA_PORT within 60 s"

say "starting the DynamoDB Streams and MSK event source mapping and Scheduler emulators (log: .local/logs/emulators.log)"
setsid "$BIN_DIR/emulators" all >"$LOG_DIR/emulators.log" 2>&1 &
pids+=("$!")
sleep 1
kill -0 "${pids[-1]}" 2>/dev/null || { tail -n 20 "$LOG_DIR/emulators.log" >&2; die "the emulators exited"; }

if [[ $mode == e2e ]]; then
  say "running the end-to-end test"
  # The test ends by scanning the logs of this run for secrets.
  export ORDERFLOW_LOG_DIR=$LOG_DIR
  bash scripts/cargo-test.sh --locked -p orderflow-devstack --test e2e -- --ignored --nocapture
  bash scripts/infra.sh api-fuzz "$LAMBDA_ENDPOINT"
  exit
fi

say "the story (payment timeout: ${PAYMENT_TIMEOUT_SECONDS} s)"
"$devstack" story

cat <<MSG

==> the pipeline is running. Try it (the x-dev-user header names the caller):

  curl -s $LAMBDA_ENDPOINT/lambda-url/orders-api/products
  curl -s -X POST $LAMBDA_ENDPOINT/lambda-url/create-order/orders -H 'x-dev-user: you' \\
       -H 'content-type: application/json' -d '{"items":[{"product_id":"sku-mug","quantity":1}]}'
  curl -s $LAMBDA_ENDPOINT/lambda-url/orders-api/orders -H 'x-dev-user: you'
  curl -s -X POST $LAMBDA_ENDPOINT/lambda-url/orders-api/orders/ORDER_ID/pay -H 'x-dev-user: you'
  curl -s $LAMBDA_ENDPOINT/lambda-url/orders-api/notifications -H 'x-dev-user: you'

  Logs: .local/logs/lambda.log (functions), .local/logs/emulators.log, .local/logs/moto.log, .local/logs/tansu.log
  Unpaid orders are cancelled after ${PAYMENT_TIMEOUT_SECONDS} s. Ctrl-C stops everything.
MSG
wait
