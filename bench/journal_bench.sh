#!/usr/bin/env bash
# The state journal's cost: the same crawl with and without it, side by side, best of 3.
#
#   bench/journal_bench.sh [-c CONCURRENCY] [-n PRODUCTS] [-r ROUNDS]
#
#   -c 64      requests in flight
#   -n 20000   products in the catalog; the crawl fetches each product's JSON once
#   -r 3       rounds; each round runs both variants, alternating, and the best of each counts
#
# Variants: `journal` (the default: admits, a commit with fdatasync at most every 100 ms, the
# finish record) and `none` (state.journal: false). The catalog and nginx are set up as in
# bench/fetch_bench.sh (../shared/workload when present, else tests/fixtures; BENCH_SITE and
# BENCH_WORKLOAD override). harvest is build-release/cli/harvest (built when missing or stale)
# or HARVEST_BIN. The state dir lives in a temp folder on the same file system as /tmp (set
# TMPDIR to measure another disk). Prints req/s and CPU seconds per run, the ratio of the best
# runs and the journal's size. The target is a cost of at most 5% (ratio >= 0.95). On a busy
# machine use more rounds (-r): the best of each variant is the least disturbed. /usr/bin/time
# is Debian's `time`. Not part of ctest.
set -euo pipefail

BENCH_NAME=journal_bench
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

C=64 N=20000 R=3
while getopts "c:n:r:h" o; do
  case $o in
    c) C=$OPTARG ;; n) N=$OPTARG ;; r) R=$OPTARG ;;
    *) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done

json_crawl_setup "$N"

{
  bench_crawl_yaml journal_bench "$WORK/urls.txt" "$WORK/items.jsonl" json "$C"
  cat <<YAML
state:
  dir: $WORK/state
YAML
} >"$WORK/bench.yaml"

declare -A BEST ALL CPU
BEST[journal]=0 BEST[none]=0
journal_bytes=0
for round in $(seq 1 "$R"); do
  # Alternate which variant goes first, so a warming page cache favours neither.
  order=(journal none); (( round % 2 == 0 )) && order=(none journal)
  for variant in "${order[@]}"; do
    rm -rf "$WORK/items.jsonl" "$WORK/state"
    extra=()
    [[ $variant == none ]] && extra=(--set state.journal=false)
    t0=$(now)
    /usr/bin/time -f '%U %S' -o "$WORK/cpu" "$HARVEST" run "$WORK/bench.yaml" "${extra[@]}" \
      >"$WORK/harvest.log" 2>&1 ||
      { tail -20 "$WORK/harvest.log" >&2; die "harvest failed ($variant)"; }
    t1=$(now)
    cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$WORK/cpu")
    CPU[$variant]="${CPU[$variant]:-}${CPU[$variant]:+ }$cpu"
    items=$(wc -l <"$WORK/items.jsonl" 2>/dev/null || echo 0)
    [[ "$items" == "$URLS" ]] || die "$variant run wrote $items items of $URLS"
    if [[ $variant == journal ]]; then
      journal_bytes=$(stat -c %s "$WORK/state/journal.log")
    elif [[ -e "$WORK/state/journal.log" ]]; then
      die "state.journal=false still wrote $WORK/state/journal.log"
    fi
    r=$(rate "$items" "$t0" "$t1")
    ALL[$variant]="${ALL[$variant]:-}${ALL[$variant]:+ }$r"
    (( r > BEST[$variant] )) && BEST[$variant]=$r
  done
done

echo
echo "journal_bench: $URLS product JSON URLs on $BASE, concurrency $C, $(nproc) cores, best of $R"
printf '%-8s %10s  %-24s %s\n' variant 'best req/s' 'every run (req/s)' 'CPU s (user + sys)'
for v in journal none; do
  printf '%-8s %10s  %-24s %s\n' "$v" "${BEST[$v]}" "${ALL[$v]}" "${CPU[$v]}"
done
per_request=$(awk -v b="$journal_bytes" -v n="$URLS" 'BEGIN { printf "%.0f", b / n }')
echo "journal size at the end: $journal_bytes bytes ($per_request per request)"
awk -v j="${BEST[journal]}" -v n="${BEST[none]}" 'BEGIN {
  printf "journal / none: %.3fx (cost %.1f%%, target <= 5%%)\n", j / n, 100 * (1 - j / n) }'
