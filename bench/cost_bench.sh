#!/usr/bin/env bash
# Cost per request of harvest: instructions (callgrind) and CPU time for a fixed crawl of the
# reference workload's products (their JSON, or their pages), served by nginx on 127.0.0.1, and
# the top functions.
#
#   bench/cost_bench.sh [-n PRODUCTS] [-w KIND] [-c CONCURRENCY] [-t THREADS] [-r RUNS] [-m]
#                       [-k TOP] [-s KEY=VALUE]... [-H HOSTS] [-p]
#
#   -n 2000    products in the catalog; every product is fetched once
#   -w json    json: each product's JSON (/api/products/{ASIN}.json) with a `json` rule; html:
#              each product's page (/p/{ASIN}.html, ~35 KB) with `jsonld` (schema Product); dom:
#              the same pages with a `type: html` rule (CSS selectors)
#   -c 64      requests in flight
#   -t 1       engine threads (1: one core, no cross-thread noise; 0: one per core). With an
#              extraction thread, callgrind's count is not the crawl's: the sink hands a page to
#              the extraction pool while its measured extraction CPU is 25 us or more, and under
#              valgrind a JSON document's takes that long, so pages cross threads there and not
#              outside it (2,000 JSON URLs, -t 0: 71,070 instructions per request, -t 1: 63,745)
#   -r 3       timed runs (the CPU time reported is the lowest)
#   -m         with the /metrics endpoint (and so every per-request metric cell) on
#   -k 25      functions listed from the callgrind profile (by self instructions)
#   -s K=V     a config key set for both crawls (harvest run --set), e.g. -s http.cookies=false to
#              see what the cookie jar costs; repeatable
#   -H 1       hosts: HOSTS nginx servers (one worker each) on their own ports serve the catalog,
#              and the URLs go to them in turn, so the crawl has HOSTS origins; with
#              engine.network_threads > 1 (-s) they spread over the network shards. Not with -p
#   -p         wrk -t1 beside harvest, with the same connections cycling through the same URLs: its
#              instructions per request under callgrind (the difference between a 2 s and a 6 s
#              run, over the requests between them) and its system calls per request, and
#              harvest's over wrk's for both. The instruction count does not move with the
#              machine's other load (63,431 and 63,434 in two runs), so the shard-per-core
#              issue's "CPU per request against wrk's" can be followed on a shared machine; the
#              system calls move some, with how many events each epoll_wait returns (3.91 to
#              8.51 for harvest's JSON crawl here). Neither counts the kernel's time per call
#   KEEP_PROFILE=DIR keeps the callgrind files (all.cg, one.cg) for callgrind_annotate
#
# System calls per request are counted by perf's raw_syscalls:sys_enter tracepoint outside
# valgrind (the full-speed batching of events per epoll_wait), when perf can read it here.
# Instructions come from valgrind --tool=callgrind (perf's hardware counters are not available
# on every machine, e.g. in containers); the fixed cost of starting and stopping harvest is
# measured with a one-URL crawl and subtracted, so "per request" is the marginal cost. CPU time
# is user + system of the harvest process outside valgrind. harvest is build/cli/harvest (built
# when missing) or HARVEST_BIN; build it with debug info (RelWithDebInfo) to get function names.
# The catalog comes from ../shared/workload next to the repository, or tests/fixtures/ when that
# is absent, and is generated once into .harvest/cost-site (COST_SITE overrides). Not in ctest.
set -euo pipefail

BENCH_NAME=cost_bench
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

N=2000 C=64 T=1 R=3 M=0 K=25 W=json SETS=() P=0 H=1
while getopts "n:w:c:t:r:mk:s:H:ph" o; do
  case $o in
    n) N=$OPTARG ;; w) W=$OPTARG ;; c) C=$OPTARG ;; t) T=$OPTARG ;; r) R=$OPTARG ;; m) M=1 ;; k) K=$OPTARG ;; s) SETS+=(--set "$OPTARG") ;;
    p) P=1 ;; H) H=$OPTARG ;;
    *) sed -n '2,45p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done

command -v valgrind >/dev/null || die "valgrind is not installed (apt-get install valgrind)"
command -v callgrind_annotate >/dev/null || die "callgrind_annotate is missing (valgrind)"
[[ -x /usr/bin/time ]] || die "/usr/bin/time is missing (apt-get install time)"

