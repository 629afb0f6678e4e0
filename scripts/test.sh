#!/usr/bin/env bash
# Runs every test: formatting and vet checks, go test with the race detector, then the
# demo from a fresh clone (twice). Tests that need ClickHouse start Debian's
# clickhouse-server themselves; tests that need Kafka start an in-process Kafka-protocol
# broker. Under CI=true a missing service fails the run instead of skipping.
set -uo pipefail
cd "$(dirname "$0")/.."

unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" $unformatted >&2
  exit 1
fi
go vet ./... || exit 1

log=$(mktemp /tmp/apiscope-test.XXXXXX)
go test -race -timeout 45m -count=1 ./... 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
passed=$(grep -c '^ok ' "$log" || true)
failed=$(grep -Ec '^(FAIL|--- FAIL)' "$log" || true)
rm -f "$log"
if [ "$status" -ne 0 ]; then
  echo "go test failed"
  exit "$status"
fi

if [ "${SKIP_DEMO_CHECK:-}" != 1 ]; then
  scripts/demo_check.sh || exit 1
fi
echo "test: $passed passed, $failed failed"
