#!/usr/bin/env bash
# The cookie jar's cost: the same JSON crawl with http.cookies true (the default) and false,
# side by side, best of 3.
#
#   bench/cookie_bench.sh [-c CONCURRENCY] [-n PRODUCTS] [-r ROUNDS]
#
#   -c 64      requests in flight
#   -n 20000   products in the catalog; the crawl fetches each product's JSON once
#   -r 3       rounds; each round runs both variants, alternating, and the best of each counts
#
# Variants: `cookies` (http.cookies: true, four sessions: each request asks its session's jar for
# a Cookie header and hands it every Set-Cookie) and `off` (http.cookies: false). The catalog and
# nginx are set up as in bench/fetch_bench.sh (../shared/workload when present, else
# tests/fixtures; BENCH_SITE and BENCH_WORKLOAD override); nginx sets no cookie, so this is the
# jar's cost on every request of a crawl, not the cost of storing many cookies (the unit tests
# bound that: a jar holds at most 3000). harvest is build-release/cli/harvest (built when
# missing or stale) or HARVEST_BIN. Prints req/s and CPU seconds per run and the ratio of the
# best runs; the target is a cost of at most 5% (ratio >= 0.95). /usr/bin/time is Debian's
# `time`. Not part of ctest.
set -euo pipefail

BENCH_NAME=cookie_bench
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

C=64 N=20000 R=3
while getopts "c:n:r:h" o; do
  case $o in
    c) C=$OPTARG ;; n) N=$OPTARG ;; r) R=$OPTARG ;;
    *) sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done

json_crawl_setup "$N"

{
  bench_crawl_yaml cookie_bench "$WORK/urls.txt" "$WORK/items.jsonl" json "$C"
  cat <<YAML
state:
  journal: false
sessions:
  count: 4
YAML
} >"$WORK/bench.yaml"

declare -A BEST ALL CPU
BEST[cookies]=0 BEST[off]=0
for round in $(seq 1 "$R"); do
  # Alternate which variant goes first, so a warming page cache favours neither.
  order=(cookies off); (( round % 2 == 0 )) && order=(off cookies)
  for variant in "${order[@]}"; do
    rm -rf "$WORK/items.jsonl"
    extra=(--set "http.cookies=$([[ $variant == cookies ]] && echo true || echo false)")
    t0=$(now)
    /usr/bin/time -f '%U %S' -o "$WORK/cpu" "$HARVEST" run "$WORK/bench.yaml" "${extra[@]}" \
      >"$WORK/harvest.log" 2>&1 ||
      { tail -20 "$WORK/harvest.log" >&2; die "harvest failed ($variant)"; }
    t1=$(now)
    cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$WORK/cpu")
    CPU[$variant]="${CPU[$variant]:-}${CPU[$variant]:+ }$cpu"
    items=$(wc -l <"$WORK/items.jsonl" 2>/dev/null || echo 0)
    [[ "$items" == "$URLS" ]] || die "$variant run wrote $items items of $URLS"
    r=$(rate "$items" "$t0" "$t1")
    ALL[$variant]="${ALL[$variant]:-}${ALL[$variant]:+ }$r"
    (( r > BEST[$variant] )) && BEST[$variant]=$r
  done
done

echo
echo "cookie_bench: $URLS product JSON URLs on $BASE, concurrency $C, $(nproc) cores, best of $R"
printf '%-8s %10s  %-24s %s\n' variant 'best req/s' 'every run (req/s)' 'CPU s (user + sys)'
for v in cookies off; do
  printf '%-8s %10s  %-24s %s\n' "$v" "${BEST[$v]}" "${ALL[$v]}" "${CPU[$v]}"
done
awk -v c="${BEST[cookies]}" -v o="${BEST[off]}" 'BEGIN {
  printf "cookies / off: %.3fx (cost %.1f%%, target <= 5%%)\n", c / o, 100 * (1 - c / o) }'
