#!/usr/bin/env bash
# Fetch throughput of harvest against peers on the same local nginx, side by side.
#
#   bench/fetch_bench.sh [-c CONCURRENCY] [-n PRODUCTS] [-d WRK_SECONDS] [-p PEERS] [-k KIND]
#                        [-u URLS] [-r ROUNDS] [-t THREADS]
#
#   -c 64      requests in flight for every tool
#   -n 20000   products in the catalog (every tool but wrk fetches each product's JSON once)
#   -d 10      wrk's duration (wrk cycles through the URL list: the ceiling of the server)
#   -p LIST    comma-separated subset of wrk,curl,scrapy,crawlee,harvest (default: all)
#   -k json    json: the product API documents, harvest with a `json` rule; html: the product
#              pages /p/{ASIN}.html (~35 KB), harvest with `jsonld` (schema Product) and Scrapy
#              extracting the same JSON-LD (the workload's spider does both); dom: the same
#              pages, harvest with a `type: html` rule (CSS selectors over the parsed page: the
#              costly extraction that goes to the extraction threads), wrk and curl only
#   -u 0       fetch only the first URLS products (0: all of them)
#   -r 3       harvest rounds (each: without and with /metrics, and with the other thread
#              setting of -t); the best of each counts
#   -t 0       harvest's engine.threads for the headline figure: 0, the engine's default (one
#              thread per core). It is also run with one thread, as wrk -t1, curl and Scrapy run
#              (with -t 1: also with one per core), and both are printed. nginx (one worker)
#              shares the same cores, so a second engine thread competes with the server
#
# The catalog comes from ../shared/workload (gen_catalog.py, serve.sh, peers/) next to the
# repository, or from tests/fixtures/ when that is absent; it is generated once into
# .harvest/bench-site (BENCH_SITE overrides; ~850 MB with the workload generator). harvest is
# build-release/cli/harvest (built when missing or stale) or HARVEST_BIN. Scrapy is Debian's
# python3-scrapy, installed here with --no-install-recommends; skipped with a note when it cannot
# be installed. Crawlee 3 runs the workload's peers/crawlee_fetch.mjs (HttpCrawler parsing each
# JSON body, CheerioCrawler parsing the JSON-LD of each page) from crawlee@3.18.1, installed with
# npm outside the repository (need_crawlee in lib.sh); skipped with a note when it cannot be.
# Prints requests/s per tool, harvest's ratio to each, harvest's peak RSS and the
# CPU per request of harvest and wrk, and the server's (nginx's) CPU per request under each
# tool: 1e6 / that figure under wrk is the most requests/s this server gives any client here.
# Not part of ctest.
set -euo pipefail

BENCH_NAME=fetch_bench
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

C=64 N=20000 D=10 PEERS=wrk,curl,scrapy,crawlee,harvest KIND=json LIMIT=0 ROUNDS=3 THREADS=0
while getopts "c:n:d:p:k:u:r:t:h" o; do
  case $o in
    c) C=$OPTARG ;; n) N=$OPTARG ;; d) D=$OPTARG ;; p) PEERS=$OPTARG ;;
    k) KIND=$OPTARG ;; u) LIMIT=$OPTARG ;; r) ROUNDS=$OPTARG ;; t) THREADS=$OPTARG ;;
    *) sed -n '2,32p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
want() { [[ ",$PEERS," == *",$1,"* ]]; }
[[ $KIND == json || $KIND == html || $KIND == dom ]] || die "-k wants json, html or dom"
# dom: no peer extracts the same fields from the DOM; they run only as fetchers (wrk, curl).
if [[ $KIND == dom ]]; then PEERS=$(tr ',' '\n' <<<"$PEERS" | grep -vx 'scrapy\|crawlee' | paste -sd,); fi

bench_workload   # BENCH_WORKLOAD=none: fallback
SITE=${BENCH_SITE:-$ROOT/.harvest/bench-site}
HARVEST=${HARVEST_BIN:-$ROOT/build-release/cli/harvest}

[[ "${HARVEST_SKIP_DEPS:-0}" == 1 ]] || scripts/install-deps.sh
need_time
command -v curl >/dev/null || apt_install curl || die "cannot install curl"

if want harvest; then build_release_harvest; fi

make_catalog "$SITE" "$N"

