# Shared shell helpers for the scripts in .ci/ (sourced, not run).

# Pinned tool versions: the ones measured to build on this machine's Rust (see docs/design.md).
TANSU_VERSION="0.6.0"
SCHEMATHESIS_VERSION="4.32.5"
CONFLUENT_KAFKA_VERSION="2.16.1"
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

# retry SECONDS COMMAND...: runs COMMAND until it succeeds, pausing RETRY_PAUSE (default 0.2) s
# between tries; false if it still fails on the first try at or after SECONDS from now.
retry() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    (( SECONDS < deadline )) || return 1
    sleep "${RETRY_PAUSE:-0.2}"
  done
}

# tcp_open HOST PORT: true if something accepts TCP connections there now.
tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_for_port HOST PORT SECONDS: true once something accepts TCP connections there.
wait_for_port() { RETRY_PAUSE=0.1 retry "$3" tcp_open "$1" "$2"; }

# free_port: a loopback TCP port that nothing listens on right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for_http URL SECONDS: true once URL answers 2xx.
wait_for_http() { retry "$2" curl -fsS -o /dev/null "$1" 2>/dev/null; }

# random_hex: 16 random hex digits (for throwaway secrets).
random_hex() { od -An -N8 -tx1 /dev/urandom | tr -d ' \n'; }

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

# forget_pid PID: a process the script ended itself, which stop_stack must not signal again
# (its pid may be another process's by then).
forget_pid() {
  local kept=() pid
  for pid in "${STACK_PIDS[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
  STACK_PIDS=("${kept[@]}")
}

# --- Hosts on one machine (.ci/hosts, .ci/hosts-cluster) ----------------------------------------
# Network namespaces joined by a bridge in the root namespace, one veth from it into each.

NETNS_TAG=""
NETNS_HOSTS=()
declare -gA NETNS_ADDR=()

# netns_available TAG: true where network namespaces can be created (root with CAP_NET_ADMIN);
# creates and deletes TAG-probe to find out.
netns_available() {
  [ "$(id -u)" = 0 ] || return 1
  ip netns add "$1-probe" 2>/dev/null || return 1
  ip netns del "$1-probe"
}

# netns_up TAG NET HOST=N...: the bridge TAGbr, then for each HOST in order the namespace TAG-HOST
# with lo up and eth0 at NET.N/24, the peer of a veth on the bridge named by netns_link.
# netns_down removes it all, also what a netns_up that failed part-way had created.
netns_up() {
  local net="$2" spec h ns
  NETNS_TAG="$1"
  shift 2
  NETNS_HOSTS=()
  for spec in "$@"; do
    NETNS_HOSTS+=("${spec%%=*}")
    NETNS_ADDR[${spec%%=*}]="$net.${spec#*=}"
  done
  ip link add "${NETNS_TAG}br" type bridge
  ip link set "${NETNS_TAG}br" up
  for h in "${NETNS_HOSTS[@]}"; do
    ns="$NETNS_TAG-$h"
    ip netns add "$ns"
    ip link add "$(netns_link "$h")" type veth peer name eth0 netns "$ns"
    ip link set "$(netns_link "$h")" master "${NETNS_TAG}br" up
    ip -n "$ns" addr add "${NETNS_ADDR[$h]}/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
  done
}

# netns_down: deletes netns_up's namespaces (their veths go with them), then its bridge.
netns_down() {
  [ -n "$NETNS_TAG" ] || return 0
  local h
  for h in "${NETNS_HOSTS[@]}"; do ip netns del "$NETNS_TAG-$h" 2>/dev/null || true; done
  ip link del "${NETNS_TAG}br" 2>/dev/null || true
}

# netns_addr HOST: the host's address. netns_link HOST: its veth's end on the bridge (set it down
# to cut the host off).
netns_addr() { echo "${NETNS_ADDR[$1]}"; }
netns_link() { echo "${NETNS_TAG}${1:0:3}"; }

# netns_on HOST COMMAND...: runs COMMAND on the host. Processes for stop_stack are started with
# `ip netns exec TAG-HOST` directly instead, so that their pid is the process itself.
netns_on() {
  local ns="$NETNS_TAG-$1"
  shift
  ip netns exec "$ns" "$@"
}

# netns_serves HOST URL [TEXT]: true if URL, asked from the host, answers 2xx (with TEXT in it).
netns_serves() {
  if [ $# -gt 2 ]; then
    netns_on "$1" curl -sf "$2" | grep -q "$3"
  else
    netns_on "$1" curl -sf "$2" >/dev/null
  fi
}

# netns_wait_tcp HOST ADDR PORT SECONDS: true once something at ADDR:PORT accepts TCP connections
# from the host.
netns_wait_tcp() {
  # shellcheck disable=SC2016  # $0 and $1 are the inner bash's: ADDR and PORT
  retry "$4" netns_on "$1" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$2" "$3" 2>/dev/null
}

# netns_start_producer HOST PRODUCER DIR VAR=VALUE...: the producer daemon PRODUCER on HOST with
# its state in DIR/producer and its output in DIR/producer.log, polling every 500 ms, without
# periodic status lines, and the environment VAR=VALUE... besides; its pid goes to STACK_PIDS.
netns_start_producer() {
  local ns="$NETNS_TAG-$1" producer="$2" dir="$3"
  shift 3
  ip netns exec "$ns" env STREAMHUB_DATA_DIR="$dir/producer" PRODUCER_POLL_INTERVAL_MS=500 \
    PRODUCER_STATUS_INTERVAL_S=3600 NO_COLOR=1 "$@" "$producer" > "$dir/producer.log" 2>&1 &
  STACK_PIDS+=($!)
}

# netns_start_broker HOST DIR: tansu with its storage in DIR (prepared here: the first tansu run
# uses a spare loopback port) on HOST, listening on :9092 and advertising the host's address:9092,
# in a session of its own; its pid goes to STACK_PIDS. It does not wait for the broker.
netns_start_broker() {
  "$(local_broker_path)" prepare "$2"
  (exec ip netns exec "$NETNS_TAG-$1" setsid "$(local_broker_path)" run "$2" \
      --listen 0.0.0.0:9092 --advertise "$(netns_addr "$1"):9092" --cluster-id streamhub) > >(prefix broker) 2>&1 &
  STACK_PIDS+=($!)
}
