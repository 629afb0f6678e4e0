#!/usr/bin/env bash
# Runs every test: formatting and vet checks, then go test with the race detector.
# Tests that need ClickHouse start Debian's clickhouse-server themselves; tests that need
# Kafka start an in-process Kafka-protocol broker. Under CI=true a missing service fails.
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" $unformatted >&2
  exit 1
fi
go vet ./...
go test -race -timeout 40m -count=1 ./... 2>&1 | tee /tmp/apiscope-test.log | grep -Ev '^(=== RUN|=== PAUSE|=== CONT)'
status=${PIPESTATUS[0]}
passed=$(grep -c '^ok ' /tmp/apiscope-test.log || true)
failed=$(grep -c '^FAIL' /tmp/apiscope-test.log || true)
echo "packages: $passed passed, $failed failed"
exit "$status"