WORK=$(mktemp -d /tmp/harvest-bench.XXXXXX)
cleanup() { stop_nginx "$WORK/nginx"; rm -rf "$WORK"; }
trap cleanup EXIT
start_nginx "$SITE" "$WORK/nginx"
if [[ $KIND == json ]]; then
  sed "s#.*#$BASE/api/products/&.json#" "$SITE/asins.txt" >"$WORK/urls.txt"
else
  sed "s#.*#$BASE/p/&.html#" "$SITE/asins.txt" >"$WORK/urls.txt"
fi
if [[ "$LIMIT" -gt 0 ]]; then
  head -n "$LIMIT" "$WORK/urls.txt" >"$WORK/urls.head" && mv "$WORK/urls.head" "$WORK/urls.txt"
fi
URLS=$(wc -l <"$WORK/urls.txt")

declare -A RPS NOTE SRV
# nginx's CPU (master and workers, user + system) in clock ticks, read before and after a tool.
TCK=$(getconf CLK_TCK)
server_ticks() {
  local master total=0 pid
  master=$(cat "$WORK/nginx/nginx.pid" 2>/dev/null) || { echo 0; return; }
  for pid in "$master" $(pgrep -P "$master"); do
    total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
server_us() {   # server_us TICKS0 TICKS1 REQUESTS: nginx CPU µs per request
  awk -v a="$1" -v b="$2" -v n="$3" -v t="$TCK" 'BEGIN { if (n > 0) printf "%.1f", (b - a) / t * 1e6 / n }'
}
TMO=${BENCH_TIMEOUT:-900}   # seconds: no tool's run lasts longer
WRK_CPU=""

if want wrk; then
  lua=$(wrk_urls_script "$WORK")
  s0=$(server_ticks)
  /usr/bin/time -v -o "$WORK/wrk.time" \
    wrk -t1 -c"$C" -d"${D}s" -s "$lua" "$BASE" -- "$WORK/urls.txt" >"$WORK/wrk.log" 2>&1 || true
  SRV[wrk]=$(server_us "$s0" "$(server_ticks)" "$(awk '/ requests in / { print $1 }' "$WORK/wrk.log")")
  RPS[wrk]=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$WORK/wrk.log")
  NOTE[wrk]="${D}s, cycling $URLS URLs"
  # wrk's own CPU per request: what a client that parses nothing spends on the same server.
  WRK_CPU=$(awk -v s="$(cpu_seconds "$WORK/wrk.time")" '/ requests in / { n = $1 }
    END { if (n > 0) printf "%.1f", s * 1e6 / n }' "$WORK/wrk.log")
  summary wrk_rps "${RPS[wrk]}"
  summary wrk_cpu_us "$WRK_CPU"
fi

if want curl; then
  sed 's/.*/url = "&"\noutput = "\/dev\/null"/' "$WORK/urls.txt" >"$WORK/curl.cfg"
  s0=$(server_ticks)
  t0=$(now)
  timeout "$TMO" curl --no-progress-meter --parallel --parallel-max "$C" -K "$WORK/curl.cfg" \
    -w '%{http_code}\n' >"$WORK/curl.codes" 2>"$WORK/curl.log" || true
  t1=$(now)
  ok=$(grep -c '^200$' "$WORK/curl.codes" || true)
  SRV[curl]=$(server_us "$s0" "$(server_ticks)" "$ok")
  RPS[curl]=$(rate "$ok" "$t0" "$t1")
  NOTE[curl]="$ok x 200 of $URLS"
  summary curl_rps "${RPS[curl]}"
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
    s0=$(server_ticks)
    t0=$(now)
    /usr/bin/time -v -o "$WORK/scrapy.time" \
      timeout "$TMO" /usr/bin/python3 -m scrapy runspider "$spider" \
      -a urls="$WORK/urls.txt" -s OUT="$WORK/scrapy.jsonl" -s CONCURRENT_REQUESTS="$C" \
      -s CONCURRENT_REQUESTS_PER_DOMAIN="$C" >"$WORK/scrapy.log" 2>&1 || true
    t1=$(now)
    items=$(wc -l <"$WORK/scrapy.jsonl" 2>/dev/null || echo 0)
    SRV[scrapy]=$(server_us "$s0" "$(server_ticks)" "$items")
    RPS[scrapy]=$(rate "$items" "$t0" "$t1")
    NOTE[scrapy]="$items items of $URLS, peak RSS $(awk -F': ' '/Maximum resident/ { printf "%.0f MiB", $2 / 1024 }' "$WORK/scrapy.time")"
    summary scrapy_rps "${RPS[scrapy]}"
    summary scrapy_items "$items"
    summary scrapy_rss_mib "$(peak_rss_mib "$WORK/scrapy.time")"
  fi
fi

if want crawlee; then
  peer=$WORKLOAD/peers/crawlee_fetch.mjs
  need_crawlee
  if [[ -z "$WORKLOAD" ]]; then
    NOTE[crawlee]="skipped: its script lives in ../shared/workload/peers"
  elif [[ $CRAWLEE_OK != 1 ]]; then
    NOTE[crawlee]="skipped: $CRAWLEE_WHY"
  else
    page_flag=()
    [[ $KIND == json ]] || page_flag=(--html)
    s0=$(server_ticks)
    t0=$(now)
    /usr/bin/time -v -o "$WORK/crawlee.time" \
      timeout "$TMO" env NODE_PATH="$CRAWLEE_PREFIX/node_modules" \
      CRAWLEE_STORAGE_DIR="$WORK/crawlee-storage" node "$peer" "$WORK/urls.txt" -c "$C" \
      -o "$WORK/crawlee.jsonl" "${page_flag[@]}" >"$WORK/crawlee.log" 2>&1 || true
    t1=$(now)
    items=$(wc -l <"$WORK/crawlee.jsonl" 2>/dev/null || echo 0)
    SRV[crawlee]=$(server_us "$s0" "$(server_ticks)" "$items")
    RPS[crawlee]=$(rate "$items" "$t0" "$t1")
    NOTE[crawlee]="$items items of $URLS, peak RSS $(peak_rss_mib "$WORK/crawlee.time") MiB, CPU $(cpu_seconds "$WORK/crawlee.time") s"
    [[ "$items" -gt 0 ]] || NOTE[crawlee]+="; its log: $(tail -3 "$WORK/crawlee.log" | tr '\n' ' ')"
    summary crawlee_rps "${RPS[crawlee]}"
    summary crawlee_items "$items"
    summary crawlee_rss_mib "$(peak_rss_mib "$WORK/crawlee.time")"
  fi
fi

RSS=""
if want harvest; then
  [[ -x "$HARVEST" ]] || die "no harvest binary at $HARVEST"
  # For html, the product fields of items.md from the page's JSON-LD, as the Scrapy spider does.
  bench_crawl_yaml bench "$WORK/urls.txt" "$WORK/harvest.jsonl" "$KIND" "$C" >"$WORK/bench.yaml"
  # Best of ROUNDS (3) runs each, alternating, with and without the /metrics endpoint (and so the
  # per-request metric cells): the cost of metrics, measured side by side. A third run of each
  # round has the other thread setting (one thread when -t is 0, else one per core).
  # Throughput swings with whatever else runs on a shared machine; the CPU time harvest spends
  # per request (user + sys, least of the rounds) is steadier, so both are printed.
  best_plain=0 best_metrics=0 best_other=0 cpu_plain="" cpu_metrics="" cpu_other=""
  OTHER_THREADS=1
  [[ $THREADS == 1 ]] && OTHER_THREADS=0
  cpu_us_per_request() {   # from /usr/bin/time -v: user + sys seconds, in µs per item
    awk -F': ' -v n="$1" '/User time|System time/ { s += $2 }
      END { if (n > 0) printf "%.1f", s * 1e6 / n }' "$WORK/harvest.time"
  }
  smaller() {   # smaller OLD NEW: the smaller of two numbers, OLD may be empty
    if [[ -z "$1" ]]; then echo "$2"; else awk -v a="$1" -v b="$2" 'BEGIN { print (b < a ? b : a) }'; fi
  }
  peak=0
  for round in $(seq "$ROUNDS"); do
    for variant in plain metrics other; do
      extra=(--set "engine.threads=$THREADS")
      [[ $variant == metrics ]] && extra+=(--set metrics.listen=127.0.0.1:0 --set metrics.linger=0)
      [[ $variant == other ]] && extra=(--set "engine.threads=$OTHER_THREADS")
      rm -f "$WORK/harvest.jsonl"
      s0=$(server_ticks)
      t0=$(now)
      /usr/bin/time -v -o "$WORK/harvest.time" timeout "$TMO" "$HARVEST" run "$WORK/bench.yaml" \
        --stats-json "$WORK/harvest-stats.json" "${extra[@]}" >"$WORK/harvest.log" 2>&1 || true
      t1=$(now)
      items=$(wc -l <"$WORK/harvest.jsonl" 2>/dev/null || echo 0)
      r=$(rate "$items" "$t0" "$t1")
      cpu=$(cpu_us_per_request "$items")
      peak=$(awk -v a="$peak" -v b="$(peak_rss_mib "$WORK/harvest.time")" \
        'BEGIN { print (b > a ? b : a) }')
      if [[ $variant == plain ]]; then
        if (( r > best_plain )); then
          best_plain=$r
          SRV[harvest]=$(server_us "$s0" "$(server_ticks)" "$items")
        fi
        [[ -z "$cpu" ]] || cpu_plain=$(smaller "$cpu_plain" "$cpu")
      elif [[ $variant == metrics ]]; then
        (( r > best_metrics )) && best_metrics=$r
        [[ -z "$cpu" ]] || cpu_metrics=$(smaller "$cpu_metrics" "$cpu")
      else
        (( r > best_other )) && best_other=$r
        [[ -z "$cpu" ]] || cpu_other=$(smaller "$cpu_other" "$cpu")
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
  OTHER_NOTE="harvest with engine.threads: $OTHER_THREADS: $best_other req/s"
  OTHER_NOTE+=", CPU ${cpu_other:-?} us per request"
  RSS=$peak   # the largest of every run's
  summary harvest_rps "$best_plain"
  summary harvest_items "$items"
  summary harvest_rss_mib "$RSS"
  summary harvest_cpu_us "$cpu_plain"
  summary harvest_threads "$THREADS"
  summary harvest_other_threads "$OTHER_THREADS"
  summary harvest_other_rps "$best_other"
  summary harvest_other_cpu_us "$cpu_other"
  NOTE[harvest]="$items items of $URLS, peak RSS ${RSS:-?} MiB"
  [[ "$items" -gt 0 ]] || { note "harvest produced no items; its log:"; tail -20 "$WORK/harvest.log" >&2; }
fi

echo
what="product JSON URLs"; [[ $KIND == html ]] && what="product page URLs (JSON-LD)"
[[ $KIND == dom ]] && what="product page URLs (html fields: CSS selectors on the DOM)"
echo "fetch_bench: $URLS $what on $BASE, concurrency $C, $(nproc) cores," \
  "harvest engine.threads $THREADS"
printf '%-8s %10s %12s  %s\n' tool 'req/s' 'nginx us/req' notes
for t in wrk curl scrapy crawlee harvest; do
  want "$t" || continue
  printf '%-8s %10s %12s  %s\n' "$t" "${RPS[$t]:--}" "${SRV[$t]:--}" "${NOTE[$t]:-}"
  summary "${t}_server_us" "${SRV[$t]:-}"
done
if [[ -n "${RPS[harvest]:-}" && "${RPS[harvest]}" -gt 0 ]]; then
  echo
  for t in wrk curl scrapy crawlee; do
    [[ -n "${RPS[$t]:-}" && "${RPS[$t]}" -gt 0 ]] || continue
    awk -v h="${RPS[harvest]}" -v p="${RPS[$t]}" -v t="$t" \
      'BEGIN { printf "harvest / %-7s %.2fx\n", t, h / p }'
  done
  echo "harvest peak RSS: ${RSS:-?} MiB"
  echo "${METRICS_NOTE:-}"
  echo "${OTHER_NOTE:-}"
fi
[[ -z "$WRK_CPU" ]] || echo "wrk CPU per request: $WRK_CPU us"
# The figure of the shard-per-core issue's third target: harvest with one engine thread, as
# wrk -t1 runs (bench/cpu_bench.sh measures only this, in rounds).
ONE_CPU=${cpu_plain:-}
[[ $THREADS == 1 ]] || ONE_CPU=${cpu_other:-}
if [[ -n "$WRK_CPU" && -n "$ONE_CPU" ]]; then
  awk -v h="$ONE_CPU" -v w="$WRK_CPU" -v k="$KIND" 'BEGIN { if (w > 0)
    printf "cpu us/request harvest vs wrk (%s, engine.threads 1): %s vs %s = %.2fx\n", k, h, w, h / w }'
fi
if [[ -n "${SRV[wrk]:-}" ]]; then
  # nginx runs one worker: its CPU per request under wrk bounds what any client gets here.
  awk -v u="${SRV[wrk]}" 'BEGIN { if (u > 0) printf "server ceiling (1e6 / nginx us per request under wrk): %.0f req/s\n", 1e6 / u }'
fi
