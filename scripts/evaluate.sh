#!/usr/bin/env bash
# Reproduces the results table of docs/DETECTION.md: for each seed, simulate a labelled
# capture, replay it through the analyzer (all detectors) and through the fixed per-client
# rate rule (ratelimit-baseline), score both with `apiscope evaluate`, and print per-seed
# lines and a markdown table of the totals.
#
#   scripts/evaluate.sh [-s "1 2 3 4 5"] [-c default] [-x medium] [-d WORKDIR] [-k]
#
# -c takes a built-in scenario's name or a scenario file (analyzer/testdata/heldout/*.yaml);
# -k keeps the pcaps (about 450 MB each at medium scale); by default each is deleted once
# replayed. Needs jq.
set -euo pipefail
cd "$(dirname "$0")/.."

seeds="1 2 3 4 5"
scenario=default
scale=medium
work=""
keep=0
while getopts "s:c:x:d:k" o; do
  case $o in
    s) seeds=$OPTARG ;;
    c) scenario=$OPTARG ;;
    x) scale=$OPTARG ;;
    d) work=$OPTARG ;;
    k) keep=1 ;;
    *) echo "usage: $0 [-s seeds] [-c scenario] [-x scale] [-d workdir] [-k]" >&2; exit 2 ;;
  esac
done
command -v jq >/dev/null || { echo "evaluate.sh needs jq" >&2; exit 1; }
if [ -z "$work" ]; then
  work=$(mktemp -d /tmp/apiscope-evaluate.XXXXXX)
fi
mkdir -p "$work"
bin="$work/apiscope"
go build -o "$bin" ./cmd/apiscope
export APISCOPE_FP_KEY=${APISCOPE_FP_KEY:-apiscope-evaluation-key}

name=$(basename "$scenario" .yaml)
for s in $seeds; do
  d="$work/$name-$scale-$s"
  "$bin" simulate --out "$d" --seed "$s" --scenario "$scenario" --scale "$scale" >/dev/null
  "$bin" replay --pcap "$d/traffic.pcap" --findings "$d/findings.jsonl" --calls "$d/calls.jsonl" 2>"$d/replay.log"
  [ "$keep" = 1 ] || rm -f "$d/traffic.pcap"
  "$bin" replay --from-calls "$d/calls.jsonl" --findings "$d/baseline.jsonl" --detectors ratelimit-baseline 2>"$d/baseline.log"
  "$bin" evaluate --labels "$d/labels.json" --findings "$d/findings.jsonl" --json "$d/apiscope.json" >/dev/null
  "$bin" evaluate --labels "$d/labels.json" --findings "$d/baseline.jsonl" --json "$d/baseline.json" >/dev/null
  echo "seed $s apiscope:  $(jq -r '"recall=\(.recall) precision=\(.precision) false_alert_clients=\(.false_alert_clients)/\(.benign_clients) median_delay_s=\(.median_delay_s)"' "$d/apiscope.json")"
  echo "seed $s ratelimit: $(jq -r '"recall=\(.recall) precision=\(.precision) false_alert_clients=\(.false_alert_clients)/\(.benign_clients) median_delay_s=\(.median_delay_s)"' "$d/baseline.json")"
done

# Totals over the seeds: recall per attack type and overall from summed incident counts,
# false-alert clients summed, precision and F1 as the mean of the seeds, median delay as the
# median of the seeds' medians.
summ() { # $1 = report name
  jq -s '
    def med: sort | if length == 0 then null elif length % 2 == 1 then .[length/2|floor] else (.[length/2-1] + .[length/2]) / 2 end;
    {
      types: ([.[].by_type[]] | group_by(.type) | map({type: .[0].type, incidents: (map(.incidents)|add), detected: (map(.detected)|add)})),
      incidents: (map(.incidents)|add), detected: (map(.detected)|add),
      fa: (map(.false_alert_clients)|add), benign: (map(.benign_clients)|add),
      precision: (map(.precision)|add/length), f1: (map(.f1)|add/length),
      delay: (map(.median_delay_s) | map(select(. != null)) | med)
    }' "$work"/"$name-$scale"-*/"$1".json
}
summ apiscope >"$work/apiscope.total.json"
summ baseline >"$work/baseline.total.json"
jq -rn --slurpfile a "$work/apiscope.total.json" --slurpfile b "$work/baseline.total.json" --arg seeds "$seeds" --arg sc "$name" --arg x "$scale" '
  def r(d; n): if n == 0 then "-" else "\(d)/\(n) = \((d / n * 1000 | round) / 1000)" end;
  def f(v): if v == null then "-" else "\((v * 1000 | round) / 1000)" end;
  $a[0] as $A | $b[0] as $B |
  "Scenario \($sc), scale \($x), seeds \($seeds)\n",
  "| | apiscope | fixed rate rule (ratelimit-baseline) |",
  "|---|---|---|",
  ($A.types[] as $t | ($B.types[] | select(.type == $t.type)) as $u |
    "| recall \($t.type) | \(r($t.detected; $t.incidents)) | \(r($u.detected; $u.incidents)) |"),
  "| **recall overall** | **\(r($A.detected; $A.incidents))** | \(r($B.detected; $B.incidents)) |",
  "| benign clients alerted | \($A.fa) of \($A.benign) (\(($A.fa / $A.benign * 10000 | round) / 100)%) | \($B.fa) of \($B.benign) (\(($B.fa / $B.benign * 10000 | round) / 100)%) |",
  "| precision (entity, mean of seeds) | \(f($A.precision)) | \(f($B.precision)) |",
  "| F1 (mean of seeds) | \(f($A.f1)) | \(f($B.f1)) |",
  "| median detection delay (s, median of seeds) | \(f($A.delay)) | \(f($B.delay)) |"'
echo
echo "work directory: $work"
