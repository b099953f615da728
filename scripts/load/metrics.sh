#!/usr/bin/env bash
# /metrics scrape benchmark with about 10 000 series, next to Python prometheus_client (issue 7).
# One command: builds, starts `tokenmeter serve` on a temporary database on loopback, POSTs usage
# records until /metrics has TARGET_SERIES sample lines (scripts/load/metrics_fill.py), then
# recreates the same series in prometheus_client (scripts/load/metrics_reference.py: real Counter,
# Gauge and Histogram objects, samples checked identical) and serves them with
# prometheus_client.start_http_server on another loopback port. Both are scraped with the same wrk
# commands in the same run; tokenmeter is measured once more at the end as a noise check.
# Prints a markdown table with ratios to prometheus_client. "server CPU ms/scrape" is the server
# process's user + system time during the wrk run divided by the scrapes answered: less sensitive
# than latency to other work on the machine. prometheus_client's server (wsgiref) answers HTTP/1.0
# and closes the connection after each scrape, so wrk reconnects for each one; that is what users
# of start_http_server get, and it costs far less than rendering 10 000 series.
#
# Usage: scripts/load/metrics.sh [seconds per wrk run (10)]
# Environment: TARGET_SERIES (10000), WRK_CONFIGS ("1:1 2:4", threads:connections),
#              RENDER_ITERATIONS (200 generate_latest() calls timed in process),
#              SKIP_BUILD=1 to reuse the existing release binary,
#              RESULTS_TSV=path to append "name<TAB>value<TAB>unit<TAB>reference name<TAB>reference value<TAB>ratio",
#              PROFILE=path to also record the tokenmeter scrape with `perf record -e cpu-clock -g`
#              during an extra run of the first wrk config; writes the top functions (self and
#              including callees, demangled) to path.
# Needs: wrk, curl, python3 (prometheus-client is installed with pip when missing), perf for PROFILE.
set -euo pipefail

DURATION="${1:-10}"
TARGET_SERIES="${TARGET_SERIES:-10000}"
WRK_CONFIGS="${WRK_CONFIGS:-1:1 2:4}"
RENDER_ITERATIONS="${RENDER_ITERATIONS:-200}"
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

# shellcheck source=scripts/load/common.sh
source "$HERE/common.sh"
load_require wrk curl python3
if ! python3 -c 'import prometheus_client' 2>/dev/null; then
  echo "installing prometheus-client from PyPI" >&2
  python3 -m pip install --quiet prometheus-client >&2
fi
[[ -z "${PROFILE:-}" ]] || load_require perf

cd "$ROOT"
load_binary
load_tmpdir tokenmeter-metrics
LOAD_AVG="$(cut -d' ' -f1-3 /proc/loadavg)"

PORT="$(load_free_port)"
URL="http://127.0.0.1:$PORT"
load_start_tokenmeter "$TMP/metrics.sqlite" "$PORT" "$TMP/server.log"

series_in() { grep -cv -e '^#' -e '^$' "$1" || true; }

# Fill to the target and check the count from the /metrics text itself.
FILL="$(nice python3 "$HERE/metrics_fill.py" --url "$URL" --target "$TARGET_SERIES")"
echo "fill: $FILL" >&2
curl -fsS -o "$TMP/tokenmeter.txt" "$URL/metrics"
TM_SERIES="$(series_in "$TMP/tokenmeter.txt")"
echo "tokenmeter /metrics: $TM_SERIES series (sample lines), $(wc -c <"$TMP/tokenmeter.txt") bytes" >&2
if (( TM_SERIES * 100 < TARGET_SERIES * 95 || TM_SERIES * 100 > TARGET_SERIES * 105 )); then
  echo "series count $TM_SERIES is not within 5% of $TARGET_SERIES" >&2; exit 1
fi

# The reference: the same series in prometheus_client, served on its own port.
REF_PORT="$(load_free_port)"
REF_URL="http://127.0.0.1:$REF_PORT"
python3 "$HERE/metrics_reference.py" --input "$TMP/tokenmeter.txt" --port "$REF_PORT" \
  --iterations "$RENDER_ITERATIONS" --ready "$TMP/ref.ready" >"$TMP/ref.log" 2>&1 &
REF_PID=$!
load_track_pid "$REF_PID"
for _ in $(seq 1 1200); do
  [[ -f "$TMP/ref.ready" ]] && break
  kill -0 "$REF_PID" 2>/dev/null || { echo "prometheus_client reference exited:" >&2; cat "$TMP/ref.log" >&2; exit 1; }
  sleep 0.1
