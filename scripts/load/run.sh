#!/usr/bin/env bash
# HTTP load test of the release tokenmeter binary with wrk, on loopback (issue 7).
# One command: builds, starts `tokenmeter serve` on a temporary database (default synchronous FULL),
# measures GET /healthz (the HTTP ceiling, the reference) and POST /v1/usage with 1, 100 and 1000
# records per body (array) and 1000 records per body (NDJSON), every record with a random id (as
# real callers send: UUIDs, provider generation ids), then 1000-record arrays without ids (the
# server makes time-ordered UUIDv7s), checks every run against the store, stops the server and
# prints a markdown table.
#
# Usage: scripts/load/run.sh [seconds per run (10)]
# Environment: THREADS (2), CONNS (32), BATCH_CONNS (connection counts for the batched runs, a
#              space-separated list, default "32 4": 32 loads the server fully, 4 keeps p99 sane),
#              SKIP_BUILD=1 to reuse the existing release binary (BIN_DIR=dir: use dir/tokenmeter),
#              RESULTS_TSV=path to append one line per run for scripts/bench/run: "benchmark<TAB>value<TAB>
#              unit (and p50/p99)<TAB>reference<TAB>reference value<TAB>ratio<TAB>target"; the value is
#              requests/s for /healthz and single records, records/s for batched bodies; the ratio is
#              requests/s ÷ the first /healthz run's requests/s.
# Needs: wrk, sqlite3, curl, python3 (for a free port).
set -euo pipefail

DURATION="${1:-10}"
THREADS="${THREADS:-2}"
CONNS="${CONNS:-32}"
BATCH_CONNS="${BATCH_CONNS:-32 4}"
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

# shellcheck source=scripts/load/common.sh
source "$HERE/common.sh"
load_require wrk sqlite3 curl python3

cd "$ROOT"
load_binary
load_tmpdir tokenmeter-load
DB="$TMP/load.sqlite"
PORT="$(load_free_port)"
URL="http://127.0.0.1:$PORT"
load_start_tokenmeter "$DB" "$PORT" "$TMP/server.log"

rows() { sqlite3 "$DB" 'PRAGMA busy_timeout=5000; SELECT count(*) FROM usage_records;' | tail -1; }

# run NAME CONNS RECORDS FORMAT [healthz]
# Sets: R_RPS R_P50 R_P99 R_REQ R_NON2XX R_ERR R_SENT
run_wrk() {
  local name="$1" conns="$2" records="$3" format="$4" out="$TMP/$1.txt"
  if [[ "$format" == healthz ]]; then
    timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$conns" -d"${DURATION}s" --latency "$URL/healthz" >"$out" 2>&1
  else
    local ids=random
    if [[ "$format" == json-noid ]]; then format=json ids=none; fi
    RECORDS="$records" FORMAT="$format" IDS="$ids" RUN="$name" \
      timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$conns" -d"${DURATION}s" --latency \
      -s "$HERE/ingest.lua" "$URL/v1/usage" >"$out" 2>&1
  fi
  cat "$out" >&2
  load_parse_wrk "$out"
}

TABLE=()
CHECKS=()
TSV=()
HEALTH_RPS=""
SYNC_TEXT="synchronous FULL"
TARGET_SINGLE="requests/s >= 50% of /healthz and p99 < 10 ms at 32 connections"
TARGET_BATCHED=">= 100,000 records/s (durable: synchronous FULL, group commit)"
tsv() { TSV+=("$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s' "$@")"); }

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

  local tsv_name="HTTP $label, $records records per body" detail="" value unit target
  (( records > 1 )) || tsv_name="HTTP $label"
  [[ "$format" == json-noid ]] || tsv_name="$tsv_name, random ids"
  tsv_name="$tsv_name, $conns connections, $SYNC_TEXT"
  [[ "$check" == ok:* && "$check" != *";"* ]] || detail="; check: $check"
  if (( records == 1 )); then
    value="$(printf '%.0f' "$R_RPS")"; unit="requests/s (p50 $R_P50 ms, p99 $R_P99 ms$detail)"; target="$TARGET_SINGLE"
  else
    value="$recs_s"; unit="records/s ($(printf '%.0f' "$R_RPS") requests/s, p50 $R_P50 ms, p99 $R_P99 ms$detail)"; target="$TARGET_BATCHED"
  fi
  tsv "$tsv_name" "$value" "$unit" "GET /healthz, $CONNS connections, same server" "$(printf '%.0f' "$HEALTH_RPS") requests/s" \
    "$(awk -v r="$R_RPS" -v h="$HEALTH_RPS" 'BEGIN {printf "%.3g", r / h}')" "$target"
}

run_wrk healthz "$CONNS" 0 healthz
HEALTH_RPS="$R_RPS"
TABLE+=("| GET /healthz (reference) | $CONNS | - | $(printf '%.0f' "$R_RPS") | - | $R_P50 | $R_P99 | 100% | $R_NON2XX non-2xx, $R_ERR socket errors |")
tsv "HTTP GET /healthz (the reference), $CONNS connections" "$(printf '%.0f' "$R_RPS")" \
  "requests/s (p50 $R_P50 ms, p99 $R_P99 ms; $R_NON2XX non-2xx, $R_ERR socket errors)" "-" "-" "-" ""

measure_ingest single "POST /v1/usage, 1 record (object)" "$CONNS" 1 json
for bc in $BATCH_CONNS; do
  measure_ingest "array100-c$bc" "POST /v1/usage, JSON array" "$bc" 100 json
  measure_ingest "array1000-c$bc" "POST /v1/usage, JSON array" "$bc" 1000 json
  measure_ingest "ndjson1000-c$bc" "POST /v1/usage, NDJSON" "$bc" 1000 ndjson
done
# The runs above send random ids (each lands on a random leaf of the id index); records without an
# id get a server UUIDv7, which appends to it.
measure_ingest "array1000-noid" "POST /v1/usage, JSON array without ids (server UUIDv7)" 4 1000 json-noid

run_wrk healthz2 "$CONNS" 0 healthz
TABLE+=("| GET /healthz again (noise check) | $CONNS | - | $(printf '%.0f' "$R_RPS") | - | $R_P50 | $R_P99 | $(awk -v r="$R_RPS" -v h="$HEALTH_RPS" 'BEGIN {printf "%.1f%%", 100 * r / h}') | $R_NON2XX non-2xx, $R_ERR socket errors |")
tsv "HTTP GET /healthz again at the end (noise check), $CONNS connections" "$(printf '%.0f' "$R_RPS")" \
  "requests/s (p50 $R_P50 ms, p99 $R_P99 ms; $R_NON2XX non-2xx, $R_ERR socket errors)" \
  "GET /healthz at the start" "$(printf '%.0f' "$HEALTH_RPS") requests/s" \
  "$(awk -v r="$R_RPS" -v h="$HEALTH_RPS" 'BEGIN {printf "%.3g", r / h}')" ""

if grep -qiE 'error|fatal' "$TMP/server.log"; then
  echo "server log has errors:" >&2; grep -iE 'error|fatal' "$TMP/server.log" | head -20 >&2
fi

echo
echo "wrk -t$THREADS -d${DURATION}s --latency, loopback, synchronous FULL, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo
echo "| run | connections | records/body | requests/s | records/s | p50 ms | p99 ms | requests/s ÷ /healthz | check |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
printf '%s\n' "${TABLE[@]}"

if [[ -n "${RESULTS_TSV:-}" ]]; then
  printf '%s\n' "${TSV[@]}" >>"$RESULTS_TSV"
  echo
  echo "appended ${#TSV[@]} lines to $RESULTS_TSV"
fi
