# shellcheck shell=bash
# Shared helpers for the load scripts in scripts/load (sourced by run.sh and metrics.sh, not run).
# The caller sets ROOT (the repository) and `set -euo pipefail` before sourcing.
#
# load_require TOOL...                    exit 2 naming the first missing tool
# load_binary                             sets BIN: builds the release tokenmeter unless SKIP_BUILD=1;
#                                         BIN_DIR=dir uses dir/tokenmeter as it is (no build)
# load_tmpdir PREFIX                      sets TMP (removed on exit) and installs the cleanup trap
# load_free_port                          prints a free loopback port
# load_track_pid PID                      the cleanup stops PID (TERM, then KILL after 5 s)
# load_wait_http URL PID LOG [SECONDS]    waits until URL answers 2xx; fails if PID exits first
# load_start_tokenmeter DB PORT LOG       starts `tokenmeter serve` on DB, sets SERVER_PID, waits for /healthz
# load_parse_wrk FILE                     sets R_RPS R_P50 R_P99 R_REQ R_NON2XX R_ERR R_SENT from wrk --latency output
# load_to_ms LATENCY                      wrk latency ("850.00us", "1.20ms", "2s") -> milliseconds

LOAD_PIDS=()
TMP=""

load_require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || {
      echo "missing $tool (apt-get update && apt-get install -y wrk sqlite3 curl python3)" >&2
      exit 2
    }
  done
}

load_binary() {
  if [[ -n "${BIN_DIR:-}" ]]; then
    BIN="$BIN_DIR/tokenmeter"
  else
    if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
      (cd "$ROOT" && nice swift build -c release --product tokenmeter >&2)
    fi
    BIN="$(cd "$ROOT" && swift build -c release --show-bin-path)/tokenmeter"
  fi
  [[ -x "$BIN" ]] || { echo "no binary at $BIN" >&2; exit 2; }
}

load_stop_pid() {
  local pid="$1"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
}

load_cleanup() {
  local pid
  for pid in "${LOAD_PIDS[@]}"; do load_stop_pid "$pid"; done
  LOAD_PIDS=()
  if [[ -n "$TMP" ]]; then rm -rf "$TMP"; fi
}

load_tmpdir() {
  TMP="$(mktemp -d "/tmp/$1.XXXXXX")"
  trap load_cleanup EXIT
  trap 'load_cleanup; exit 130' INT TERM
}

load_track_pid() { LOAD_PIDS+=("$1"); }

load_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

load_wait_http() {
  local url="$1" pid="$2" log="$3" seconds="${4:-10}"
  for _ in $(seq 1 $((seconds * 10))); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { echo "process $pid exited:" >&2; cat "$log" >&2; exit 1; }
    sleep 0.1
  done
  curl -fsS -o /dev/null "$url" || { echo "$url not answering after $seconds s" >&2; cat "$log" >&2; exit 1; }
}

load_start_tokenmeter() {
  local db="$1" port="$2" log="$3"
  "$BIN" serve --db "$db" --host 127.0.0.1 --port "$port" --log-level warning >"$log" 2>&1 &
  SERVER_PID=$!
  load_track_pid "$SERVER_PID"
  load_wait_http "http://127.0.0.1:$port/healthz" "$SERVER_PID" "$log" 10
}

load_to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000;
    printf "%.2f", n }'
}

load_parse_wrk() {
  local out="$1"
  R_RPS="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
  R_P50="$(load_to_ms "$(awk '$1 == "50%" {print $2}' "$out")")"
  R_P99="$(load_to_ms "$(awk '$1 == "99%" {print $2}' "$out")")"
  R_REQ="$(awk '/requests in/ {print $1}' "$out")"
  R_NON2XX="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")"; R_NON2XX="${R_NON2XX:-0}"
  R_ERR="$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$out")"; R_ERR="${R_ERR:-0}"
  R_SENT="$(awk -F= '/^LOAD sent=/ {print $2}' "$out")"; R_SENT="${R_SENT:-$R_REQ}"
}