bench_workload
SITE=${COST_SITE:-$ROOT/.harvest/cost-site}
HARVEST=${HARVEST_BIN:-$ROOT/build/cli/harvest}
if [[ -z "${HARVEST_BIN:-}" && ! -x "$HARVEST" ]]; then build_debug_targets harvest; fi
[[ -x "$HARVEST" ]] || die "no harvest binary at $HARVEST"

make_catalog "$SITE" "$N"

WORK=$(mktemp -d /tmp/harvest-cost.XXXXXX)
[[ "$H" =~ ^[1-9][0-9]*$ ]] || die "-H takes a number of hosts, not '$H'"
[[ $H == 1 || $P == 0 ]] || die "-p measures wrk on one host: leave -H out"
cleanup() {
  for ((h = 1; h <= H; h++)); do stop_nginx "$WORK/nginx$h"; done
  rm -rf "$WORK"
}
trap cleanup EXIT
BASES=()
for ((h = 1; h <= H; h++)); do
  ACCESS_LOG=off start_nginx "$SITE" "$WORK/nginx$h"
  BASES+=("$BASE")
done
BASE=${BASES[0]}
case $W in
  json) path='/api/products/%s.json' ;;
  html | dom) path='/p/%s.html' ;;
  *) die "-w takes json, html or dom, not '$W'" ;;
esac
awk -v bases="${BASES[*]}" -v path="$path" \
  'BEGIN { n = split(bases, b, " ") } { printf "%s" path "\n", b[(NR - 1) % n + 1], $0 }' \
  "$SITE/asins.txt" >"$WORK/urls.txt"
head -1 "$WORK/urls.txt" >"$WORK/one.txt"
URLS=$(wc -l <"$WORK/urls.txt")

config() { bench_crawl_yaml cost "$1" "$2" "$W" "$C" "threads: $T"; }   # URLS_FILE OUT_FILE
config "$WORK/urls.txt" "$WORK/all.jsonl" >"$WORK/all.yaml"
config "$WORK/one.txt" "$WORK/one.jsonl" >"$WORK/one.yaml"
EXTRA=("${SETS[@]}")
[[ $M == 1 ]] && EXTRA+=(--set metrics.listen=127.0.0.1:0 --set metrics.linger=0)

items_of() { wc -l <"$1" 2>/dev/null || echo 0; }

# CPU time (user + system, all threads) outside valgrind: perf's software task-clock when
# perf works here (millisecond resolution), else /usr/bin/time (10 ms). Best of R runs of the
# whole crawl and of the one-URL crawl; the difference is the marginal cost.
cpu_seconds() {   # cpu_seconds NAME -> seconds of CPU of one run
  rm -f "$WORK/$1.jsonl"
  if [[ -n "$PERF" ]]; then
    perf stat -x, -e "task-clock$SYSCALLS" -o "$WORK/$1.perf" "$HARVEST" run "$WORK/$1.yaml" \
      "${EXTRA[@]}" >"$WORK/run.log" 2>&1 || { tail -20 "$WORK/run.log" >&2; die "harvest failed"; }
    syscalls_of "$WORK/$1.perf" >"$WORK/$1.syscalls"
    awk -F, '/task-clock/ { printf "%.6f", $1 / 1000; exit }' "$WORK/$1.perf"
  else
    /usr/bin/time -f '%U %S' -o "$WORK/time" "$HARVEST" run "$WORK/$1.yaml" "${EXTRA[@]}" \
      >"$WORK/run.log" 2>&1 || { tail -20 "$WORK/run.log" >&2; die "harvest failed"; }
    awk '{ printf "%.6f", $1 + $2 }' "$WORK/time"
  fi
}
PERF="" SYSCALLS=""
perf stat -x, -e task-clock -o /dev/null true >/dev/null 2>&1 && PERF=perf
[[ -n "$PERF" ]] && perf stat -x, -e raw_syscalls:sys_enter -o /dev/null true >/dev/null 2>&1 &&
  SYSCALLS=,raw_syscalls:sys_enter
