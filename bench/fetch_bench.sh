#!/usr/bin/env bash
# Fetch throughput of harvest against peers on the same local nginx, side by side.
#
#   bench/fetch_bench.sh [-c CONCURRENCY] [-n PRODUCTS] [-d WRK_SECONDS] [-p PEERS]
#
#   -c 64      requests in flight for every tool
#   -n 20000   products in the catalog (every tool but wrk fetches each product's JSON once)
#   -d 10      wrk's duration (wrk cycles through the URL list: the ceiling of the server)
#   -p LIST    comma-separated subset of wrk,curl,scrapy,harvest (default: all)
#
# The catalog comes from ../shared/workload (gen_catalog.py, serve.sh, peers/) next to the
# repository, or from tests/fixtures/ when that is absent; it is generated once into
# .harvest/bench-site (BENCH_SITE overrides; ~850 MB with the workload generator). harvest is
# build-release/cli/harvest (built when missing or stale) or HARVEST_BIN. Scrapy is Debian's
# python3-scrapy, installed here with --no-install-recommends; skipped with a note when it cannot
# be installed. Prints requests/s per tool, harvest's ratio to each and harvest's peak RSS.
# Not part of ctest.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
die() { echo "fetch_bench: $*" >&2; exit 1; }
note() { echo "fetch_bench: $*" >&2; }

C=64 N=20000 D=10 PEERS=wrk,curl,scrapy,harvest
while getopts "c:n:d:p:h" o; do
  case $o in
    c) C=$OPTARG ;; n) N=$OPTARG ;; d) D=$OPTARG ;; p) PEERS=$OPTARG ;;
    *) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
want() { [[ ",$PEERS," == *",$1,"* ]]; }

WORKLOAD=${BENCH_WORKLOAD:-$(cd "$ROOT/.." && pwd)/shared/workload}   # BENCH_WORKLOAD=none: fallback
[[ -f "$WORKLOAD/gen_catalog.py" && -x "$WORKLOAD/serve.sh" ]] || WORKLOAD=""
SITE=${BENCH_SITE:-$ROOT/.harvest/bench-site}
HARVEST=${HARVEST_BIN:-$ROOT/build-release/cli/harvest}
SUDO=(); [[ $(id -u) -eq 0 ]] || SUDO=(sudo)

[[ "${HARVEST_SKIP_DEPS:-0}" == 1 ]] || scripts/install-deps.sh
apt_install() {   # only ever Debian packages, never their recommends (see TOOLCHAIN.md)
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1 || {
    "${SUDO[@]}" apt-get update -q >/dev/null 2>&1 &&
      "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1
  }
}
[[ -x /usr/bin/time ]] || apt_install time || die "cannot install Debian 'time' (/usr/bin/time)"
command -v curl >/dev/null || apt_install curl || die "cannot install curl"

if want harvest && [[ -z "${HARVEST_BIN:-}" ]]; then
  [[ -f build-release/CMakeCache.txt ]] ||
    cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DHARVEST_BUILD_TESTS=OFF >/dev/null
  cmake --build build-release --target harvest -j"$(nproc)" >/dev/null || die "build failed"
fi

if [[ ! -f "$SITE/.complete" ]]; then
  rm -rf "$SITE"
  if [[ -n "$WORKLOAD" ]]; then
    note "generating $N products with $WORKLOAD/gen_catalog.py into $SITE"
    python3 "$WORKLOAD/gen_catalog.py" "$SITE" -n "$N" --seed 1 -j "$(nproc)" >/dev/null
  else
    note "../shared/workload not found; generating with tests/fixtures/gen_catalog.py"
    python3 tests/fixtures/gen_catalog.py "$SITE" -n "$N" --seed 1 --gzip-fraction 0
  fi
  echo "$N" >"$SITE/.complete"
fi
[[ "$(cat "$SITE/.complete")" == "$N" ]] ||
  die "$SITE holds $(cat "$SITE/.complete") products, not $N: remove it or set BENCH_SITE"

