#!/usr/bin/env bash
# engine.frontier_memory: harvest discovers PAGES * PER links (5,000,000 by default) much faster
# than it can fetch them, and its peak RSS is compared with the budget + 150 MB.
#
#   bench/frontier_bench.sh [-p PAGES] [-n PER_PAGE] [-m BUDGETS] [-d DELAY_MS] [-c CONCURRENCY]
#                           [-t SECONDS] [-D]
#
#   -p 100            listing pages, served at once by one delay_origin
#                     (tests/fixtures/delay_origin, GET /links/<k>), each linking the next one
#   -n 50000          product links per page, to a second delay_origin (another origin, so the
#                     listing pages never queue behind the products)
#   -m 256MiB,64MiB   engine.frontier_memory values, one run each
#   -d 2000           the products' delay in ms: they are fetched slowly, so the links pile up
#   -c 200            engine.concurrency (= per_host_concurrency)
#   -t 900            give up waiting for the last listing page after this many seconds
#   -D                also run each budget with engine.dedup: false, to tell the dedup set's
#                     share of the RSS from the frontier's (its ~42 B per URL is not part of
#                     frontier_memory)
#
# First, bench/dedup_bench: the dedup table's bytes per URL for PAGES * PER_PAGE fingerprints.
# Each run: harvest crawls until the origin has served the last listing page, then 5 s more so
# its links are admitted, then SIGTERM (harvest drains what is in flight and exits 130).
# Prints links discovered, requests spilled to disk, the spill's peak size, the frontier's peak
# in-memory estimate, harvest's peak RSS and the budget + 150 MB it must stay under. Binaries:
# build/cli/harvest and build/tests/delay_origin (BUILD overrides the folder). Both run under
# `nice`: the machine is shared. The spill goes under a temp folder (needs ~70 B per link of
# free disk). Not part of ctest.
set -euo pipefail

BENCH_NAME=frontier_bench
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PAGES=100 PER_PAGE=50000 BUDGETS=256MiB,64MiB DELAY_MS=2000 CONCURRENCY=200 LIMIT_S=900 NO_DEDUP=0
while getopts "p:n:m:d:c:t:Dh" o; do
  case $o in
    p) PAGES=$OPTARG ;; n) PER_PAGE=$OPTARG ;; m) BUDGETS=$OPTARG ;; d) DELAY_MS=$OPTARG ;;
    c) CONCURRENCY=$OPTARG ;; t) LIMIT_S=$OPTARG ;; D) NO_DEDUP=1 ;;
    *) sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done

BUILD=${BUILD:-$ROOT/build}
HARVEST=${HARVEST_BIN:-$BUILD/cli/harvest}
ORIGIN=${DELAY_ORIGIN_BIN:-$BUILD/tests/delay_origin}
[[ -x "$HARVEST" ]] || die "no harvest at $HARVEST (cmake --build build --target harvest)"
[[ -x "$ORIGIN" ]] || die "no delay_origin at $ORIGIN (cmake --build build --target delay_origin)"
[[ -x /usr/bin/time ]] || die "/usr/bin/time is needed (apt-get install time)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/frontier-bench.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# start_origin DIR DELAY_MS: a delay origin on a free port; sets ORIGIN_PID and PORT.
start_origin() {
  mkdir -p "$1"
  nice "$ORIGIN" --port 0 --delay-ms "$2" --port-file "$1/port" >"$1/origin.out" 2>&1 &
  ORIGIN_PID=$!
  PIDS+=("$ORIGIN_PID")
  for _ in $(seq 500); do [[ -s "$1/port" ]] && break; sleep 0.01; done
  [[ -s "$1/port" ]] || die "delay_origin did not start: $(cat "$1/origin.out")"
  PORT=$(cat "$1/port")
}

# MiB/KiB/GiB (as the config takes them) to bytes.
to_bytes() {
  awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    m = u == "KiB" ? 1024 : u == "MiB" ? 1048576 : u == "GiB" ? 1073741824 : 1
    printf "%.0f\n", n * m }'
}

# The dedup table alone: bytes per URL for as many fingerprints as links (bench/dedup_bench).
DEDUP_BENCH=$BUILD/bench/dedup_bench
if [[ -x "$DEDUP_BENCH" ]]; then
  "$DEDUP_BENCH" "$((PAGES * PER_PAGE))" | tee "$WORK/dedup.txt"
  summary dedup_bytes_per_url \
    "$(awk '/^fingerprint_set/ { for (i = 1; i < NF; i++) if ($(i + 1) == "B/URL" &&
      $(i + 2) == "(table)") print $i }' "$WORK/dedup.txt")"
  summary dedup_bytes_target 16   # 8-16 bytes per fingerprint plus table overhead
else
  note "no $DEDUP_BENCH (cmake --build build --target dedup_bench): no dedup bytes per URL"
fi

