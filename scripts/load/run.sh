#!/usr/bin/env bash
# HTTP load test of the release tokenmeter binary with wrk, on loopback (issue 7).
# One command: builds, starts `tokenmeter serve` on a temporary database (default synchronous FULL),
# measures GET /healthz (the HTTP ceiling, the reference) and POST /v1/usage with 1, 100 and 1000
# records per body (array) and 1000 records per body (NDJSON), checks every run against the store,
# stops the server and prints a markdown table.
#
# Usage: scripts/load/run.sh [seconds per run (10)]
# Environment: THREADS (2), CONNS (32), BATCH_CONNS (connection counts for the batched runs, a
#              space-separated list, default "32 4": 32 loads the server fully, 4 keeps p99 sane),
#              SKIP_BUILD=1 to reuse the existing release binary.
# Needs: wrk, sqlite3, curl, python3 (for a free port).
set -euo pipefail

DURATION="${1:-10}"
THREADS="${THREADS:-2}"
CONNS="${CONNS:-32}"
BATCH_CONNS="${BATCH_CONNS:-32 4}"
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

for tool in wrk sqlite3 curl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y wrk sqlite3 curl)" >&2; exit 2; }
done

cd "$ROOT"
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  swift build -c release --product tokenmeter >&2
fi
BIN="$(swift build -c release --show-bin-path)/tokenmeter"
[[ -x "$BIN" ]] || { echo "no binary at $BIN" >&2; exit 2; }

TMP="$(mktemp -d /tmp/tokenmeter-load.XXXXXX)"
DB="$TMP/load.sqlite"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
URL="http://127.0.0.1:$PORT"
"$BIN" serve --db "$DB" --host 127.0.0.1 --port "$PORT" --log-level warning >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "$URL/healthz" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited:" >&2; cat "$TMP/server.log" >&2; exit 1; }
  sleep 0.1
done
curl -fsS "$URL/healthz" >/dev/null || { echo "server not healthy after 10 s" >&2; exit 1; }

rows() { sqlite3 "$DB" 'PRAGMA busy_timeout=5000; SELECT count(*) FROM usage_records;' | tail -1; }

# wrk latency -> milliseconds
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000;
    printf "%.2f", n }'
}

# run NAME CONNS RECORDS FORMAT [healthz]
# Sets: R_RPS R_P50 R_P99 R_REQ R_NON2XX R_ERR R_SENT
run_wrk() {
  local name="$1" conns="$2" records="$3" format="$4" out="$TMP/$1.txt"
  if [[ "$format" == healthz ]]; then
    timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$conns" -d"${DURATION}s" --latency "$URL/healthz" >"$out" 2>&1
  else
    RECORDS="$records" FORMAT="$format" RUN="$name" \
      timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$conns" -d"${DURATION}s" --latency \
      -s "$HERE/ingest.lua" "$URL/v1/usage" >"$out" 2>&1
  fi
  cat "$out" >&2
  R_RPS="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
  R_P50="$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")"
  R_P99="$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")"
  R_REQ="$(awk '/requests in/ {print $1}' "$out")"
  R_NON2XX="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")"; R_NON2XX="${R_NON2XX:-0}"
  R_ERR="$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$out")"; R_ERR="${R_ERR:-0}"
  R_SENT="$(awk -F= '/^LOAD sent=/ {print $2}' "$out")"; R_SENT="${R_SENT:-$R_REQ}"
}

TABLE=()
CHECKS=()
HEALTH_RPS=""

measure_ingest() { # NAME LABEL CONNS RECORDS FORMAT
  local name="$1" label="$2" conns="$3" records="$4" format="$5"
  local before after added accepted upper ratio recs_s check
  before="$(rows)"
  run_wrk "$name" "$conns" "$records" "$format"
  sleep 1 # let requests still in flight when wrk stopped reach their commit
  after="$(rows)"
  added=$((after - before))
  accepted=$(( (R_REQ - R_NON2XX) * records ))
  upper=$(( (R_SENT - R_NON2XX) * records ))
  if (( added == accepted )); then
    check="ok: $added rows = $accepted accepted"
  elif (( added > accepted && added <= upper )); then
    check="ok: $added rows = $accepted accepted + $((added - accepted)) from requests in flight when wrk stopped"
  else
    check="MISMATCH: $added rows, $accepted accepted (at most $upper sent)"
  fi
  (( R_NON2XX == 0 )) || check="$check; $R_NON2XX non-2xx"
  (( R_ERR == 0 )) || check="$check; $R_ERR socket errors"
  recs_s="$(awk -v r="$R_RPS" -v n="$records" 'BEGIN {printf "%.0f", r * n}')"
  ratio="$(awk -v r="$R_RPS" -v h="$HEALTH_RPS" 'BEGIN {printf "%.1f%%", 100 * r / h}')"
  TABLE+=("| $label | $conns | $records | $(printf '%.0f' "$R_RPS") | $recs_s | $R_P50 | $R_P99 | $ratio | $check |")
}

run_wrk healthz "$CONNS" 0 healthz
HEALTH_RPS="$R_RPS"
TABLE+=("| GET /healthz (reference) | $CONNS | - | $(printf '%.0f' "$R_RPS") | - | $R_P50 | $R_P99 | 100% | $R_NON2XX non-2xx, $R_ERR socket errors |")

measure_ingest single "POST /v1/usage, 1 record (object)" "$CONNS" 1 json
for bc in $BATCH_CONNS; do
  measure_ingest "array100-c$bc" "POST /v1/usage, JSON array" "$bc" 100 json
  measure_ingest "array1000-c$bc" "POST /v1/usage, JSON array" "$bc" 1000 json
  measure_ingest "ndjson1000-c$bc" "POST /v1/usage, NDJSON" "$bc" 1000 ndjson
done

run_wrk healthz2 "$CONNS" 0 healthz
TABLE+=("| GET /healthz again (noise check) | $CONNS | - | $(printf '%.0f' "$R_RPS") | - | $R_P50 | $R_P99 | $(awk -v r="$R_RPS" -v h="$HEALTH_RPS" 'BEGIN {printf "%.1f%%", 100 * r / h}') | $R_NON2XX non-2xx, $R_ERR socket errors |")

if grep -qiE 'error|fatal' "$TMP/server.log"; then
  echo "server log has errors:" >&2; grep -iE 'error|fatal' "$TMP/server.log" | head -20 >&2
fi

echo
echo "wrk -t$THREADS -d${DURATION}s --latency, loopback, synchronous FULL, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo
echo "| run | connections | records/body | requests/s | records/s | p50 ms | p99 ms | requests/s ÷ /healthz | check |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
printf '%s\n' "${TABLE[@]}"
