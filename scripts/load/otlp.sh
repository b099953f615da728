#!/usr/bin/env bash
# OTLP ingest throughput (issue 16): spans/s through POST /v1/traces (protobuf, SPANS GenAI spans per
# export) next to records/s through POST /v1/usage (JSON array of as many records) on the same
# server in the same run, each checked against the rows the store gained. Release binary, loopback,
# synchronous FULL, wrk.
#
# Usage: scripts/load/otlp.sh [seconds per run (10)]
# Environment: THREADS (2), CONNS (connection counts, default "4 32"), SPANS (100), SKIP_BUILD=1 or
#              BIN_DIR=dir as in run.sh.
# Needs: wrk, sqlite3, curl, python3 with opentelemetry-proto (the pinned version of .ci/run).
set -euo pipefail

DURATION="${1:-10}"
THREADS="${THREADS:-2}"
CONNS="${CONNS:-4 32}"
SPANS="${SPANS:-100}"
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

# shellcheck source=scripts/load/common.sh
source "$HERE/common.sh"
load_require wrk sqlite3 curl python3

cd "$ROOT"
load_binary
load_tmpdir tokenmeter-otlp-load
DB="$TMP/load.sqlite"
PORT="$(load_free_port)"
URL="http://127.0.0.1:$PORT"
load_start_tokenmeter "$DB" "$PORT" "$TMP/server.log"
python3 "$HERE/otlp_body.py" "$TMP/body.pb" "$SPANS"

rows() { sqlite3 "$DB" 'PRAGMA busy_timeout=5000; SELECT count(*) FROM usage_records;' | tail -1; }

TABLE=()
run=0
for conns in $CONNS; do
  for kind in usage traces; do
    run=$((run + 1))
    out="$TMP/$kind-$conns.txt"
    before="$(rows)"
    if [[ "$kind" == usage ]]; then
      RECORDS="$SPANS" FORMAT=json IDS=sequential RUN="otlp$run" \
        timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$conns" -d"${DURATION}s" --latency -s "$HERE/ingest.lua" "$URL/v1/usage" >"$out" 2>&1
      what="POST /v1/usage, JSON array, $SPANS records per body"
    else
      BODY_FILE="$TMP/body.pb" RUN="$run" \
        timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$conns" -d"${DURATION}s" --latency -s "$HERE/otlp.lua" "$URL/v1/traces" >"$out" 2>&1
      what="POST /v1/traces, OTLP protobuf, $SPANS GenAI spans per export"
    fi
    cat "$out" >&2
    load_parse_wrk "$out"
    sleep 1  # requests in flight when wrk stopped reach their commit
    added=$(( $(rows) - before ))
    answered=$(( (R_REQ - R_NON2XX) * SPANS ))
    written=$(( R_SENT * SPANS ))
    if (( R_NON2XX > 0 || added < answered || added > written )); then
      echo "check failed for $what: $added rows, $answered answered, $written written, $R_NON2XX non-2xx" >&2
      exit 1
    fi
    per_second="$(awk -v r="$R_RPS" -v n="$SPANS" 'BEGIN {printf "%.0f", r * n}')"
    TABLE+=("| $what, $conns connections | $per_second $( [[ $kind == usage ]] && echo records || echo spans )/s ($R_RPS requests/s, p50 $R_P50 ms, p99 $R_P99 ms) | $added rows for $answered answered |")
    [[ "$kind" == usage ]] && USAGE_RATE="$per_second" || TABLE+=("| ratio spans/s ÷ records/s, $conns connections | $(awk -v a="$per_second" -v b="$USAGE_RATE" 'BEGIN {printf "%.2f", a / b}') | |")
  done
done

echo "wrk -t$THREADS -d${DURATION}s --latency, loopback, synchronous FULL, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo
echo "| benchmark | result | check |"
echo "|---|---|---|"
printf '%s\n' "${TABLE[@]}"
