#!/usr/bin/env bash
# Installs what building, testing and the demo need, when it is missing: libpcap headers,
# Debian's ClickHouse server and client, tshark (reference decoder for tests and benchmarks),
# and the Go modules. Safe to run again.
set -euo pipefail

need=()
[ -f /usr/include/pcap/pcap.h ] || need+=(libpcap-dev)
command -v clickhouse-server >/dev/null 2>&1 || [ -x /usr/sbin/clickhouse-server ] || need+=(clickhouse-server)
command -v clickhouse-client >/dev/null 2>&1 || need+=(clickhouse-client)
command -v tshark >/dev/null 2>&1 || need+=(tshark)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v python3 >/dev/null 2>&1 || need+=(python3)

if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "installing: ${need[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
go mod download
