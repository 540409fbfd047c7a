#!/usr/bin/env bash
# HTTP/2 fetch throughput: harvest over h2 against h2load -m 64 on the same TLS nginx, in the
# same run, and harvest's CPU per request over h2 against its own HTTP/1.1 figure on the same
# pages.
#
#   bench/h2_bench.sh [-n PRODUCTS] [-c STREAMS] [-r ROUNDS]
#
#   -n 20000   product pages /p/{ASIN}.html fetched once each by every run (as fetch_bench.sh:
#              harvest's start, about 30 ms, is 8% of a 5,000-page run and 2% of this one)
#   -c 64      requests in flight: h2load -c 1 -m C (one connection, C streams), harvest
#              engine.concurrency = per_host_concurrency = C
#   -r 3       rounds; each runs h2load, harvest with http.version auto (h2 by ALPN) and harvest
#              with http.version "1.1"; the best req/s and the least CPU per request count
#
# nginx (one worker) serves the catalog over TLS with `listen ... ssl http2`, certificates from
# a throwaway CA made with the openssl CLI. harvest extracts the pages' JSON-LD (schema Product)
# as in fetch_bench.sh -k html. The catalog comes from ../shared/workload when present, else
# tests/fixtures/gen_catalog.py, into .harvest/bench-site, the catalog fetch_bench.sh and
# cpu_bench.sh use (BENCH_SITE overrides; another -n needs a folder of its own). harvest is
# build-release/cli/harvest (built when missing or stale) or HARVEST_BIN. Prints req/s of each,
# harvest's ratio to h2load (target >= 0.7x) and CPU us per request of harvest over h2 and
# HTTP/1.1. BENCH_PERF=DIR: after the rounds, one more harvest h2 run under `perf record` into
# DIR/perf-h2.data (linux-perf), not counted. Not part of ctest.
set -euo pipefail

BENCH_NAME=h2_bench
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

N=20000 C=64 ROUNDS=3
while getopts "n:c:r:h" o; do
  case $o in
    n) N=$OPTARG ;; c) C=$OPTARG ;; r) ROUNDS=$OPTARG ;;
    *) sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done

bench_workload
SITE=${BENCH_SITE:-$ROOT/.harvest/bench-site}
HARVEST=${HARVEST_BIN:-$ROOT/build-release/cli/harvest}
TMO=${BENCH_TIMEOUT:-600}

[[ "${HARVEST_SKIP_DEPS:-0}" == 1 ]] || scripts/install-deps.sh
need_time
command -v h2load >/dev/null || apt_install nghttp2-client || die "cannot install h2load"
build_release_harvest
make_catalog "$SITE" "$N"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/harvest-h2bench.XXXXXX")
cleanup() { stop_nginx_h2 "$WORK/nginx"; rm -rf "$WORK"; }
trap cleanup EXIT
make_tls_certs "$WORK/certs"
start_nginx_h2 "$SITE" "$WORK/nginx" "$WORK/certs"

head -n "$N" "$SITE/asins.txt" | sed "s|^|$BASE/p/|; s|\$|.html|" >"$WORK/urls.txt"
COUNT=$(wc -l <"$WORK/urls.txt")

cat >"$WORK/bench.yaml" <<YAML
name: h2bench
seeds:
  - urls_file: $WORK/urls.txt
engine:
  concurrency: $C
  per_host_concurrency: $C
  robots_txt: ignore
http:
  tls: {verify: true, ca_file: $WORK/certs/ca.pem}
rate_limit:
  per_second: 0
extract:
  - match: "/p/"
    type: jsonld
    schema: Product
outputs:
  - type: jsonl
    path: $WORK/harvest.jsonl
YAML

best_h2load=0 best_h2=0 best_h1=0 cpu_h2="" cpu_h1="" h2load_cpu=""
for round in $(seq "$ROUNDS"); do
  # h2load: one connection, C streams, every URL once (it cycles the list; -n = its length).
  /usr/bin/time -v -o "$WORK/h2load.time" timeout "$TMO" \
    h2load -n "$COUNT" -c 1 -m "$C" -i "$WORK/urls.txt" >"$WORK/h2load.out" 2>&1 || true
  r=$(awk '/^finished in/ { gsub(",", "", $4); printf "%.0f", $4 }' "$WORK/h2load.out")
  ok=$(awk '/^status codes:/ { print $3 }' "$WORK/h2load.out")
  [[ "${ok:-0}" == "$COUNT" ]] || note "h2load round $round: ${ok:-0} of $COUNT answered 2xx"
  (( ${r:-0} > best_h2load )) && best_h2load=$r
  c=$(awk -F': ' -v n="$COUNT" '/User time|System time/ { s += $2 } END { printf "%.1f", s * 1e6 / n }' "$WORK/h2load.time")
  h2load_cpu=$(smaller "$h2load_cpu" "$c")

  for version in auto 1.1; do
    rm -f "$WORK/harvest.jsonl"
    t0=$(now)
    /usr/bin/time -v -o "$WORK/harvest.time" timeout "$TMO" "$HARVEST" run "$WORK/bench.yaml" \
      --set "http.version=$version" >"$WORK/harvest.log" 2>&1 || true
    t1=$(now)
    items=$(wc -l <"$WORK/harvest.jsonl" 2>/dev/null || echo 0)
    [[ $items == "$COUNT" ]] || note "harvest ($version) round $round: $items items of $COUNT"
    r=$(rate "$items" "$t0" "$t1")
    c=$(awk -F': ' -v n="$items" '/User time|System time/ { s += $2 } END { if (n > 0) printf "%.1f", s * 1e6 / n }' "$WORK/harvest.time")
    if [[ $version == auto ]]; then
      (( r > best_h2 )) && best_h2=$r
      cpu_h2=$(smaller "$cpu_h2" "$c")
    else
      (( r > best_h1 )) && best_h1=$r
      cpu_h1=$(smaller "$cpu_h1" "$c")
    fi
  done
done

if [[ -n "${BENCH_PERF:-}" ]]; then   # one more harvest h2 run under perf record, not counted
  mkdir -p "$BENCH_PERF"
  rm -f "$WORK/harvest.jsonl"
  perf record -q -o "$BENCH_PERF/perf-h2.data" -- "$HARVEST" run "$WORK/bench.yaml" \
    --set http.version=auto >"$WORK/harvest.log" 2>&1 || note "perf record failed"
fi

echo
echo "h2_bench: $COUNT product pages over TLS, $C in flight, best of $ROUNDS rounds, $(nproc) cores"
printf '%-28s %10s %14s\n' tool "req/s" "CPU us/req"
printf '%-28s %10s %14s\n' "h2load -c 1 -m $C" "$best_h2load" "$h2load_cpu"
printf '%-28s %10s %14s\n' "harvest h2 (jsonld)" "$best_h2" "$cpu_h2"
printf '%-28s %10s %14s\n' "harvest http/1.1 (jsonld)" "$best_h1" "$cpu_h1"
echo "harvest h2 / h2load req/s: $(ratio "$best_h2" "$best_h2load")x (target >= 0.7x)"
echo "harvest CPU per request, h2 / http/1.1: $(ratio "$cpu_h2" "$cpu_h1")x"
summary h2_harvest_rps "$best_h2"
summary h2_h2load_rps "$best_h2load"
summary h2_harvest_cpu_us "$cpu_h2"
summary h2_harvest_h1_cpu_us "$cpu_h1"
