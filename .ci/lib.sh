# Shared shell helpers for the scripts in .ci/ (sourced, not run).

# Pinned tool versions: the ones measured to build on this machine's Rust (see README, Toolchain).
TANSU_VERSION="0.6.0"
SCHEMATHESIS_VERSION="4.32.5"
WASM_SPLIT_VERSION="0.2.4"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# phase NAME COMMAND...: runs COMMAND and prints how long it took.
phase() {
  local name="$1"; shift
  local start=$SECONDS
  log "$name"
  "$@"
  local status=$?
  printf '    %s took %ds\n' "$name" $((SECONDS - start)) >&2
  return $status
}

# The wasm-bindgen version that Cargo.lock pins (the CLI must match it exactly).
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

# wait_for_port HOST PORT SECONDS: true once something accepts TCP connections there.
wait_for_port() {
  local host="$1" port="$2" deadline=$((SECONDS + $3))
  while (( SECONDS < deadline )); do
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# free_port: a loopback TCP port that nothing listens on right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for_http URL SECONDS: true once URL answers 2xx.
wait_for_http() {
  local url="$1" deadline=$((SECONDS + $2))
  while (( SECONDS < deadline )); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

# --- Running the stack (used by `make run` and the end-to-end suite) ---------------------------

STACK_PIDS=()

# prefix LABEL: copies stdin to stderr with "[LABEL] " before each line.
# It ignores SIGINT so that on Ctrl-C the processes' last lines still get through.
prefix() { trap '' INT; sed -u "s/^/[$1] /" >&2; }

# start_broker LABEL DIR PORT: starts tansu with durable SQLite storage in DIR, listening on
# 127.0.0.1:PORT (or $TANSU_LISTEN_HOST / $TANSU_ADVERTISED_HOST), and waits until it accepts
# connections. `local-broker run` prepares the storage as the Rust tests' brokers are prepared
# (streamhub_testkit::broker) and then becomes tansu. It runs in a session of its own so that
# Ctrl-C in the terminal does not reach it: it is stopped last, after the producer has flushed
# into it (stop_stack stops processes newest first).
start_broker() {
  local label="$1" dir="$2" port="$3"
  local listen_host="${TANSU_LISTEN_HOST:-127.0.0.1}" adv_host="${TANSU_ADVERTISED_HOST:-127.0.0.1}"
  mkdir -p "$dir"
  (exec setsid "$(local_broker_path)" run "$dir" --listen "$listen_host:$port" \
      --advertise "$adv_host:$port" --cluster-id streamhub) > >(prefix "$label") 2>&1 &
  STACK_PIDS+=($!)
  # Preparing a new store runs tansu once on a spare port first: allow for it.
  wait_for_port "$adv_host" "$port" 40 || die "the broker did not start on port $port (see its log above)"
}

# testkit_path NAME: one of the testkit's binaries (`local-broker`, `local-postgres`; built by
# `make build` and `make build-release`), from the profile this script runs (PROFILE_DIR,
# default debug), else the other.
testkit_path() {
  local profile
  for profile in "${PROFILE_DIR:-debug}" release debug; do
    [[ -x "$CARGO_TARGET_DIR/$profile/$1" ]] && { echo "$CARGO_TARGET_DIR/$profile/$1"; return; }
  done
  die "$1 is not built (make build)"
}

local_broker_path() { testkit_path local-broker; }

# start_process LABEL COMMAND...: starts COMMAND in the background, its output prefixed with
# LABEL, and remembers its pid for stop_stack.
start_process() {
  local label="$1"; shift
  "$@" > >(prefix "$label") 2>&1 &
  STACK_PIDS+=($!)
}

# stop_stack: SIGTERM to everything started, newest first, then waits (SIGKILL after 10 s).
stop_stack() {
  local pid i
  for ((i = ${#STACK_PIDS[@]} - 1; i >= 0; i--)); do
    pid="${STACK_PIDS[$i]}"
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  STACK_PIDS=()
}
