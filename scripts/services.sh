#!/usr/bin/env bash
#
# Local stand-ins for the AWS services orderflow talks to, so the pipeline
# runs and is tested on one machine, without an AWS account or Docker:
#
#   moto   AWS APIs, DynamoDB above all   http://127.0.0.1:4566
#   tansu  Kafka wire protocol (for MSK)  127.0.0.1:9092, in-memory storage
#
# Both keep their data in memory only: `down` followed by `up` starts empty.
# Run `scripts/services.sh help` for the commands.

set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly LOG_DIR=$ROOT/.local/logs
readonly RUN_DIR=$ROOT/.local/run

# Addresses are numeric on purpose: tansu listens on IPv4 only, and
# "localhost" can resolve to ::1 first.
readonly MOTO_HOST=${MOTO_HOST:-127.0.0.1}
readonly MOTO_PORT=${MOTO_PORT:-4566}
readonly KAFKA_HOST=${KAFKA_HOST:-127.0.0.1}
readonly KAFKA_PORT=${KAFKA_PORT:-9092}
readonly READY_TIMEOUT=${SERVICES_TIMEOUT:-30}
readonly STOP_TIMEOUT=10

# The project's own tools (scripts/tools.sh) win over any other copy on PATH.
readonly TOOLS_BIN=$ROOT/.local/tools/bin
readonly PYTHON=$TOOLS_BIN/tools-python
export PATH="$TOOLS_BIN:$PATH"

readonly SERVICES=(moto tansu)

check_settings() {
  local var
  for var in MOTO_PORT KAFKA_PORT; do
    if ! [[ ${!var} =~ ^[1-9][0-9]{0,4}$ ]] || ((${!var} > 65535)); then
      die "$var must be a port number (1-65535), not '${!var}'"
    fi
  done
  [[ $READY_TIMEOUT =~ ^[1-9][0-9]*$ ]] ||
    die "SERVICES_TIMEOUT must be a whole number of seconds, not '$READY_TIMEOUT'"
}

# Services this invocation started, as opposed to found running: `with`
# stops only these, so it never takes down services someone else relies on.
STARTED=()

