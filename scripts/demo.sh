#!/usr/bin/env bash
# The whole pipeline on simulated traffic, as separate processes:
#   simulate -> sensor -> Kafka (apiscope broker) -> analyzer -> ClickHouse + alert topic
# with the alerts shown live (apiscope alerts --follow). Everything it starts is stopped on
# exit or Ctrl-C; it can be run again. Run through `make demo` (which installs and builds).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin/apiscope}
SCALE=${DEMO_SCALE:-small}
SEED=${DEMO_SEED:-7}
DEMO=${DEMO_DIR:-.demo}
CH_TCP=${DEMO_CH_TCP_PORT:-29000}
CH_HTTP=${DEMO_CH_HTTP_PORT:-28123}
KAFKA=${DEMO_KAFKA:-127.0.0.1:29092}
DSN="clickhouse://127.0.0.1:${CH_TCP}/apiscope"
# A demo-only fingerprint key, so the demo neither warns nor writes a key into ~/.local/state.
# A real deployment takes its key from a secret store (docs/OPERATIONS.md, Secrets).
export APISCOPE_FP_KEY=${APISCOPE_FP_KEY:-61706973636f70652d64656d6f2d6b65792d6e6f742d612d736563726574}

bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
step() { bold "==> $*"; }

LOG_DIR=$DEMO
. scripts/lib/services.sh
port_free "127.0.0.1:$CH_TCP" "127.0.0.1:$CH_HTTP" "$KAFKA" || {
  echo "demo: set DEMO_CH_TCP_PORT, DEMO_CH_HTTP_PORT or DEMO_KAFKA to free ports" >&2
  exit 1
}

rm -rf "$DEMO"
mkdir -p "$DEMO"
DEMO=$(cd "$DEMO" && pwd) # absolute: ClickHouse is given paths inside it
LOG_DIR=$DEMO
mkdir -p "$DEMO"/kafka "$DEMO"/state

step "Simulating labelled API traffic (scale $SCALE, seed $SEED)"
"$BIN" simulate --out "$DEMO/sim" --scale "$SCALE" --seed "$SEED"
ls -l "$DEMO/sim"

step "Starting ClickHouse (127.0.0.1:$CH_TCP) and the Kafka broker ($KAFKA)"
start_clickhouse "$DEMO/ch" "$CH_TCP" "$CH_HTTP"
start_broker "$BIN" "$KAFKA" "$DEMO/kafka" "$DEMO/broker.log"
wait_services "$CH_HTTP" "$KAFKA"

step "Creating the ClickHouse schema"
"$BIN" schema apply --clickhouse "$DSN"

step "Starting the analyzer (Kafka -> ClickHouse + apiscope.alerts) and the live alert view"
"$BIN" analyzer --brokers "$KAFKA" --clickhouse "$DSN" --state-dir "$DEMO/state" \
  --findings "$DEMO/findings.jsonl" --log-level warn >"$DEMO/analyzer.log" 2>&1 &
analyzer=$!
pids+=($analyzer)
"$BIN" alerts --brokers "$KAFKA" --follow --from-beginning --format text 2>"$DEMO/alerts.err" &
alerts=$!
pids+=($alerts)

step "Replaying the capture through the sensor into Kafka"
"$BIN" sensor --pcap "$DEMO/sim/traffic.pcap" --brokers "$KAFKA" 2>"$DEMO/sensor.log"
calls=$(awk '$1 == "apiscope_sensor_calls_total" {printf "%d", $2}' "$DEMO/sensor.log")
calls=${calls:-0}
echo "sensor published $calls calls"

step "Waiting for the analyzer to store every call"
q() { clickhouse-client --port "$CH_TCP" --database apiscope --query "$1"; }
last=-1; stable=0
for _ in $(seq 600); do
  n=$(q "SELECT count() FROM api_calls" 2>/dev/null || echo 0)
  if [ "$n" = "$last" ] && [ "$n" != 0 ]; then stable=$((stable + 1)); else stable=0; fi
  [ "$n" -ge "$calls" ] && [ "$calls" -gt 0 ] && break
  [ $stable -ge 20 ] && break
  last=$n; sleep 0.5
done
sleep 3 # the last alerts reach the live view
stop_pid "$alerts"
step "Stopping the analyzer (it drains, writes its last rows, checkpoints and commits)"
stop_pid "$analyzer"

step "Investigating in ClickHouse"
echo "Findings by kind and severity:"
q "SELECT kind, severity, count() AS findings FROM findings FINAL GROUP BY kind, severity ORDER BY findings DESC FORMAT PrettyCompact"
echo "The most deviating clients:"
q "SELECT client_id, count() AS findings, max(score) AS max_score, groupUniqArray(kind) AS kinds FROM findings FINAL GROUP BY client_id ORDER BY max_score DESC LIMIT 5 FORMAT PrettyCompact"
echo "Endpoints by callers:"
q "SELECT host, method, template, count() AS calls, uniqExact(client_id) AS clients FROM api_calls GROUP BY host, method, template ORDER BY calls DESC LIMIT 8 FORMAT PrettyCompact"

step "How the analyzer did against the simulator's ground truth"
"$BIN" evaluate --labels "$DEMO/sim/labels.json" --findings "$DEMO/findings.jsonl" | tail -1

cat <<MSG

More queries: docs/SQL.md. While this demo runs its data stays in $DEMO/; to explore it
afterwards, start ClickHouse the same way and open:
  clickhouse-client --port $CH_TCP --database apiscope
MSG