done
[[ -f "$TMP/ref.ready" ]] || { echo "prometheus_client reference not ready after 120 s" >&2; exit 1; }
load_wait_http "$REF_URL/metrics" "$REF_PID" "$TMP/ref.log" 10
fact() { awk -F= -v k="$1" '$1 == k {print substr($0, length(k) + 2)}' "$TMP/ref.ready"; }
REF_VERSION="$(fact version)"
echo "prometheus_client $REF_VERSION: $(fact series) series, samples identical: $(fact identical_samples)," \
     "generate_latest() median $(fact render_median_ms) ms" >&2

curl -fsS -o "$TMP/tokenmeter-body.txt" "$URL/metrics"
curl -fsS -o "$TMP/reference-body.txt" "$REF_URL/metrics"
TM_BYTES="$(wc -c <"$TMP/tokenmeter-body.txt")"
REF_BYTES="$(wc -c <"$TMP/reference-body.txt")"
REF_SERIES="$(series_in "$TMP/reference-body.txt")"
(( REF_SERIES == TM_SERIES )) || { echo "prometheus_client serves $REF_SERIES series, tokenmeter $TM_SERIES" >&2; exit 1; }

# CPU time (user + system, all threads) a process has used, in milliseconds.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%d", ($12 + $13) * 1000 / hz }' "/proc/$1/stat"; }

# bench KEY THREADS CONNS URL PID: sets RPS[KEY] P50[KEY] P99[KEY] CPU[KEY] (server CPU ms per scrape) CHECK[KEY]
declare -A RPS P50 P99 CPU CHECK
bench() {
  local key="$1" threads="$2" conns="$3" url="$4" pid="$5" out="$TMP/wrk-$1.txt" cpu0 cpu1
  cpu0="$(cpu_ms "$pid")"
  timeout $((DURATION + 30)) wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency "$url" >"$out" 2>&1
  cpu1="$(cpu_ms "$pid")"
  cat "$out" >&2
  load_parse_wrk "$out"
  RPS[$key]="$R_RPS"; P50[$key]="$R_P50"; P99[$key]="$R_P99"
  CPU[$key]="$(awk -v c=$((cpu1 - cpu0)) -v n="$R_REQ" 'BEGIN { printf "%.2f", (n > 0 ? c / n : 0) }')"
  CHECK[$key]="$R_REQ scrapes, $R_NON2XX non-2xx, $R_ERR socket errors"
}

for config in $WRK_CONFIGS; do
  threads="${config%%:*}"; conns="${config##*:}"
  bench "tm-$config" "$threads" "$conns" "$URL/metrics" "$SERVER_PID"
  bench "ref-$config" "$threads" "$conns" "$REF_URL/metrics" "$REF_PID"
done
first="${WRK_CONFIGS%% *}"
bench "tm-again" "${first%%:*}" "${first##*:}" "$URL/metrics" "$SERVER_PID"

if [[ -n "${PROFILE:-}" ]]; then
  perf record -e cpu-clock -F 999 -g -p "$SERVER_PID" -o "$TMP/perf.data" -- sleep "$DURATION" >"$TMP/perf.log" 2>&1 &
  PERF_PID=$!
  sleep 0.5
  bench "tm-profiled" "${first%%:*}" "${first##*:}" "$URL/metrics" "$SERVER_PID"
  wait "$PERF_PID" || true
  demangle() { if command -v swift >/dev/null; then swift demangle --simplified; else cat; fi; }
  report() { perf report -i "$TMP/perf.data" --sort symbol --stdio -g none "$@" 2>/dev/null | grep -v -e '^#' -e '^$'; }
  (
    set +o pipefail
    echo "# perf record -e cpu-clock -F 999 -g -p <tokenmeter> during wrk -t${first%%:*} -c${first##*:} GET /metrics" \
         "(${RPS[tm-profiled]} scrapes/s, ${CPU[tm-profiled]} ms server CPU per scrape); percent of the server's samples"
    echo "# self time by function (>= 0.5%):"
    report --no-children --percent-limit 0.5 | sort -rn | demangle
    echo "# including callees (children, self) for the scrape path:"
    report --children --percent-limit 1 | demangle |
      grep -E 'scrape|emit|Histogram|Counter|Gauge|append|description|ASCII|copyUTF8|initialize|__GI___writev|ByteBuffer' | grep -v EventLoopGroup | sed -n 1,25p
  ) | cut -c1-150 | sed -e 's/ *- *- *$//' -e 's/ *$//' >"$PROFILE"
  echo "perf report written to $PROFILE" >&2
fi

if grep -qiE 'error|fatal' "$TMP/server.log"; then
  echo "server log has errors:" >&2; grep -iE 'error|fatal' "$TMP/server.log" | head -20 >&2  || true
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
TSV=()
tsv() { TSV+=("$(printf '%s\t%s\t%s\t%s\t%s\t%s' "$@")"); }

