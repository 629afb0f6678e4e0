#!/usr/bin/env bash
# End-to-end benchmark: a simulated capture through sensor, Kafka (apiscope broker),
# analyzer and ClickHouse, each a separate process, as scripts/demo.sh runs them.
#
#   scripts/bench_e2e.sh     # E2E_SCALE=medium E2E_SEED=7 E2E_PACED_CALLS=2000 by default;
#                            # BIN=path uses a built apiscope instead of building one
#
# Measures
#   - the sensor alone: the capture published to a topic nobody consumes (wall and CPU);
#   - the pipeline: the same capture to apiscope.calls with the analyzer running; sustained
#     calls/s = calls stored in ClickHouse over the wall time from the sensor's first call
#     record to the poll that first saw the last row (SELECT count() FROM api_calls, every
#     0.2 s);
#   - alert latency: scripts/e2ebench matches every alert on apiscope.alerts to the call that
#     raised it on apiscope.calls (client_id and capture time) and takes the difference of
#     their Kafka record times, per kind and overall;
#   - the same again with the capture fed to the sensor through a FIFO at E2E_PACED_CALLS
#     calls/s (scripts/e2ebench pace), below what the analyzer sustains, on separate topics
#     and a separate ClickHouse database: the latency of a pipeline that keeps up, where the
#     full-speed run measures a backlog draining.
# Everything it starts is stopped on exit or Ctrl-C; it can be run again. Ports differ from
# the demo's so both can run at once.
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE=${E2E_SCALE:-medium}
SEED=${E2E_SEED:-7}
DIR=${E2E_DIR:-${TMPDIR:-/tmp}/apiscope-bench-e2e} # removed and made again on every run
CH_TCP=${E2E_CH_TCP_PORT:-39000}
CH_HTTP=${E2E_CH_HTTP_PORT:-38123}
KAFKA=${E2E_KAFKA:-127.0.0.1:39092}
SENSOR_ONLY_TOPIC=e2ebench.sensor-only
PACED=${E2E_PACED_CALLS:-2000} # calls/s of the paced run

LOG_DIR=$DIR
. scripts/lib/services.sh

now() { date +%s.%N; }
cpu_secs() { # user+system seconds of a live process
  awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo "?"
}
rss_mib() { awk '/VmHWM/{printf "%.0f", $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo "?"; }

port_free "127.0.0.1:$CH_TCP" "127.0.0.1:$CH_HTTP" "$KAFKA" || {
  echo "bench_e2e: set E2E_CH_TCP_PORT, E2E_CH_HTTP_PORT, E2E_KAFKA" >&2
  exit 1
}
rm -rf "$DIR"
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd) # ClickHouse takes absolute paths
LOG_DIR=$DIR
mkdir -p "$DIR"/kafka "$DIR"/state
BIN=${BIN:-}
built="built from the working tree at commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -z "$BIN" ]; then
  go build -o "$DIR/apiscope" ./cmd/apiscope
  BIN=$DIR/apiscope
else
  built="BIN=$BIN"
fi
go build -o "$DIR/e2ebench" ./scripts/e2ebench

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); apiscope $built"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB RAM"
echo "clickhouse: $(clickhouse-client --version 2>/dev/null || echo unknown); go: $(go env GOVERSION)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

"$BIN" simulate --out "$DIR/sim" --scale "$SCALE" --seed "$SEED" >/dev/null
echo "capture: simulate --scale $SCALE --seed $SEED, $(du -m "$DIR/sim/traffic.pcap" | cut -f1) MB"

start_clickhouse "$DIR/ch" "$CH_TCP" "$CH_HTTP"
ch=$CH_PID
start_broker "$BIN" "$KAFKA" "$DIR/kafka" "$DIR/broker.log"
broker=$BROKER_PID
wait_services "$CH_HTTP" "$KAFKA"

echo
echo "== sensor alone: --pcap to topic $SENSOR_ONLY_TOPIC, nothing consuming"
/usr/bin/time -f '%e %U %S %M' -o "$DIR/sensor-only.time" \
  "$BIN" sensor --pcap "$DIR/sim/traffic.pcap" --brokers "$KAFKA" --topic "$SENSOR_ONLY_TOPIC" --no-progress \
  2>"$DIR/sensor-only.log"
read -r wall user sys rss <"$DIR/sensor-only.time"
only_calls=$(awk '$1 == "apiscope_sensor_calls_total" {print $2}' "$DIR/sensor-only.log")
grep -m1 '^packets ' "$DIR/sensor-only.log" || true
awk -v c="${only_calls:-0}" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
  printf "sensor alone: %d calls in %.2f s wall, %.2f s CPU: %.0f calls/s wall, %.0f calls per CPU s, peak RSS %.0f MiB\n",
    c, w, u + s, c / w, c / (u + s), r / 1024 }'

