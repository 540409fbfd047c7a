#!/usr/bin/env bash
# Concurrency at the Little's-law limit: harvest against the delay origin
# (tests/fixtures/delay_origin, every answer after a fixed delay), at several fetches in flight.
#
#   bench/scale_bench.sh [-s SECONDS] [-l LEVELS] [-d DELAY_MS] [-u SEED_URLS] [-r SEED_SECONDS]
#
#   -s 60                 seconds of work per level: each level fetches LEVEL * SECONDS * 1000 /
#                         DELAY_MS distinct URLs, i.e. SECONDS of a full window at the bound
#   -l 1000,5000,10000    fetches in flight (engine.concurrency = engine.per_host_concurrency)
#   -d 1000               the origin's delay (latency) in ms
#   -u 5000000            then a streamed urls_file seed of this many URLs (0 = skip): harvest at
#                         1,000 in flight runs SEED_SECONDS (-r 20) and is stopped with SIGTERM;
#                         prints the time from start to the origin's first request and the peak
#                         RSS with the rest of the file still queued
#
# Prints per level: in flight, URLs, wall s, req/s, the Little's-law bound (in flight / latency),
# the ratio, harvest's peak RSS, CPU s per 1,000 requests (user + sys of harvest alone) and the
# errors. Wall time includes the ramp-up and the last window, so the best possible ratio is
# SECONDS / (SECONDS + latency). Binaries: build/cli/harvest and build/tests/delay_origin (BUILD
# overrides the folder). Both run under `nice`: the machine is shared. Not part of ctest.
set -euo pipefail

BENCH_NAME=scale_bench
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SECONDS_PER_LEVEL=60 LEVELS=1000,5000,10000 DELAY_MS=1000 SEED_URLS=5000000 SEED_SECONDS=20
while getopts "s:l:d:u:r:h" o; do
  case $o in
    s) SECONDS_PER_LEVEL=$OPTARG ;; l) LEVELS=$OPTARG ;; d) DELAY_MS=$OPTARG ;;
    u) SEED_URLS=$OPTARG ;; r) SEED_SECONDS=$OPTARG ;;
    *) sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
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
# start_origin DIR: the delay origin on a free port, its pid in ORIGIN_PID, its port in PORT.
start_origin() {
  nice "$ORIGIN" --port 0 --delay-ms "$DELAY_MS" --port-file "$1/port" >"$1/origin.out" 2>&1 &
  ORIGIN_PID=$!
  for _ in $(seq 500); do [[ -s "$1/port" ]] && break; sleep 0.01; done
  [[ -s "$1/port" ]] || die "delay_origin did not start: $(cat "$1/origin.out")"
  PORT=$(cat "$1/port")
}
stop_origin() { kill "$ORIGIN_PID"; wait "$ORIGIN_PID" 2>/dev/null || true; ORIGIN_PID=""; }
# write_config DIR CONCURRENCY: DIR/cfg.yaml crawling DIR/urls.txt.
# Generous timeouts and no retries: a request that cannot keep up shows as an error, not as a
# silent second try. No rate limit: the origin's delay is the only brake.
write_config() {
  local dir=$1 c=$2
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
state:
  journal: false
YAML
}

