#!/usr/bin/env bash
# Concurrency at the Little's-law limit: harvest against the delay origin
# (tests/fixtures/delay_origin, every answer after a fixed delay), at several fetches in flight.
#
#   bench/scale_bench.sh [-s SECONDS] [-l LEVELS] [-d DELAY_MS]
#
#   -s 60                 seconds of work per level: each level fetches LEVEL * SECONDS * 1000 /
#                         DELAY_MS distinct URLs, i.e. SECONDS of a full window at the bound
#   -l 1000,5000,10000    fetches in flight (engine.concurrency = engine.per_host_concurrency)
#   -d 1000               the origin's delay (latency) in ms
#
# Prints per level: in flight, URLs, wall s, req/s, the Little's-law bound (in flight / latency),
# the ratio, harvest's peak RSS, CPU s per 1,000 requests (user + sys of harvest alone) and the
# errors. Wall time includes the ramp-up and the last window, so the best possible ratio is
# SECONDS / (SECONDS + latency). Binaries: build/cli/harvest and build/tests/delay_origin (BUILD
# overrides the folder). Both run under `nice`: the machine is shared. Not part of ctest.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "scale_bench: $*" >&2; exit 1; }

SECONDS_PER_LEVEL=60 LEVELS=1000,5000,10000 DELAY_MS=1000
while getopts "s:l:d:h" o; do
  case $o in
    s) SECONDS_PER_LEVEL=$OPTARG ;; l) LEVELS=$OPTARG ;; d) DELAY_MS=$OPTARG ;;
    *) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done

BUILD=${BUILD:-$ROOT/build}
HARVEST=${HARVEST_BIN:-$BUILD/cli/harvest}
ORIGIN=${DELAY_ORIGIN_BIN:-$BUILD/tests/delay_origin}
[[ -x "$HARVEST" ]] || die "no harvest at $HARVEST (cmake --build build --target harvest)"
[[ -x "$ORIGIN" ]] || die "no delay_origin at $ORIGIN (cmake --build build --target delay_origin)"
[[ -x /usr/bin/time ]] || die "/usr/bin/time is needed (apt-get install time)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/scale-bench.XXXXXX")
ORIGIN_PID=""
cleanup() {
  if [[ -n "$ORIGIN_PID" ]]; then kill "$ORIGIN_PID" 2>/dev/null || true; wait "$ORIGIN_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# One connection per fetch in flight on each side: both processes raise their soft limit to the
# hard one, which must leave room for the largest level.
hard=$(ulimit -Hn)
IFS=, read -r -a levels <<<"$LEVELS"
for c in "${levels[@]}"; do
  [[ "$hard" == unlimited || "$c" -lt $((hard - 100)) ]] || die "level $c needs more than the $hard open files allowed"
done

printf '%-9s %9s %7s %9s %9s %6s %9s %13s %7s\n' \
  "in_flight" "urls" "wall_s" "req/s" "bound" "ratio" "rss_MB" "cpu_s/1000req" "errors"
for c in "${levels[@]}"; do
  dir="$WORK/c$c"; mkdir -p "$dir/out"
  n=$((c * SECONDS_PER_LEVEL * 1000 / DELAY_MS))
  nice "$ORIGIN" --port 0 --delay-ms "$DELAY_MS" --port-file "$dir/port" >"$dir/origin.out" 2>&1 &
  ORIGIN_PID=$!
  for _ in $(seq 500); do [[ -s "$dir/port" ]] && break; sleep 0.01; done
  [[ -s "$dir/port" ]] || die "delay_origin did not start: $(cat "$dir/origin.out")"
  port=$(cat "$dir/port")
  awk -v n="$n" -v p="$port" 'BEGIN { for (i = 0; i < n; i++) printf "http://127.0.0.1:%d/p/sku-%d\n", p, i }' >"$dir/urls.txt"
  # Generous timeouts and no retries: a request that cannot keep up shows as an error, not as a
  # silent second try. No rate limit: the origin's delay is the only brake.
  cat >"$dir/cfg.yaml" <<YAML
name: scale
seeds:
  - urls_file: $dir/urls.txt
engine:
  concurrency: $c
  per_host_concurrency: $c
  robots_txt: ignore
http:
  timeouts: {connect: 10s, tls: 5s, response_headers: 30s, idle_read: 30s, total: 60s}
rate_limit:
  per_second: 0
  burst: 1
retry:
  max_attempts: 1
circuit_breaker:
  window: 100000
  min_calls: 100000
  failure_rate: 0.99
  open_for: 1s
extract:
  - match: "."
    type: json
    fields:
      id: /id
      price: /price
    required: [id]
outputs:
  - type: jsonl
    path: out/items.jsonl
YAML
  rc=0
  nice /usr/bin/time -f '%e %U %S %M' -o "$dir/time" "$HARVEST" run "$dir/cfg.yaml" \
    --progress never --log-level warn --stats-json "$dir/stats.json" >"$dir/harvest.out" 2>&1 || rc=$?
  kill "$ORIGIN_PID"; wait "$ORIGIN_PID" 2>/dev/null || true; ORIGIN_PID=""
  [[ $rc -eq 0 ]] || { tail -20 "$dir/harvest.out" >&2; die "harvest exited $rc at $c in flight"; }
  answered=$(awk '/^requests /{ print $2 }' "$dir/origin.out")
  items=$(wc -l <"$dir/out/items.jsonl")
  errors=0; [[ -f "$dir/out/items.errors.jsonl" ]] && errors=$(wc -l <"$dir/out/items.errors.jsonl")
  read -r wall user sys rss_kb <"$(echo "$dir/time")"
  awk -v c="$c" -v n="$n" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss_kb" -v a="$answered" \
      -v d="$DELAY_MS" -v e="$errors" -v it="$items" 'BEGIN {
    rps = a / w; bound = c * 1000 / d
    printf "%-9d %9d %7.1f %9.0f %9.0f %6.2f %9.1f %13.3f %7d\n", c, n, w, rps, bound, rps / bound,
           r / 1024, (u + s) / a * 1000, e
    if (it + e != n) printf "scale_bench: %d items + %d errors != %d URLs\n", it, e, n > "/dev/stderr"
  }'
  if [[ $errors -gt 0 ]]; then
    echo "  error kinds: $(grep -o '"error":"[^"]*"' "$dir/out/items.errors.jsonl" | sort | uniq -c | sort -rn | head -3 | tr '\n' ' ')" >&2
  fi
  rm -rf "$dir"
done