WORK=$(mktemp -d /tmp/harvest-bench.XXXXXX)
if [[ -n "$WORKLOAD" ]]; then SERVE=$WORKLOAD/serve.sh; else SERVE=$ROOT/tests/fixtures/serve.sh; fi
cleanup() { "$SERVE" stop "$WORK/nginx" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
PORT=$(tests/fixtures/serve.sh free-port)
"$SERVE" start "$SITE" "$PORT" "$WORK/nginx" >/dev/null 2>&1 || die "nginx did not start"
BASE=http://127.0.0.1:$PORT
sed "s#.*#$BASE/api/products/&.json#" "$SITE/asins.txt" >"$WORK/urls.txt"
URLS=$(wc -l <"$WORK/urls.txt")

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }
declare -A RPS NOTE

if want wrk; then
  lua=$WORKLOAD/peers/wrk_urls.lua
  if [[ -z "$WORKLOAD" ]]; then   # the same idea as the workload's script: cycle through paths
    lua=$WORK/urls.lua
    cat >"$lua" <<'LUA'
function init(args)
  reqs = {}
  for line in io.lines(args[1]) do
    reqs[#reqs + 1] = wrk.format("GET", line:match("^https?://[^/]+(/.*)$") or line)
  end
  idx = 0
end
function request() idx = idx % #reqs + 1; return reqs[idx] end
LUA
  fi
  wrk -t1 -c"$C" -d"${D}s" -s "$lua" "$BASE" -- "$WORK/urls.txt" >"$WORK/wrk.log" 2>&1 || true
  RPS[wrk]=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$WORK/wrk.log")
  NOTE[wrk]="${D}s, cycling $URLS URLs"
fi

if want curl; then
  sed 's/.*/url = "&"\noutput = "\/dev\/null"/' "$WORK/urls.txt" >"$WORK/curl.cfg"
  t0=$(now)
  curl --no-progress-meter --parallel --parallel-max "$C" -K "$WORK/curl.cfg" \
    -w '%{http_code}\n' >"$WORK/curl.codes" 2>"$WORK/curl.log" || true
  t1=$(now)
  ok=$(grep -c '^200$' "$WORK/curl.codes" || true)
  RPS[curl]=$(rate "$ok" "$t0" "$t1")
  NOTE[curl]="$ok x 200 of $URLS"
fi

if want scrapy; then
  spider=$WORKLOAD/peers/scrapy_spider.py
  if [[ -z "$WORKLOAD" ]]; then
    NOTE[scrapy]="skipped: its spider lives in ../shared/workload/peers"
  elif ! /usr/bin/python3 -c 'import scrapy' 2>/dev/null &&
       ! { note "installing python3-scrapy (Debian, --no-install-recommends)";
           apt_install python3-scrapy && /usr/bin/python3 -c 'import scrapy' 2>/dev/null; }; then
    NOTE[scrapy]="skipped: python3-scrapy could not be installed"
  else
    scripts/install-deps.sh   # fails loudly if the install above cost us Boost 1.81
    t0=$(now)
    /usr/bin/time -v -o "$WORK/scrapy.time" /usr/bin/python3 -m scrapy runspider "$spider" \
      -a urls="$WORK/urls.txt" -s OUT="$WORK/scrapy.jsonl" -s CONCURRENT_REQUESTS="$C" \
      -s CONCURRENT_REQUESTS_PER_DOMAIN="$C" >"$WORK/scrapy.log" 2>&1 || true
    t1=$(now)
    items=$(wc -l <"$WORK/scrapy.jsonl" 2>/dev/null || echo 0)
    RPS[scrapy]=$(rate "$items" "$t0" "$t1")
    NOTE[scrapy]="$items items of $URLS, peak RSS $(awk -F': ' '/Maximum resident/ { printf "%.0f MiB", $2 / 1024 }' "$WORK/scrapy.time")"
  fi
fi

RSS=""
if want harvest; then
  [[ -x "$HARVEST" ]] || die "no harvest binary at $HARVEST"
  cat >"$WORK/bench.yaml" <<YAML
name: bench
seeds:
  - urls_file: $WORK/urls.txt
engine:
  concurrency: $C
  per_host_concurrency: $C
  robots_txt: ignore
rate_limit:
  per_second: 0
extract:
  - match: "/api/products/"
    type: json
    fields:
      id: /asin
      title: /title
      price: {pointer: /price, as: number}
      currency: /currency
      availability: {pointer: /availability, as: availability}
    required: [id]
outputs:
  - type: jsonl
    path: $WORK/harvest.jsonl
YAML
  # Best of 3 runs each, alternating, with and without the /metrics endpoint (and so the
  # per-request metric cells): the cost of metrics, measured side by side.
  # Throughput swings with whatever else runs on a shared machine; the CPU time harvest spends
  # per request (user + sys, least of the rounds) is steadier, so both are printed.
  best_plain=0 best_metrics=0 cpu_plain="" cpu_metrics=""
  cpu_us_per_request() {   # from /usr/bin/time -v: user + sys seconds, in µs per item
    awk -F': ' -v n="$1" '/User time|System time/ { s += $2 }
      END { if (n > 0) printf "%.1f", s * 1e6 / n }' "$WORK/harvest.time"
  }
  smaller() {   # smaller OLD NEW: the smaller of two numbers, OLD may be empty
    if [[ -z "$1" ]]; then echo "$2"; else awk -v a="$1" -v b="$2" 'BEGIN { print (b < a ? b : a) }'; fi
  }
  for round in 1 2 3; do
    for variant in plain metrics; do
      extra=()
      [[ $variant == metrics ]] && extra=(--set metrics.listen=127.0.0.1:0)
      rm -f "$WORK/harvest.jsonl"
      t0=$(now)
      /usr/bin/time -v -o "$WORK/harvest.time" "$HARVEST" run "$WORK/bench.yaml" \
        --stats-json "$WORK/harvest-stats.json" "${extra[@]}" >"$WORK/harvest.log" 2>&1 || true
      t1=$(now)
      items=$(wc -l <"$WORK/harvest.jsonl" 2>/dev/null || echo 0)
      r=$(rate "$items" "$t0" "$t1")
      cpu=$(cpu_us_per_request "$items")
      if [[ $variant == plain ]]; then
        (( r > best_plain )) && best_plain=$r
        [[ -z "$cpu" ]] || cpu_plain=$(smaller "$cpu_plain" "$cpu")
      else
        (( r > best_metrics )) && best_metrics=$r
        [[ -z "$cpu" ]] || cpu_metrics=$(smaller "$cpu_metrics" "$cpu")
      fi
    done
  done
  RPS[harvest]=$best_plain
  METRICS_NOTE="harvest with metrics on: $best_metrics req/s ($(awk -v a="$best_metrics" -v b="$best_plain" 'BEGIN { printf "%.3f", a / b }')x of off)"
  if [[ -n "$cpu_plain" && -n "$cpu_metrics" ]]; then
    cost=$(awk -v a="$cpu_metrics" -v b="$cpu_plain" 'BEGIN { printf "%+.1f", (a / b - 1) * 100 }')
    METRICS_NOTE+=$'\n'"harvest CPU per request: metrics off ${cpu_plain} us, on ${cpu_metrics} us"
    METRICS_NOTE+=" (${cost}% with metrics)"
  fi
  RSS=$(awk -F': ' '/Maximum resident/ { printf "%.1f", $2 / 1024 }' "$WORK/harvest.time")
  NOTE[harvest]="$items items of $URLS, peak RSS ${RSS:-?} MiB"
  [[ "$items" -gt 0 ]] || { note "harvest produced no items; its log:"; tail -20 "$WORK/harvest.log" >&2; }
fi

echo
echo "fetch_bench: $URLS product JSON URLs on $BASE, concurrency $C, $(nproc) cores"
printf '%-8s %10s  %s\n' tool 'req/s' notes
for t in wrk curl scrapy harvest; do
  want "$t" || continue
  printf '%-8s %10s  %s\n' "$t" "${RPS[$t]:--}" "${NOTE[$t]:-}"
done
if [[ -n "${RPS[harvest]:-}" && "${RPS[harvest]}" -gt 0 ]]; then
  echo
  for t in wrk curl scrapy; do
    [[ -n "${RPS[$t]:-}" && "${RPS[$t]}" -gt 0 ]] || continue
    awk -v h="${RPS[harvest]}" -v p="${RPS[$t]}" -v t="$t" \
      'BEGIN { printf "harvest / %-7s %.2fx\n", t, h / p }'
  done
  echo "harvest peak RSS: ${RSS:-?} MiB"
  echo "${METRICS_NOTE:-}"
fi