echo
echo "GET /metrics with $TM_SERIES series, wrk -d${DURATION}s --latency, loopback, $(date -u '+%Y-%m-%d %H:%M UTC')," \
     "commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), binary built $(date -u -r "$BIN" '+%Y-%m-%d %H:%M UTC')," \
     "prometheus_client $REF_VERSION (start_http_server) on Python $(fact python), nproc $(nproc), load average at start $LOAD_AVG"
echo
echo "| target | wrk | series | body bytes | scrapes/s | p50 ms | p99 ms | server CPU ms/scrape | scrapes/s ÷ prometheus_client | p50 ÷ prometheus_client p50 | check |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
for config in $WRK_CONFIGS; do
  threads="${config%%:*}"; conns="${config##*:}"; w="-t$threads -c$conns"
  tm="tm-$config"; ref="ref-$config"
  rr="$(ratio "${RPS[$tm]}" "${RPS[$ref]}")"; pr="$(ratio "${P50[$tm]}" "${P50[$ref]}")"
  printf '| tokenmeter | %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %s |\n' "$w" "$TM_SERIES" "$TM_BYTES" \
    "${RPS[$tm]}" "${P50[$tm]}" "${P99[$tm]}" "${CPU[$tm]}" "$rr" "$pr" "${CHECK[$tm]}"
  printf '| prometheus_client (reference) | %s | %s | %s | %.0f | %s | %s | %s | 1 | 1 | %s |\n' "$w" "$REF_SERIES" "$REF_BYTES" \
    "${RPS[$ref]}" "${P50[$ref]}" "${P99[$ref]}" "${CPU[$ref]}" "${CHECK[$ref]}"
  tm_name="tokenmeter GET /metrics ($TM_SERIES series) wrk $w"
  ref_name="prometheus_client $REF_VERSION GET /metrics (same series) wrk $w"
  tsv "$tm_name scrapes/s" "${RPS[$tm]}" "scrapes/s" "$ref_name scrapes/s" "${RPS[$ref]}" "$rr"
  tsv "$tm_name p50" "${P50[$tm]}" "ms" "$ref_name p50" "${P50[$ref]}" "$pr"
  tsv "$tm_name p99" "${P99[$tm]}" "ms" "$ref_name p99" "${P99[$ref]}" "$(ratio "${P99[$tm]}" "${P99[$ref]}")"
  tsv "$tm_name server CPU per scrape" "${CPU[$tm]}" "ms" "$ref_name server CPU per scrape" "${CPU[$ref]}" "$(ratio "${CPU[$tm]}" "${CPU[$ref]}")"
done
w="-t${first%%:*} -c${first##*:}"
printf '| tokenmeter again (noise check) | %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %s |\n' "$w" "$TM_SERIES" "$TM_BYTES" \
  "${RPS[tm-again]}" "${P50[tm-again]}" "${P99[tm-again]}" "${CPU[tm-again]}" "$(ratio "${RPS[tm-again]}" "${RPS[ref-$first]}")" \
  "$(ratio "${P50[tm-again]}" "${P50[ref-$first]}")" "${CHECK[tm-again]}"
tsv "tokenmeter /metrics series" "$TM_SERIES" "series" "prometheus_client series" "$REF_SERIES" "$(ratio "$TM_SERIES" "$REF_SERIES")"
tsv "tokenmeter /metrics body" "$TM_BYTES" "bytes" "prometheus_client body" "$REF_BYTES" "$(ratio "$TM_BYTES" "$REF_BYTES")"
tsv "prometheus_client generate_latest() median, $TM_SERIES series" "$(fact render_median_ms)" "ms" "-" "-" "-"

echo
echo "- prometheus_client in process: generate_latest() median $(fact render_median_ms) ms, p99 $(fact render_p99_ms) ms" \
     "over $(fact render_iterations) calls ($REF_SERIES series, $REF_BYTES bytes; samples identical to tokenmeter's: $(fact identical_samples))." \
     "tokenmeter has no in-process hook from the shell; its wrk $w p50 is the closest figure."
tm_p50="${P50[tm-$first]}"; tm_p99="${P99[tm-$first]}"
verdict_5ms="$(awk -v p="$tm_p50" 'BEGIN { print (p < 5 ? "met" : "missed") }')"
echo "- Target \"under 5 ms with 10 000 series\": $verdict_5ms (tokenmeter wrk $w p50 $tm_p50 ms, p99 $tm_p99 ms)."
faster="met"
for config in $WRK_CONFIGS; do
  awk -v a="${RPS[tm-$config]}" -v b="${RPS[ref-$config]}" 'BEGIN { exit !(a > b) }' || faster="missed"
done
echo "- Target \"faster than prometheus_client on the same series\": $faster (scrapes/s ratios above)."
echo "- fill: $FILL"

if [[ -n "${RESULTS_TSV:-}" ]]; then
  printf '%s\n' "${TSV[@]}" >>"$RESULTS_TSV"
  echo "- appended ${#TSV[@]} lines to $RESULTS_TSV"
fi