syscalls_of() { awk -F, '/raw_syscalls:sys_enter/ { print $1; exit }' "$1"; }   # PERF_FILE
best() {   # best NAME -> lowest CPU seconds of R runs (NAME.best_syscalls: that run's calls)
  local b="" s
  for ((i = 1; i <= R; i++)); do
    s=$(cpu_seconds "$1")
    if [[ "$1" == all ]]; then
      got=$(items_of "$WORK/all.jsonl")
      [[ "$got" == "$URLS" ]] || die "harvest wrote $got items, not $URLS"
    fi
    if [[ -z "$b" ]] || awk -v a="$s" -v b="$b" 'BEGIN { exit !(a < b) }'; then
      b=$s
      cp "$WORK/$1.syscalls" "$WORK/$1.best_syscalls" 2>/dev/null || true
    fi
  done
  echo "$b"
}
t0=$(date +%s.%N)
cpu_all=$(best all)
t1=$(date +%s.%N)
cpu_one=$(best one)

# Instructions: all threads of harvest, under callgrind, minus a one-URL crawl's.
callgrind() {   # callgrind NAME
  valgrind --tool=callgrind --callgrind-out-file="$WORK/$1.cg" "$HARVEST" run \
    "$WORK/$1.yaml" "${EXTRA[@]}" >"$WORK/$1.cg.log" 2>&1 ||
    { tail -20 "$WORK/$1.cg.log" >&2; die "harvest under callgrind failed"; }
  awk '/^summary:|^totals:/ { print $2; exit }' "$WORK/$1.cg"
}
[[ -n "${KEEP_PROFILE:-}" ]] && trap 'mkdir -p "$KEEP_PROFILE" && cp "$WORK"/*.cg "$KEEP_PROFILE"/; cleanup' EXIT
rm -f "$WORK/one.jsonl" "$WORK/all.jsonl"
ir_one=$(callgrind one)
ir_all=$(callgrind all)
got=$(items_of "$WORK/all.jsonl")
[[ "$got" == "$URLS" ]] || die "harvest under callgrind wrote $got items, not $URLS"

echo
echo "cost_bench: $URLS product $([[ $W == json ]] && echo "JSON URLs" || echo "pages ($W)") on ${BASES[*]}, concurrency $C, threads $T," \
  "metrics $([[ $M == 1 ]] && echo on || echo off), $(nproc) cores"
# marginal MORE LESS N_MORE N_LESS DECIMALS: what one request adds between a smaller and a
# larger run, (MORE - LESS) / (N_MORE - N_LESS), so start-up cancels out; empty if N_MORE <= N_LESS
marginal() {
  awk -v a="$1" -v b="$2" -v m="$3" -v n="$4" -v d="$5" \
    'BEGIN { if (m > n) printf("%." d "f", (a - b) / (m - n)) }'
}
HARVEST_IR=$(marginal "$ir_all" "$ir_one" "$URLS" 1 0)
awk -v all="$ir_all" -v one="$ir_one" \
  'BEGIN { printf "instructions: %.0f total, %.0f fixed (one-URL crawl)\n", all, one }'
echo "instructions per request: $HARVEST_IR"
summary instructions_per_request "$HARVEST_IR"
summary cpu_us_per_request "$(awk -v a="$cpu_all" -v o="$cpu_one" -v n="$URLS" \
  'BEGIN { printf "%.1f", (a - o) * 1e6 / (n - 1) }')"
awk -v a="$cpu_all" -v o="$cpu_one" -v n="$URLS" -v src="${PERF:-/usr/bin/time}" 'BEGIN {
  printf "CPU per request: %.1f us (%.3f s for the crawl, %.3f s fixed; best of runs, %s)\n", \
    (a - o) * 1e6 / (n - 1), a, o, src }'
sc_all=$(cat "$WORK/all.best_syscalls" 2>/dev/null || true)
sc_one=$(cat "$WORK/one.best_syscalls" 2>/dev/null || true)
HARVEST_SC=""
if [[ -n "$sc_all" && -n "$sc_one" ]]; then
  HARVEST_SC=$(marginal "$sc_all" "$sc_one" "$URLS" 1 2)
  echo "system calls per request: $HARVEST_SC (perf, raw_syscalls:sys_enter)"
  summary syscalls_per_request "$HARVEST_SC"
fi

