# Shell helpers shared by scripts/demo.sh and scripts/bench_e2e.sh: start ClickHouse and
# the development Kafka broker as plain child processes, wait for them, and stop every
# process the script started, newest first, on exit or Ctrl-C. Source it; it sets the
# traps. The caller sets LOG_DIR (where logs go) before anything fails.

pids=()

# stop_pid PID: SIGTERM, up to 15 s to drain, then SIGKILL.
stop_pid() {
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 75); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.2; done
  kill -KILL "$1" 2>/dev/null || true
}

# cleanup stops what was started, newest first: consumers before the services they use.
cleanup() {
  trap - EXIT INT TERM
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop_pid "${pids[i]}"; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'echo; echo "interrupted: stopping what $(basename "$0") started"; exit 130' INT TERM

# wait_for NAME SECONDS COMMAND...: retry COMMAND every 0.2 s until it succeeds.
wait_for() {
  local name=$1 secs=$2
  shift 2
  for _ in $(seq $((secs * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "$(basename "$0"): $name did not come up in ${secs}s; logs in ${LOG_DIR:-.}/" >&2
  exit 1
}

# port_free ADDR...: fail when any host:port already accepts connections.
port_free() {
  local addr
  for addr in "$@"; do
    if (exec 3<>"/dev/tcp/${addr%:*}/${addr#*:}") 2>/dev/null; then
      echo "$(basename "$0"): $addr is already in use (another run?)" >&2
      return 1
    fi
  done
}

# start_clickhouse DIR TCP_PORT HTTP_PORT: Debian's clickhouse-server on 127.0.0.1 with its
# data, temporary files and logs under DIR (absolute). Sets CH_PID.
start_clickhouse() {
  local dir=$1 tcp=$2 http=$3 bin=/usr/sbin/clickhouse-server
  [ -x "$bin" ] || bin=$(command -v clickhouse-server)
  mkdir -p "$dir/tmp" "$dir/user_files" "$dir/format_schemas"
  "$bin" --config-file=/etc/clickhouse-server/config.xml -- \
    --listen_host=127.0.0.1 --tcp_port="$tcp" --http_port="$http" --interserver_http_port=$((http + 1)) \
    --path="$dir/" --tmp_path="$dir/tmp/" --user_files_path="$dir/user_files/" \
    --format_schema_path="$dir/format_schemas/" --timezone=UTC \
    --logger.log="$dir/server.log" --logger.errorlog="$dir/server.err.log" \
    >"$dir/stdout.log" 2>&1 &
  CH_PID=$!
  pids+=("$CH_PID")
}

# start_broker BIN ADDR DATA_DIR LOG: the development Kafka broker. Sets BROKER_PID.
start_broker() {
  "$1" broker --listen "$2" --data-dir "$3" --log-level warn >"$4" 2>&1 &
  BROKER_PID=$!
  pids+=("$BROKER_PID")
}

# wait_services HTTP_PORT KAFKA_ADDR: both answer.
wait_services() {
  wait_for ClickHouse 60 curl -sf "http://127.0.0.1:$1/ping"
  wait_for "Kafka broker" 30 bash -c "exec 3<>/dev/tcp/${2%:*}/${2#*:}"
}
