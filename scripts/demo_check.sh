#!/usr/bin/env bash
# Checks `make demo` as a newcomer meets it: from a fresh clone in a clean directory it
# finishes on its own, shows alerts for the simulated attacks, leaves no process behind,
# and a second run works too. It checks the committed HEAD (a clone), as CI sees it.
# Run by `make test`.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
work=$(mktemp -d /tmp/apiscope-democheck.XXXXXX)
trap 'pkill -f "$work/" 2>/dev/null || true; rm -rf "$work"' EXIT

git clone -q "$src" "$work/apiscope"
cd "$work/apiscope"

fail() { echo "demo check: $*" >&2; exit 1; }
for run in 1 2; do
  echo "demo check: run $run"
  if ! timeout 600 make demo >"$work/demo$run.log" 2>&1 </dev/null; then
    tail -40 "$work/demo$run.log" >&2
    fail "run $run of make demo failed"
  fi
  alerts=$(grep -Ec '^[0-9T:.-]+Z (MEDIUM|HIGH|CRITICAL) ' "$work/demo$run.log" || true)
  [ "$alerts" -gt 0 ] || fail "run $run showed no medium+ alert"
  grep -q '^recall=' "$work/demo$run.log" || fail "run $run printed no evaluation"
  sleep 1
  left=$(pgrep -f "$work/apiscope" || true)
  [ -z "$left" ] || fail "run $run left processes behind: $(ps -o pid,cmd -p $left | tail -n +2)"
  echo "demo check: run $run ok: $alerts alerts shown; $(grep '^recall=' "$work/demo$run.log")"
done