if [[ $P == 1 ]]; then
  # wrk -t1, the same connections cycling through the same URLs (as bench/fetch_bench.sh runs
  # it, with the same script). Its marginal cost: the difference between a short and a long
  # run, over the requests between them, so LuaJIT's start and the URL list's loading cancel out.
  command -v wrk >/dev/null || die "-p needs wrk (apt-get install wrk)"
  lua=$(wrk_urls_script "$WORK")
  wrk_run() {   # wrk_run NAME SECONDS [WRAPPER...] -> requests completed (NAME.log)
    local name=$1 secs=$2
    shift 2
    "$@" wrk -t1 -c"$C" -d"${secs}s" -s "$lua" "$BASE" -- "$WORK/urls.txt" \
      >"$WORK/$name.log" 2>&1 || { tail -20 "$WORK/$name.log" >&2; die "wrk failed"; }
    awk '/ requests in / { print $1; exit }' "$WORK/$name.log"
  }
  # LuaJIT writes machine code at run time: valgrind must check for it everywhere.
  wrk_callgrind() {   # wrk_callgrind NAME SECONDS -> "instructions requests"
    local n
    n=$(wrk_run "$1" "$2" valgrind --tool=callgrind --smc-check=all-non-file \
      --callgrind-out-file="$WORK/$1.cg")
    echo "$(awk '/^summary:|^totals:/ { print $2; exit }' "$WORK/$1.cg") $n"
  }
  got=$(wrk_callgrind wrk-short 2)
  read -r wrk_ir_short wrk_n_short <<<"$got"
  got=$(wrk_callgrind wrk-long 6)
  read -r wrk_ir_long wrk_n_long <<<"$got"
  WRK_IR=$(marginal "$wrk_ir_long" "$wrk_ir_short" "$wrk_n_long" "$wrk_n_short" 0)
  [[ -n "$WRK_IR" ]] ||
    die "wrk under callgrind: $wrk_n_long requests in 6 s, $wrk_n_short in 2 s"
  echo
  echo "wrk -t1 -c$C under callgrind: $wrk_n_short requests in 2 s, $wrk_n_long in 6 s"
  echo "wrk instructions per request: $WRK_IR"
  echo "instructions per request, harvest vs wrk: $HARVEST_IR vs $WRK_IR = $(ratio "$HARVEST_IR" "$WRK_IR")x"
  summary wrk_instructions_per_request "$WRK_IR"
  if [[ -n "$SYSCALLS" ]]; then
    wrk_perf() {   # wrk_perf NAME SECONDS -> "syscalls requests"
      local n
      n=$(wrk_run "$1" "$2" perf stat -x, -e "${SYSCALLS#,}" -o "$WORK/$1.perf")
      echo "$(syscalls_of "$WORK/$1.perf") $n"
    }
    got=$(wrk_perf wrk-sc-short 1)
    read -r wrk_sc_short wrk_n_short <<<"$got"
    got=$(wrk_perf wrk-sc-long 3)
    read -r wrk_sc_long wrk_n_long <<<"$got"
    WRK_SC=$(marginal "$wrk_sc_long" "$wrk_sc_short" "$wrk_n_long" "$wrk_n_short" 2)
    echo "wrk system calls per request: $WRK_SC ($wrk_n_short requests in 1 s, $wrk_n_long in 3 s)"
    [[ -z "$HARVEST_SC" || -z "$WRK_SC" ]] ||
      echo "system calls per request, harvest vs wrk: $HARVEST_SC vs $WRK_SC = $(ratio "$HARVEST_SC" "$WRK_SC")x"
    summary wrk_syscalls_per_request "$WRK_SC"
  fi
fi

echo
echo "top $K functions by self instructions (whole crawl, callgrind):"
callgrind_annotate --threshold=100 "$WORK/all.cg" 2>/dev/null |
  awk -v k="$K" -v total="$ir_all" '
    /^-+$/ { dashes++; next }
    dashes >= 3 && NF >= 2 && $1 ~ /^[0-9,]+$/ {
      ir = $1; gsub(",", "", ir)
      line = $0; sub(/^[ \t]*[0-9,]+[ \t]*(\([ 0-9.%]+\))?[ \t]*/, "", line)
      sub(/ \[[^]]*\]$/, "", line); sub(/^(.*\/)?build\/[^:]*\.\.\/\.\.\//, "", line)
      if (length(line) > 110) line = substr(line, 1, 107) "..."
      printf "%6.2f%%  %s\n", 100 * ir / total, line
      if (++shown >= k) exit
    }' || true   # awk stops reading after K lines: callgrind_annotate's SIGPIPE is no failure