usage() {
  cat <<EOF
Usage: ${0##*/} COMMAND

Commands:
  setup          install every missing tool (scripts/tools.sh): moto, tansu,
                 cargo-lambda, zig
  up             start moto and tansu in the background (reuses running ones)
  down           stop the services that \`up\` started
  status         print one line per service
  with CMD...    \`up\`, run CMD, stop the services this call started;
                 exits with CMD's status

Environment:
  MOTO_HOST, MOTO_PORT     moto address    (default 127.0.0.1:4566)
  KAFKA_HOST, KAFKA_PORT   tansu address   (default 127.0.0.1:9092)
  SERVICES_TIMEOUT         seconds to wait for a service to be ready (default 30)
  TANSU                    a tansu 0.6 of your own instead of the prebuilt one

Logs go to .local/logs/<service>.log, pid files to .local/run/<service>.pid.
EOF
}

say() { printf '==> %s\n' "$*"; }
warn() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() {
  warn "$@"
  exit 1
}

# Serialises commands that start, stop or install: two `make test` runs
# started together would otherwise both find a port free and race for it,
# or install the tools twice. Re-entrant, because the EXIT trap of `with` may run
# while the lock is still held (a failed `up` exits from inside it).
LOCK_HELD=0
locked() {
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  if ((LOCK_HELD)) || ! command -v flock >/dev/null; then
    "$@"
    return
  fi
  {
    if ! flock -n 9; then
      say "waiting for another ${0##*/} to finish"
      flock 9
    fi
    LOCK_HELD=1
    "$@"
    LOCK_HELD=0
  } 9>"$RUN_DIR/lock"
}

### Installation ###########################################################

# Every tool comes from scripts/tools.sh, under .local/tools (prebuilt, from PyPI).
ensure_tools() {
  bash "$ROOT/scripts/tools.sh" install
}

### Service definitions ####################################################

service_host() {
  case $1 in
    moto) printf '%s\n' "$MOTO_HOST" ;;
    tansu) printf '%s\n' "$KAFKA_HOST" ;;
  esac
}

service_port() {
  case $1 in
    moto) printf '%s\n' "$MOTO_PORT" ;;
    tansu) printf '%s\n' "$KAFKA_PORT" ;;
  esac
}

service_port_var() {
  case $1 in
    moto) printf 'MOTO_PORT\n' ;;
    tansu) printf 'KAFKA_PORT\n' ;;
  esac
}

service_url() {
  case $1 in
    moto) printf 'http://%s:%s\n' "$MOTO_HOST" "$MOTO_PORT" ;;
    tansu) printf '%s:%s\n' "$KAFKA_HOST" "$KAFKA_PORT" ;;
  esac
}

# A fragment of the command line that identifies the service in
# /proc/<pid>/cmdline, so a pid recycled by an unrelated process after a
# crash is never mistaken for ours (and never signalled).
service_signature() {
  case $1 in
    moto) printf 'scripts/moto_server.py\n' ;;
    tansu) printf 'tansu broker\n' ;;
  esac
}

# Sets CMD to the service's command line.
service_command() {
  case $1 in
    moto)
      # -u: unbuffered, so the log shows a crash's last words.
      CMD=("$PYTHON" -u "$ROOT/scripts/moto_server.py" --host "$MOTO_HOST" --port "$MOTO_PORT")
      ;;
    tansu)
      # tansu also reads its settings from the environment (STORAGE_ENGINE,
      # SCHEMA_REGISTRY, ...): pass every one that matters as a flag, and
      # drop the optional ones a developer's shell may carry for other work.
      CMD=(env -u SCHEMA_REGISTRY -u OTEL_EXPORTER_OTLP_ENDPOINT
        tansu broker
        --cluster-id orderflow-local
        --storage-engine memory://tansu/
        --listener-url "tcp://$KAFKA_HOST:$KAFKA_PORT"
        --advertised-listener-url "tcp://$KAFKA_HOST:$KAFKA_PORT")
      ;;
  esac
}

# Per port: a stack started on other ports (MOTO_PORT=4600 make test) is
# another stack, never mistaken for, or stopped instead of, the default one.
pid_file() { printf '%s/%s-%s.pid\n' "$RUN_DIR" "$1" "$(service_port "$1")"; }
log_file() { printf '%s/%s.log\n' "$LOG_DIR" "$1"; }

### Probes #################################################################

http_ok() {
  if command -v curl >/dev/null; then
    curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null
  else
    "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
      "$1" >/dev/null 2>&1
  fi
}

# A Kafka ApiVersions round trip rather than a bare TCP connect: the
# listener accepts connections a moment before the broker can answer them,
# and an answer is what clients (and the bootstrap that creates topics) need.
kafka_ok() {
  "$PYTHON" - "$1" "$2" >/dev/null 2>&1 <<'PY'
import socket, struct, sys

host, port = sys.argv[1], int(sys.argv[2])
correlation_id = 0x0BADF00D
client_id = b"orderflow-services"
# ApiVersions (key 18) v0: the request every broker answers before any other.
body = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
with socket.create_connection((host, port), timeout=2) as conn:
    conn.settimeout(2)
    conn.sendall(struct.pack(">i", len(body)) + body)
    head = b""
    while len(head) < 10:  # length, correlation id, error code
        chunk = conn.recv(10 - len(head))
        if not chunk:
            sys.exit(1)
        head += chunk
_, got_id, error_code = struct.unpack(">iih", head)
sys.exit(0 if got_id == correlation_id and error_code == 0 else 1)
PY
}

probe() {
  case $1 in
    moto) http_ok "http://$MOTO_HOST:$MOTO_PORT/moto-api/" ;;
    tansu) kafka_ok "$KAFKA_HOST" "$KAFKA_PORT" ;;
  esac
}

### Processes ##############################################################

# True while the process exists; a zombie counts as gone, since it will
# never answer again and only waits for its parent to reap it.
is_alive() {
  local stat
  # `read`, not $(<file): under `set -e` a missing file in $(<file) ends
  # the script even where the caller tests the result.
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

# Prints the pid from the service's pid file if that process is alive and
# really is the service.
live_pid() {
  local svc=$1 pid cmdline
  { read -r pid <"$(pid_file "$svc")"; } 2>/dev/null || return 1
  [[ $pid =~ ^[0-9]+$ ]] && is_alive "$pid" || return 1
  cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ $cmdline == *"$(service_signature "$svc")"* ]] || return 1
  printf '%s\n' "$pid"
}

# True if something listens on port $2 (of host $1 or a wildcard address).
port_busy() {
  if command -v ss >/dev/null; then
    [[ -n $(ss -Hltn "sport = :$2" 2>/dev/null) ]]
  else
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
  fi
}

# Prints "NAME (pid N)" for the listener on port $1, when ss can tell.
port_holder() {
  local out re='users:\(\("([^"]+)",pid=([0-9]+)'
  command -v ss >/dev/null || return 0
  out=$(ss -Hltnp "sport = :$1" 2>/dev/null) || return 0
  if [[ $out =~ $re ]]; then
    printf '%s (pid %s)\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
  fi
}

# Signals the service's whole process group when it leads one (it does when
# `up` started it), so no helper process outlives it; else just the pid.
signal_service() {
  local sig=$1 pid=$2
  kill -s "$sig" -- "-$pid" 2>/dev/null || kill -s "$sig" "$pid" 2>/dev/null || true
}

# Waits up to $2 seconds for pid $1 to exit.
wait_exit() {
  local pid=$1 tenths=$(($2 * 10))
  while ((tenths-- > 0)); do
    is_alive "$pid" || return 0
    sleep 0.1
  done
  ! is_alive "$pid"
}

launch() {
  local svc=$1 log pidfile
  log=$(log_file "$svc")
  pidfile=$(pid_file "$svc")
  service_command "$svc"
  # Keep the previous run's log: after a crash it is the one worth reading.
  if [[ -f $log ]]; then mv -f "$log" "$log.1"; fi
  # setsid gives the service a session and process group of its own: it
  # outlives this script and its terminal, a Ctrl-C aimed at a test run
  # does not reach it, and `down` can signal the whole group. The child
  # writes its own pid file because setsid forks when the caller already
  # leads a process group, and then $! would name the wrong process. It
  # also closes every inherited descriptor beyond stderr: one left open
  # would keep our lock held, or a caller's pipe from ever reaching EOF,
  # for as long as the service lives. The outer subshell lets init adopt
  # the service at once.
  # shellcheck disable=SC2016 # expanded by the child shell
  (
    setsid bash -c '
      pidfile=$1; shift
      for fd in /proc/self/fd/*; do
        fd=${fd##*/}
        if ((fd > 2)); then exec {fd}>&-; fi
      done
      echo "$$" >"$pidfile.tmp" && mv -f "$pidfile.tmp" "$pidfile" && exec "$@"
    ' launch-"$svc" "$pidfile" "${CMD[@]}" </dev/null >"$log" 2>&1 &
  )
}

# Gives up on a service that did not come up: stops it if it still runs,
# shows why from its log, and exits.
startup_failed() {
  local svc=$1 reason=$2 log pid
  log=$(log_file "$svc")
  if pid=$(live_pid "$svc"); then
    signal_service KILL "$pid"
    wait_exit "$pid" 2 || true
  fi
  rm -f "$(pid_file "$svc")"
  {
    printf '%s: %s %s\n' "${0##*/}" "$svc" "$reason"
    printf -- '--- last lines of %s ---\n' "${log#"$ROOT"/}"
    tail -n 25 "$log" 2>/dev/null || printf '(no log)\n'
    printf -- '---\n'
    if [[ $svc == tansu ]] && grep -q FeatureNotEnabled "$log" 2>/dev/null; then
      printf 'This tansu lacks the memory storage engine; build one with\n'
      printf '  cargo install tansu --version 0.6.0 --locked --no-default-features --features dynostore\n'
      printf 'and point TANSU at it.\n'
    fi
  } >&2
  exit 1
}

# Waits until the service answers. $2 says whether this call launched it:
# only then may its pid file still be on the way, and only then is it ours
# to stop when it does not come up.
wait_ready() {
  local svc=$1 launched=$2 pid='' start=$EPOCHREALTIME deadline=$((SECONDS + READY_TIMEOUT))
  while ((SECONDS < deadline)); do
    if [[ -z $pid ]]; then
      { read -r pid <"$(pid_file "$svc")"; } 2>/dev/null || pid=
    fi
    if [[ -n $pid ]] && ! is_alive "$pid"; then
      ((launched)) || die "$svc (pid $pid) exited; run '${0##*/} up' again"
      startup_failed "$svc" "exited during startup"
    fi
    if [[ -n $pid ]] && probe "$svc"; then
      if ((launched)); then
        say "$svc ready at $(service_url "$svc") (pid $pid, $(elapsed "$start")s)"
      fi
      return 0
    fi
    sleep 0.2
  done
  ((launched)) || die "$svc (pid $pid) is running but did not answer at $(service_url "$svc") within ${READY_TIMEOUT}s"
  startup_failed "$svc" "did not answer at $(service_url "$svc") within ${READY_TIMEOUT}s"
}

# Seconds since $1, an $EPOCHREALTIME value, to one decimal.
elapsed() {
  local us=$((${EPOCHREALTIME//[.,]/} - ${1//[.,]/}))
  printf '%d.%d\n' $((us / 1000000)) $((us % 1000000 / 100000))
}

# Fails unless the service runs already or its port is free.
check_startable() {
  local svc=$1 port holder
  live_pid "$svc" >/dev/null && return
  port=$(service_port "$svc")
  if port_busy "$(service_host "$svc")" "$port"; then
    holder=$(port_holder "$port")
    die "cannot start $svc: port $port is already in use${holder:+ by $holder}." \
      "Stop that process, or choose another port with $(service_port_var "$svc")=..."
  fi
}

start_service() {
  local svc=$1 pid
  if pid=$(live_pid "$svc"); then
    say "$svc already running at $(service_url "$svc") (pid $pid)"
    wait_ready "$svc" 0
    return
  fi
  rm -f "$(pid_file "$svc")"
  check_startable "$svc"
  say "starting $svc (log: ${LOG_DIR#"$ROOT"/}/$svc.log)"
  launch "$svc"
  STARTED+=("$svc")
  wait_ready "$svc" 1
}

# Stops the service; with a second argument "quiet", reports only trouble.
stop_service() {
  local svc=$1 quiet=${2-} pid
  if ! pid=$(live_pid "$svc"); then
    rm -f "$(pid_file "$svc")"
    [[ -n $quiet ]] || say "$svc not running"
    return 0
  fi
  [[ -n $quiet ]] || say "stopping $svc (pid $pid)"
  signal_service TERM "$pid"
  if ! wait_exit "$pid" "$STOP_TIMEOUT"; then
    warn "$svc ignored SIGTERM for ${STOP_TIMEOUT}s; sending SIGKILL"
    signal_service KILL "$pid"
    wait_exit "$pid" 5 || warn "$svc (pid $pid) survived SIGKILL"
  fi
  rm -f "$(pid_file "$svc")"
}

### Commands ###############################################################

cmd_up() {
  local svc
  # Every port first: a conflict should surface before an install, and
  # before the other service is left running on its own.
  for svc in "${SERVICES[@]}"; do
    check_startable "$svc"
  done
  ensure_tools
  for svc in "${SERVICES[@]}"; do
    start_service "$svc"
  done
}

cmd_down() {
  local svc
  for svc in "${SERVICES[@]}"; do
    stop_service "$svc"
  done
}

cmd_status() {
  local svc pid state detail holder
  for svc in "${SERVICES[@]}"; do
    detail=
    if pid=$(live_pid "$svc"); then
      state=running
      probe "$svc" || state="not answering"
      detail="$(service_url "$svc")  pid $pid"
    else
      state=stopped
      if port_busy "$(service_host "$svc")" "$(service_port "$svc")"; then
        holder=$(port_holder "$(service_port "$svc")")
        detail="port $(service_port "$svc") taken by ${holder:-another process}"
      fi
    fi
    if [[ -n $detail ]]; then
      printf '%-6s %-14s %s\n' "$svc" "$state" "$detail"
    else
      printf '%-6s %s\n' "$svc" "$state"
    fi
  done
}

# Quietly, so that the wrapped command's own summary (a test runner's
# totals) stays the last thing printed.
stop_started() {
  local i
  for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
    stop_service "${STARTED[i]}" quiet || true
  done
}

cmd_with() {
  [[ ${1-} == -- ]] && shift
  (($#)) || die "usage: ${0##*/} with [--] COMMAND [ARG...]"
  # The EXIT trap also runs when `up` fails halfway or the user hits
  # Ctrl-C, so a failed run leaves nothing behind that it started.
  trap 'locked stop_started' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  locked cmd_up
  local rc=0
  "$@" || rc=$?
  exit "$rc"
}

main() {
  local cmd=${1-}
  (($#)) && shift
  check_settings
  case $cmd in
    setup) locked ensure_tools ;;
    up) locked cmd_up ;;
    down) locked cmd_down ;;
    status) cmd_status ;;
    with) cmd_with "$@" ;;
    help | -h | --help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