# pipeline LABEL PREFIX DB PCAP [PPS]: the analyzer (consumer group PREFIX, topics
# PREFIX.calls / PREFIX.alerts / PREFIX.dlq, ClickHouse database DB) and the sensor reading
# PCAP, at full speed or, with PPS, fed through a FIFO at PPS packets per second; then the
# figures. The demo's topic names are used for the full-speed run.
pipeline() {
  local label=$1 prefix=$2 db=$3 pcap=$4 pps=${5:-}
  local calls_topic=$prefix.calls alerts_topic=$prefix.alerts dlq_topic=$prefix.calls.dlq
  local dsn="clickhouse://127.0.0.1:${CH_TCP}/$db" log=$DIR/$label
  echo
  echo "== $label: sensor -> $KAFKA ($calls_topic) -> analyzer -> ClickHouse ($db) + $alerts_topic"
  "$BIN" schema apply --clickhouse "$dsn" >"$log.schema.log" 2>&1
  "$BIN" analyzer --brokers "$KAFKA" --topic "$calls_topic" --alerts-topic "$alerts_topic" --dlq-topic "$dlq_topic" \
    --group "$prefix-analyzer" --clickhouse "$dsn" --state-dir "$log.state" \
    --findings "$log.findings.jsonl" --log-level warn >"$log.analyzer.log" 2>&1 &
  local analyzer=$!
  pids+=($analyzer)
  sleep 3 # the analyzer joins its group before the first call arrives
  local input=$pcap
  if [ -n "$pps" ]; then
    input=$log.fifo
    rm -f "$input"
    mkfifo "$input"
    "$DIR/e2ebench" pace --pcap "$pcap" --out "$input" --pps "$pps" 2>"$log.pace.log" &
    pids+=($!)
  fi
  local load_mid t_sensor t_sensor_end calls
  load_mid=$(cut -d' ' -f1-3 /proc/loadavg)
  t_sensor=$(now)
  "$BIN" sensor --pcap "$input" --brokers "$KAFKA" --topic "$calls_topic" --no-progress 2>"$log.sensor.log"
  t_sensor_end=$(now)
  calls=$(awk '$1 == "apiscope_sensor_calls_total" {print $2}' "$log.sensor.log")
  calls=${calls:-0}
  [ -z "$pps" ] || cat "$log.pace.log"
  awk -v c="$calls" -v a="$t_sensor" -v b="$t_sensor_end" 'BEGIN {
    printf "sensor (analyzer running): %d calls in %.2f s wall: %.0f calls/s\n", c, b - a, c / (b - a) }'

  # The last row: the first poll that sees the final count (every call, or no change for 20 s).
  local n=0 last=-1 t t_last stable_since
  t_last=$(now); stable_since=$t_last
  while :; do
    n=$(clickhouse-client --port "$CH_TCP" --database "$db" --query "SELECT count() FROM api_calls" 2>/dev/null || echo "$last")
    t=$(now)
    if [ "$n" != "$last" ]; then last=$n; t_last=$t; stable_since=$t; fi
    [ "$calls" -gt 0 ] && [ "$n" -ge "$calls" ] && break
    awk -v a="$stable_since" -v b="$t" 'BEGIN { exit !(b - a > 20) }' && break
    sleep 0.2
  done
  awk -v n="$n" -v a="$t_sensor" -v b="$t_last" -v e="$t_sensor_end" 'BEGIN {
    printf "stored %d calls, %.2f s after the sensor started, %.2f s after it ended\n", n, b - a, b - e }'
  # Findings still held by capture time are released once every partition is idle:
  # wait until the findings file has not grown for 10 s.
  local fsize=-1 stable=0 s
  while [ $stable -lt 50 ]; do
    s=$(stat -c %s "$log.findings.jsonl" 2>/dev/null || echo 0)
    if [ "$s" = "$fsize" ]; then stable=$((stable + 1)); else stable=0; fsize=$s; fi
    sleep 0.2
  done
  echo "CPU seconds: analyzer $(cpu_secs $analyzer) (peak RSS $(rss_mib $analyzer) MiB); since start: broker $(cpu_secs $broker), clickhouse $(cpu_secs $ch)"
  echo "load at sensor start: $load_mid; after: $(cut -d' ' -f1-3 /proc/loadavg)"
  # Stopped before the topics are read back: the development broker serves one request at
  # a time, and a large read would starve the idle analyzer's fetches into timeouts.
  stop_pid "$analyzer"
  echo "-- alert latency (Kafka record time of the alert - record time of the call that raised it)"
  "$DIR/e2ebench" --brokers "$KAFKA" --calls-topic "$calls_topic" --alerts-topic "$alerts_topic" --stored "$n" --stored-at "$t_last"
  echo "findings written by the analyzer: $(wc -l <"$log.findings.jsonl") (the alert topic carries medium and above)"
}

pipeline full apiscope apiscope "$DIR/sim/traffic.pcap"
# Paced below what the analyzer sustains, so alerts do not queue behind a backlog.
packets=$(awk '$1 == "packets" {print $2; exit}' "$DIR/sensor-only.log")
pps=$(awk -v p="$packets" -v c="${only_calls:-1}" -v r="$PACED" 'BEGIN {printf "%.0f", r * p / c}')
echo
echo "paced run: $PACED calls/s = $pps packets/s ($packets packets for ${only_calls:-0} calls)"
pipeline paced e2ebench.paced apiscope_paced "$DIR/sim/traffic.pcap" "$pps"

echo
echo "== log lines at warn or above (logs in $DIR/)"
for f in broker.log sensor-only.log full.analyzer.log full.sensor.log paced.analyzer.log paced.sensor.log ch/server.err.log; do
  n=$(grep -c -E '"level":"(warn|error|fatal)"|\b(WARN|ERROR|Error|<Error>)\b' "$DIR/$f" 2>/dev/null || true)
  echo "$f: ${n:-0}"
  grep -m3 -E '"level":"(warn|error|fatal)"|\b(WARN|ERROR|Error|<Error>)\b' "$DIR/$f" 2>/dev/null | cut -c1-300 || true
done
