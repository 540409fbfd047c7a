#!/usr/bin/env bash
# CPU per request of harvest with ONE engine thread against wrk -t1, side by side, on the JSON
# crawl and on the HTML + JSON-LD crawl of the reference workload (the third target of the
# shard-per-core issue: <= 1.25x wrk on JSON, <= 1.35x on HTML).
#
#   bench/cpu_bench.sh [-u URLS] [-r ROUNDS] [-d WRK_SECONDS] [-k KINDS] [-c CONCURRENCY]
#
#   -u 20000   URLs harvest fetches per run (the first URLS products; wrk cycles through them)
#   -r 3       rounds; each runs wrk then harvest, for each kind, back to back
#   -d 5       wrk's duration in seconds
#   -k LIST    json,html (default both): the product API documents with a `json` rule, or the
#              product pages with `jsonld` (schema Product), as bench/fetch_bench.sh runs them
#   -c 64      requests in flight for both tools
#
# CPU is user + system time of the whole process (/usr/bin/time -v) divided by the requests it
# completed: harvest's items, wrk's requests. Start-up (config, seed file) is in harvest's
# figure. On a shared machine the absolute figures move with the load; the ratio of a round,
# measured back to back, holds better. Each round also splits both figures into user and system
# time: about three quarters of wrk's is the kernel's (bench/cost_bench.sh -p counts both tools'
# instructions and system calls per request). Prints each round and one line per kind:
#   cpu us/request harvest vs wrk (json): 27.0 vs 20.1 = 1.34x (median of 3 rounds)
# BENCH_PERF=DIR: after the rounds of a kind, one more harvest run under `perf record -g` into
# DIR/perf-KIND.data (linux-perf), not counted in the figures.
# harvest is build-release/cli/harvest (Release, built when missing or stale) or HARVEST_BIN;
# the catalog is generated once into .harvest/bench-site (BENCH_SITE overrides) as by
# fetch_bench.sh. Not part of ctest.
set -euo pipefail

BENCH_NAME=cpu_bench
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

URLS=20000 ROUNDS=3 D=5 KINDS=json,html C=64
while getopts "u:r:d:k:c:h" o; do
  case $o in
    u) URLS=$OPTARG ;; r) ROUNDS=$OPTARG ;; d) D=$OPTARG ;; k) KINDS=$OPTARG ;; c) C=$OPTARG ;;
    *) sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done

bench_workload
SITE=${BENCH_SITE:-$ROOT/.harvest/bench-site}
HARVEST=${HARVEST_BIN:-$ROOT/build-release/cli/harvest}
N=20000   # the catalog fetch_bench.sh and bench/all.sh use: one generated site for all three
(( URLS <= N )) || die "-u is at most $N"

[[ "${HARVEST_SKIP_DEPS:-0}" == 1 ]] || scripts/install-deps.sh
need_time
command -v wrk >/dev/null || apt_install wrk || die "cannot install wrk"
build_release_harvest
[[ -x "$HARVEST" ]] || die "no harvest binary at $HARVEST"
make_catalog "$SITE" "$N"

WORK=$(mktemp -d /tmp/harvest-cpu-bench.XXXXXX)
cleanup() { stop_nginx "$WORK/nginx"; rm -rf "$WORK"; }
trap cleanup EXIT
start_nginx "$SITE" "$WORK/nginx"

lua=$(wrk_urls_script "$WORK")

per_request() {   # per_request TIME_FILE REQUESTS: user + sys µs per request
  awk -v s="$(cpu_seconds "$1")" -v n="$2" 'BEGIN { if (n > 0) printf "%.1f", s * 1e6 / n }'
}
split_per_request() {   # split_per_request TIME_FILE REQUESTS: "user U + sys S" µs per request
  awk -F': ' -v n="$2" '/User time/ { u = $2 } /System time/ { s = $2 }
    END { if (n > 0) printf "user %.1f + sys %.1f", u * 1e6 / n, s * 1e6 / n }' "$1"
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

for kind in ${KINDS//,/ }; do
  case $kind in
    json)
      head -n "$URLS" "$SITE/asins.txt" | sed "s#.*#$BASE/api/products/&.json#" >"$WORK/urls.txt" ;;
    html)
      head -n "$URLS" "$SITE/asins.txt" | sed "s#.*#$BASE/p/&.html#" >"$WORK/urls.txt" ;;
    *) die "-k wants json and/or html, not $kind" ;;
  esac
  bench_crawl_yaml cpu-bench "$WORK/urls.txt" "$WORK/harvest.jsonl" "$kind" "$C" "threads: 1" \
    >"$WORK/bench.yaml"
  : >"$WORK/ratios" ; : >"$WORK/h" ; : >"$WORK/w"
  for round in $(seq "$ROUNDS"); do
    /usr/bin/time -v -o "$WORK/wrk.time" \
      wrk -t1 -c"$C" -d"${D}s" -s "$lua" "$BASE" -- "$WORK/urls.txt" >"$WORK/wrk.log" 2>&1 ||
      die "wrk failed: $(tail -3 "$WORK/wrk.log")"
    wrk_n=$(awk '/ requests in / { print $1 }' "$WORK/wrk.log")
    w=$(per_request "$WORK/wrk.time" "$wrk_n")
    rm -f "$WORK/harvest.jsonl"
    /usr/bin/time -v -o "$WORK/harvest.time" timeout 600 "$HARVEST" run "$WORK/bench.yaml" \
      >"$WORK/harvest.log" 2>&1 || die "harvest failed: $(tail -3 "$WORK/harvest.log")"
    items=$(wc -l <"$WORK/harvest.jsonl")
    [[ $items -eq $URLS ]] || die "harvest wrote $items items of $URLS"
    h=$(per_request "$WORK/harvest.time" "$items")
    r=$(awk -v h="$h" -v w="$w" 'BEGIN { printf "%.2f", h / w }')
    echo "$kind round $round: harvest $h us/request ($(split_per_request "$WORK/harvest.time" \
      "$items"); $items items), wrk $w us/request ($(split_per_request "$WORK/wrk.time" \
      "$wrk_n"); $wrk_n requests): ${r}x"
    echo "$r" >>"$WORK/ratios"; echo "$h" >>"$WORK/h"; echo "$w" >>"$WORK/w"
  done
  if [[ -n "${BENCH_PERF:-}" ]]; then   # one more harvest run under perf record -g, not counted
    mkdir -p "$BENCH_PERF"
    rm -f "$WORK/harvest.jsonl"
    perf record -q -g -o "$BENCH_PERF/perf-$kind.data" -- "$HARVEST" run "$WORK/bench.yaml" \
      >"$WORK/harvest.log" 2>&1 || note "perf record failed: $(tail -3 "$WORK/harvest.log")"
  fi
  hm=$(median <"$WORK/h") wm=$(median <"$WORK/w") rm_=$(median <"$WORK/ratios")
  echo "cpu us/request harvest vs wrk ($kind): $hm vs $wm = ${rm_}x (median of $ROUNDS rounds)"
  summary "${kind}_harvest_cpu_us" "$hm"
  summary "${kind}_wrk_cpu_us" "$wm"
  summary "${kind}_cpu_ratio" "$rm_"
done
