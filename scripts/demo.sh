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

pids=()
stop_pid() { # SIGTERM, up to 15 s to drain, then SIGKILL
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 75); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.2; done
  kill -KILL "$1" 2>/dev/null || true
}
cleanup() { # newest first: consumers before the services they use
  trap - EXIT INT TERM
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop_pid "${pids[i]}"; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'echo; echo "interrupted: stopping what the demo started"; exit 130' INT TERM

wait_for() { # name, seconds, command...
  local name=$1 secs=$2; shift 2
  for _ in $(seq $((secs * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "demo: $name did not come up in ${secs}s; logs in $DEMO/" >&2
  exit 1
}

rm -rf "$DEMO"
mkdir -p "$DEMO"
DEMO=$(cd "$DEMO" && pwd) # absolute: ClickHouse is given paths inside it
mkdir -p "$DEMO"/ch/tmp "$DEMO"/ch/user_files "$DEMO"/ch/format_schemas "$DEMO"/kafka "$DEMO"/state

step "Simulating labelled API traffic (scale $SCALE, seed $SEED)"
"$BIN" simulate --out "$DEMO/sim" --scale "$SCALE" --seed "$SEED"
ls -l "$DEMO/sim"

step "Starting ClickHouse (127.0.0.1:$CH_TCP) and the Kafka broker ($KAFKA)"
CH=/usr/sbin/clickhouse-server
[ -x "$CH" ] || CH=$(command -v clickhouse-server)
"$CH" --config-file=/etc/clickhouse-server/config.xml -- \
  --listen_host=127.0.0.1 --tcp_port="$CH_TCP" --http_port="$CH_HTTP" --interserver_http_port=$((CH_HTTP + 1)) \
  --path="$DEMO/ch/" --tmp_path="$DEMO/ch/tmp/" --user_files_path="$DEMO/ch/user_files/" \
  --format_schema_path="$DEMO/ch/format_schemas/" --timezone=UTC \
  --logger.log="$DEMO/ch/server.log" --logger.errorlog="$DEMO/ch/server.err.log" \
  >"$DEMO/ch/stdout.log" 2>&1 &
pids+=($!)
"$BIN" broker --listen "$KAFKA" --data-dir "$DEMO/kafka" --log-level warn >"$DEMO/broker.log" 2>&1 &
pids+=($!)
wait_for ClickHouse 60 curl -sf "http://127.0.0.1:$CH_HTTP/ping"
wait_for "Kafka broker" 30 bash -c "exec 3<>/dev/tcp/${KAFKA%:*}/${KAFKA#*:}"

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
calls=$(awk '$1 == "apiscope_sensor_calls_total" {print $2}' "$DEMO/sensor.log")
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
