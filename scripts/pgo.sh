#!/usr/bin/env bash
# Makes cmd/apiscope/default.pgo, the CPU profile that `go build` optimises the apiscope
# binary with (profile-guided optimisation: inlining and layout follow the hot paths). The
# profile is the sensor's work on the keep-alive benchmark capture of scripts/bench.sh, with
# 1 and 2 workers, four runs each, merged. Rerun it after large changes to the sensor; a
# stale profile still builds, it only optimises less.
#
#   scripts/pgo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

go build -pgo=off -o "$tmp/apiscope" ./cmd/apiscope
go run ./scripts/benchcap -out "$tmp/keepalive.pcap"
for run in 1 2 3 4; do
	for workers in 1 2; do
		"$tmp/apiscope" sensor --pcap "$tmp/keepalive.pcap" --out /dev/null --workers "$workers" \
			--no-progress --log-level error --cpu-profile "$tmp/sensor.$workers.$run.pprof" 2>/dev/null
	done
done
go tool pprof -proto "$tmp"/*.pprof >"$tmp/default.pgo"
mv "$tmp/default.pgo" cmd/apiscope/default.pgo
echo "wrote cmd/apiscope/default.pgo ($(wc -c <cmd/apiscope/default.pgo) bytes)" >&2
