#!/usr/bin/env bash
# Sustained insert rate into api_calls through store.BatchWriter, and bytes on disk per
# call, against a private clickhouse-server started by the benchmark (pkg/store/chtest).
#
#   scripts/bench_clickhouse.sh [ROWS] [COUNT]    # defaults: 2000000 rows, 3 runs
#
# Prints the machine, then one line per run: rows/s (first Add to Close, wall clock),
# client and server CPU per row, bytes on disk per call after OPTIMIZE FINAL (system.parts)
# and uncompressed bytes per call.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-2000000}
count=${2:-3}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GB RAM"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "clickhouse: $(clickhouse-client --version 2>/dev/null || echo unknown); go: $(go env GOVERSION)"
echo "command: go test ./pkg/store -run '^\$' -bench BatchWriterCalls -benchtime ${rows}x -count $count"
go test ./pkg/store -run '^$' -bench BatchWriterCalls -benchtime "${rows}x" -count "$count" | grep -E '^(Benchmark|ok|FAIL)'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