echo "links served: $((PAGES * PER_PAGE)) in $PAGES pages"
printf '%-8s %-5s %10s %10s %10s %11s %9s %11s %6s\n' "budget" "dedup" "admitted" \
  "spilled" "spill_MB" "frontier_MB" "rss_MB" "limit_MB" "ok"
IFS=, read -r -a budgets <<<"$BUDGETS"
variants=(true); [[ $NO_DEDUP -eq 1 ]] && variants+=(false)
[[ -n "${DEDUP_VARIANTS:-}" ]] && read -r -a variants <<<"$DEDUP_VARIANTS"  # e.g. "false"
for budget in "${budgets[@]}"; do
  for dedup in "${variants[@]}"; do
    dir="$WORK/run-$budget-$dedup"; mkdir -p "$dir/out"
    start_origin "$dir/links" 0; links_pid=$ORIGIN_PID links_port=$PORT
    start_origin "$dir/products" "$DELAY_MS"; products_pid=$ORIGIN_PID products_port=$PORT
    seed="http://127.0.0.1:$links_port/links/0?per=$PER_PAGE&pages=$PAGES"
    cat >"$dir/cfg.yaml" <<YAML
name: frontier
seeds:
  - url: "$seed&to=127.0.0.1:$products_port"
engine:
  concurrency: $CONCURRENCY
  per_host_concurrency: $CONCURRENCY
  robots_txt: ignore
  dedup: $dedup
  frontier_memory: $budget
http:
  timeouts: {connect: 10s, tls: 5s, response_headers: 60s, idle_read: 60s, total: 120s}
rate_limit:
  per_second: 0
  burst: 1
retry:
  max_attempts: 1
follow:
  - css: a
extract:
  - match: "/p/"
    type: json
    fields:
      id: /id
    required: [id]
outputs:
  - type: jsonl
    path: out/items.jsonl
state:
  dir: $dir/state
  journal: false
YAML
    nice /usr/bin/time -f '%e %U %S %M' -o "$dir/time" "$HARVEST" run "$dir/cfg.yaml" \
      --progress never --log-level warn --stats-json "$dir/stats.json" >"$dir/harvest.out" 2>&1 &
    harvest_pid=$!
    PIDS+=("$harvest_pid")
    waited=0
    until grep -q '^last_link_page ' "$dir/links/origin.out"; do
      if ! kill -0 "$harvest_pid" 2>/dev/null; then
        tail -20 "$dir/harvest.out" >&2; die "harvest ended early"
      fi
      if [[ $waited -ge $LIMIT_S ]]; then
        echo "frontier_bench: last page not reached in ${LIMIT_S}s" >&2; break
      fi
      sleep 1; waited=$((waited + 1))
    done
    sleep 5  # the last page's links are parsed and admitted
    # /usr/bin/time forwards nothing: signal harvest itself (its only child).
    pkill -TERM -P "$harvest_pid" || true
    rc=0; wait "$harvest_pid" || rc=$?
    kill "$links_pid" "$products_pid" 2>/dev/null || true
    wait "$links_pid" "$products_pid" 2>/dev/null || true
    PIDS=()
    [[ $rc -eq 0 || $rc -eq 130 ]] || { tail -20 "$dir/harvest.out" >&2; die "harvest exited $rc"; }
    read -r _wall _user _sys rss_kb < <(tail -n 1 "$dir/time")
    python3 - "$dir/stats.json" "$budget" "$(to_bytes "$budget")" "$dedup" "$rss_kb" \
        <<'PY'
import json, sys
stats = json.load(open(sys.argv[1]))
budget_name, budget, dedup, rss_kb = sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
f = stats["frontier"]
# Admitted: sent (one attempt each: max_attempts 1) or still queued when stopped; the seed and
# the listing pages included.
admitted = stats["requests"] + f["queued"]
rss_mb = rss_kb / 1024
limit_mb = budget / 2**20 + 150
print(f"{budget_name:<8} {dedup:<5} {admitted:>10} {f['spilled']:>10} "
      f"{f['spill_bytes_peak'] / 2**20:>10.1f} {f['memory_bytes_peak'] / 2**20:>11.1f} "
      f"{rss_mb:>9.1f} {limit_mb:>11.1f} {'yes' if rss_mb <= limit_mb else 'NO':>6}")
open(sys.argv[1] + ".rss", "w").write(f"{rss_mb:.1f} {limit_mb:.0f}\n")
PY
    # For bench/all.sh: the first budget's run with dedup on (the default configuration).
    if [[ $dedup == true && -z "${SUMMARIZED:-}" ]]; then
      read -r rss_mb limit_mb <"$dir/stats.json.rss"
      summary spill_budget "$budget"
      summary spill_peak_rss_mib "$rss_mb"
      summary spill_rss_target_mib "$limit_mb"
      SUMMARIZED=1
    fi
    rm -rf "$dir"
  done
done
