#!/usr/bin/env bash
# End-to-end test of prometheus/ and grafana/ against a real Prometheus scraping a real tokenmeter.
#
#   scripts/e2e-prometheus.sh [path-to-tokenmeter-binary]
#
# 1. promtool check config, promtool check rules, promtool test rules (the unit tests run in the
#    background while the live part goes on), structural checks of the Grafana dashboard JSON.
# 2. Starts tokenmeter (API and metrics tokens, budgets, 1 s stats refresh) and Prometheus with a
#    temporary copy of prometheus/prometheus.yml (1 s scrape and rule evaluation, the bearer
#    token enabled, target rewritten to tokenmeter's port), both on 127.0.0.1 free ports.
# 3. Sends a realistic mix of records over ~16 s (several models, services and providers, errors,
#    unpriced models, an unrecognized usage field, cache and reasoning tokens, credits, duplicates,
#    rejects, pending calls, label overflow).
# 4. Runs every recording rule, every alert rule and every dashboard panel query through
#    Prometheus' HTTP API and fails if one is invalid or has no data (see scripts/e2e-prometheus/e2e.py:
#    alert conditions may be false; then every series selector they read must have data), and
#    checks the alerts this mix must trigger are firing.
# Needs: prometheus and promtool (Debian package `prometheus`), python3. Finishes in about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
HELPER="$ROOT/scripts/e2e-prometheus/e2e.py"
START=$(date +%s)

if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "e2e-prometheus: installing Debian's prometheus"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    else
        echo "e2e-prometheus: needs prometheus and promtool (apt-get install prometheus)" >&2
        exit 1
    fi
fi

BIN=${1:-${TOKENMETER_BIN:-}}
if [ -z "$BIN" ]; then
    BIN="$(swift build --show-bin-path 2>/dev/null || echo "$ROOT/.build/debug")/tokenmeter"
fi
[ -x "$BIN" ] || { echo "e2e-prometheus: tokenmeter binary not found at $BIN (build it, or pass its path)" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tokenmeter-e2e-prometheus.XXXXXX")
TM_PID="" PROM_PID="" UNIT_PID=""
cleanup() {
    local rc=$?
    for pid in $UNIT_PID $PROM_PID $TM_PID; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $UNIT_PID $PROM_PID $TM_PID; do
        # bounded: SIGKILL after 10 s
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "$rc" != 0 ]; then
        for f in tokenmeter.log prometheus.log; do
            if [ -s "$TMP/$f" ]; then echo "--- last lines of $f"; tail -n 25 "$TMP/$f"; fi
        done >&2
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== static checks ($(promtool --version 2>&1 | head -n1))"
promtool check config prometheus/prometheus.yml
promtool check rules prometheus/rules/*.yml
# The unit tests take ~40 s of CPU: run them while the live test goes on.
timeout 240 promtool test rules prometheus/tests/*.yml >"$TMP/unit-tests.log" 2>&1 &
UNIT_PID=$!
python3 "$HELPER" validate-dashboards grafana/dashboards

echo "== starting tokenmeter and Prometheus"
TM_PORT=$(python3 "$HELPER" free-port)
PROM_PORT=$(python3 "$HELPER" free-port)
while [ "$PROM_PORT" = "$TM_PORT" ]; do PROM_PORT=$(python3 "$HELPER" free-port); done
INGEST_TOKEN=ingest-e2e-prom-1
METRICS_TOKEN=metrics-e2e-prom-1
printf '%s' "$METRICS_TOKEN" >"$TMP/metrics.token"
cat >"$TMP/tokenmeter.json" <<'EOF'
{
  "stats_interval_seconds": 1,
  "max_label_values": 16,
  "budgets": [
    {"name": "monthly-total", "window": "month", "usd": 1000},
    {"name": "daily-bot", "window": "day", "usd": 50, "filters": {"service": "bot"}},
    {"name": "monthly-research", "window": "month", "usd": 0.01, "filters": {"service": "research"}}
  ]
}
EOF
TOKENMETER_TOKENS="ingest:$INGEST_TOKEN,read:read-e2e-prom-1,admin:admin-e2e-prom-1" \
TOKENMETER_METRICS_TOKEN="$METRICS_TOKEN" \
    "$BIN" serve --config "$TMP/tokenmeter.json" --db "$TMP/tokenmeter.sqlite" --host 127.0.0.1 --port "$TM_PORT" \
    >"$TMP/tokenmeter.log" 2>&1 &
TM_PID=$!
python3 "$HELPER" wait "http://127.0.0.1:$TM_PORT/metrics" --token "$METRICS_TOKEN" --timeout 30
python3 "$HELPER" expect-status "http://127.0.0.1:$TM_PORT/metrics" 401
echo "tokenmeter $("$BIN" --version 2>/dev/null || true) on 127.0.0.1:$TM_PORT (/metrics: 401 without the token, 200 with it)"

python3 "$HELPER" test-copy prometheus "$TMP/prometheus" --port "$TM_PORT" --token-file "$TMP/metrics.token"
promtool check config "$TMP/prometheus/prometheus.yml" >/dev/null
prometheus --config.file="$TMP/prometheus/prometheus.yml" --storage.tsdb.path="$TMP/data" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$TMP/prometheus.log" 2>&1 &
PROM_PID=$!
python3 "$HELPER" wait "http://127.0.0.1:$PROM_PORT/-/ready" --timeout 60
echo "prometheus $(prometheus --version 2>&1 | head -n1 | awk '{print $3}') on 127.0.0.1:$PROM_PORT"

echo "== sending records"
python3 "$HELPER" send "http://127.0.0.1:$TM_PORT" --token "$INGEST_TOKEN" --rounds 9 --interval 2

echo "== querying Prometheus"
python3 "$HELPER" check "http://127.0.0.1:$PROM_PORT" --dashboards grafana/dashboards --timeout 90 \
    --expect-firing TokenMeterUnpricedModel,TokenMeterLabelOverflow,TokenMeterBudgetExhausted,TokenMeterUnrecognizedUsage

echo "== promtool test rules"
if ! wait "$UNIT_PID"; then
    UNIT_PID=""
    cat "$TMP/unit-tests.log" >&2
    echo "e2e-prometheus: FAIL: promtool test rules" >&2
    exit 1
fi
UNIT_PID=""
grep -E "Unit Testing|SUCCESS|FAILED" "$TMP/unit-tests.log" | paste - - | sed 's/^Unit Testing: */  /'

echo "e2e-prometheus: PASS in $(( $(date +%s) - START )) s"
