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
# connections.
start_broker() {
  local label="$1" dir="$2" port="$3"
  local listen_host="${TANSU_LISTEN_HOST:-127.0.0.1}" adv_host="${TANSU_ADVERTISED_HOST:-127.0.0.1}"
  prepare_broker_storage "$dir"
  # tansu resolves a sqlite:// path against its working directory. It runs in a session of its
  # own so that Ctrl-C in the terminal does not reach it: it is stopped last, after the producer
  # has flushed into it (stop_stack stops processes newest first).
  (cd "$dir" && exec setsid tansu broker --storage-engine=sqlite://tansu.db \
      --listener-url="tcp://$listen_host:$port" \
      --advertised-listener-url="tcp://$adv_host:$port" \
      --cluster-id=streamhub) > >(prefix "$label") 2>&1 &
  STACK_PIDS+=($!)
  wait_for_port "$adv_host" "$port" 20 || die "the broker did not start on port $port (see its log above)"
}

# prepare_broker_storage DIR: makes sure tansu's SQLite store in DIR has the index tansu 0.6's
# schema lacks. tansu looks up the headers of every record it fetches, and without an index each
# lookup scans every header ever stored: the broker slows down in step with its log (see
# RELIABILITY.md, soak). It must be added while tansu is stopped (a running tansu fails once its
# schema changes under it), so a new store is first created by a short run of tansu on a spare
# port. Same SQL as streamhub::kafka::local_broker::HEADER_INDEX_SQL.
prepare_broker_storage() {
  local dir="$1" db="$1/tansu.db"
  mkdir -p "$dir"
  broker_storage_sql "$db" check && return 0
  if ! broker_storage_sql "$db" has-tables; then
    local port pid
    port="$(free_port)"
    (cd "$dir" && exec tansu broker --storage-engine=sqlite://tansu.db --listener-url="tcp://127.0.0.1:$port" \
        --advertised-listener-url="tcp://127.0.0.1:$port" --cluster-id=streamhub) >/dev/null 2>&1 &
    pid=$!
    wait_for_port 127.0.0.1 "$port" 20 || { kill "$pid" 2>/dev/null; die "tansu did not start to create its storage in $dir"; }
    for _ in $(seq 50); do broker_storage_sql "$db" has-tables && break; sleep 0.1; done
    kill -TERM "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  broker_storage_sql "$db" index \
    || log "could not index the broker's headers (it works, but slows down as its log grows)"
}

# broker_storage_sql DB check|has-tables|index
broker_storage_sql() {
  python3 - "$@" <<'PY'
import sqlite3, sys
db, action = sys.argv[1], sys.argv[2]
connection = sqlite3.connect(db, timeout=10)
def exists(kind, name):
    query = "select 1 from sqlite_master where type = ? and name = ?"
    return connection.execute(query, (kind, name)).fetchone() is not None
if action == "check":
    sys.exit(0 if exists("index", "streamhub_header_record") else 1)
if action == "has-tables":
    sys.exit(0 if exists("table", "header") else 1)
connection.execute("create index if not exists streamhub_header_record on header (topition, offset_id)")
connection.commit()
PY
}

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