for c in "${levels[@]}"; do
  dir="$WORK/c$c"; mkdir -p "$dir/out"
  n=$((c * SECONDS_PER_LEVEL * 1000 / DELAY_MS))
  start_origin "$dir"
  awk -v n="$n" -v p="$PORT" 'BEGIN { for (i = 0; i < n; i++) printf "http://127.0.0.1:%d/p/sku-%d\n", p, i }' >"$dir/urls.txt"
  write_config "$dir" "$c"
  rc=0
  nice /usr/bin/time -f '%e %U %S %M' -o "$dir/time" "$HARVEST" run "$dir/cfg.yaml" \
    --progress never --log-level warn --stats-json "$dir/stats.json" >"$dir/harvest.out" 2>&1 || rc=$?
  stop_origin
  [[ $rc -eq 0 ]] || { tail -20 "$dir/harvest.out" >&2; die "harvest exited $rc at $c in flight"; }
  answered=$(awk '/^requests /{ print $2 }' "$dir/origin.out")
  items=$(wc -l <"$dir/out/items.jsonl")
  errors=0; [[ -f "$dir/out/items.errors.jsonl" ]] && errors=$(wc -l <"$dir/out/items.errors.jsonl")
  read -r wall user sys rss_kb < <(tail -n 1 "$dir/time")
  awk -v c="$c" -v n="$n" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss_kb" -v a="$answered" \
      -v d="$DELAY_MS" -v e="$errors" -v it="$items" 'BEGIN {
    rps = a / w; bound = c * 1000 / d
    printf "%-9d %9d %7.1f %9.0f %9.0f %6.2f %9.1f %13.3f %7d\n", c, n, w, rps, bound, rps / bound,
           r / 1024, (u + s) / a * 1000, e
    if (it + e != n) printf "scale_bench: %d items + %d errors != %d URLs\n", it, e, n > "/dev/stderr"
  }'
  summary "scale_${c}_rps" "$(awk -v a="$answered" -v w="$wall" 'BEGIN { printf "%.0f", a / w }')"
  summary "scale_${c}_bound" "$(awk -v c="$c" -v d="$DELAY_MS" 'BEGIN { printf "%.0f", c * 1000 / d }')"
  summary "scale_${c}_rss_mib" "$(awk -v r="$rss_kb" 'BEGIN { printf "%.1f", r / 1024 }')"
  summary "scale_${c}_errors" "$errors"
  if [[ $errors -gt 0 ]]; then
    echo "  error kinds: $(grep -o '"error":"[^"]*"' "$dir/out/items.errors.jsonl" | sort | uniq -c | sort -rn | head -3 | tr '\n' ' ')" >&2
  fi
  rm -rf "$dir"
done

# The streamed seed: a urls_file far larger than the frontier, stopped after SEED_SECONDS.
if [[ "$SEED_URLS" -gt 0 ]]; then
  c=1000 dir="$WORK/seed"; mkdir -p "$dir/out"
  start_origin "$dir"
  awk -v n="$SEED_URLS" -v p="$PORT" 'BEGIN { for (i = 0; i < n; i++) printf "http://127.0.0.1:%d/p/sku-%d\n", p, i }' >"$dir/urls.txt"
  write_config "$dir" "$c"
  started=$(date +%s.%N)
  nice /usr/bin/time -f '%e %U %S %M' -o "$dir/time" "$HARVEST" run "$dir/cfg.yaml" \
    --progress never --log-level warn >"$dir/harvest.out" 2>&1 &
  harvest_pid=$!
  sleep "$SEED_SECONDS"
  # /usr/bin/time forwards nothing: signal harvest itself (its only child).
  pkill -TERM -P "$harvest_pid" || true
  rc=0; wait "$harvest_pid" || rc=$?
  stop_origin
  [[ $rc -eq 0 || $rc -eq 130 ]] || { tail -20 "$dir/harvest.out" >&2; die "seed run exited $rc"; }
  first=$(awk '/^first_request /{ print $2 }' "$dir/origin.out")
  answered=$(awk '/^requests /{ print $2 }' "$dir/origin.out")
  read -r wall user sys rss_kb < <(tail -n 1 "$dir/time")
  echo
  printf '%-22s %11s %12s %9s %9s\n' "seed" "urls_file" "first_req_s" "fetched" "rss_MB"
  awk -v n="$SEED_URLS" -v s="$started" -v f="$first" -v a="$answered" -v r="$rss_kb" \
      -v t="$SEED_SECONDS" 'BEGIN {
    printf "%-22s %11d %12.3f %9d %9.1f\n", "streamed, " t " s run", n, f - s, a, r / 1024 }'
  summary seed_urls "$SEED_URLS"
  summary seed_first_request_s "$(awk -v s="$started" -v f="$first" 'BEGIN { printf "%.3f", f - s }')"
  summary seed_rss_mib "$(awk -v r="$rss_kb" 'BEGIN { printf "%.1f", r / 1024 }')"
  summary seed_fetched "$answered"
  rm -rf "$dir"
fi
