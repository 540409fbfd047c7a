#!/usr/bin/env bash
# Fetching through a proxy on loopback: harvest's requests a second against curl's
# (`curl --parallel -x`) on the same URLs, through the same tinyproxy, to the same nginx.
#
#   bench/proxy_bench.sh [-n PRODUCTS] [-c CONCURRENCY]
#
#   -n 2000    product JSON documents fetched (each once)
#   -c 32      concurrent requests (harvest engine.concurrency; curl --parallel-max)
#
# The catalog and nginx are set up as in bench/fetch_bench.sh (bench/lib.sh: ../shared/workload
# when present, else tests/fixtures; BENCH_SITE and BENCH_WORKLOAD override); tinyproxy (Debian
# package, scripts/install-deps.sh) runs on a free loopback port. harvest is
# build-release/cli/harvest (built when missing or stale) or HARVEST_BIN. Prints each tool's
# wall time, requests a second and CPU seconds, the proxy's own count of requests for each run
# (its log), and the ratio harvest/curl. /usr/bin/time is Debian's `time`. Not part of ctest.
set -euo pipefail

BENCH_NAME=proxy_bench
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

N=2000 C=32
while getopts "n:c:h" o; do
  case $o in
    n) N=$OPTARG ;; c) C=$OPTARG ;;
    *) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done

json_crawl_setup "$N"
need_time
command -v tinyproxy >/dev/null || die "tinyproxy not found (scripts/install-deps.sh)"
command -v curl >/dev/null || die "curl not found"

PPORT=$(tests/fixtures/serve.sh free-port)
cat >"$WORK/tinyproxy.conf" <<CONF
Port $PPORT
Listen 127.0.0.1
Timeout 30
MaxClients 512
LogLevel Connect
LogFile "$WORK/tinyproxy.log"
CONF
tinyproxy -d -c "$WORK/tinyproxy.conf" >/dev/null 2>&1 &
PROXY_PID=$!
BENCH_ON_EXIT="kill $PROXY_PID 2>/dev/null"
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PPORT") 2>/dev/null && break
  sleep 0.05
done

cat >"$WORK/cfg.yaml" <<CONF
name: proxybench
seeds:
  - urls_file: $WORK/urls.txt
engine: {concurrency: $C, per_host_concurrency: $C, threads: 1, robots_txt: ignore}
rate_limit: {per_second: 0, burst: 1}
proxies: ["http://127.0.0.1:$PPORT"]
extract:
  - {match: "/api/products/", type: json, fields: {id: /asin}, required: [id]}
outputs:
  - {type: jsonl, path: $WORK/items.jsonl}
state: {dir: $WORK/state, journal: false}
CONF

requests() { grep -c "Request (file descriptor" "$WORK/tinyproxy.log" || true; }

before=$(requests)
t0=$(now)
/usr/bin/time -v -o "$WORK/harvest.time" "$HARVEST" run "$WORK/cfg.yaml" >/dev/null \
  2>"$WORK/harvest.err" || die "harvest failed: $(tail -3 "$WORK/harvest.err")"
t1=$(now)
harvest_requests=$(( $(requests) - before ))

sed 's|^|url = "|; s|$|"|' "$WORK/urls.txt" | sed 'a output = "/dev/null"' >"$WORK/curl.cfg"
before=$(requests)
t2=$(now)
/usr/bin/time -v -o "$WORK/curl.time" curl -s --parallel --parallel-max "$C" \
  -x "http://127.0.0.1:$PPORT" -K "$WORK/curl.cfg" >/dev/null 2>&1 || die "curl failed"
t3=$(now)
curl_requests=$(( $(requests) - before ))

harvest_rps=$(rate "$URLS" "$t0" "$t1")
curl_rps=$(rate "$URLS" "$t2" "$t3")
echo
echo "proxy_bench: $URLS product JSON URLs on $BASE through tinyproxy, concurrency $C, $(nproc) cores"
printf '%-8s %8s %10s %12s %s\n' tool 'wall s' 'req/s' 'CPU s' 'proxy saw'
printf '%-8s %8.2f %10s %12s %s\n' harvest "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
  "$harvest_rps" "$(cpu_seconds "$WORK/harvest.time")" "$harvest_requests"
printf '%-8s %8.2f %10s %12s %s\n' curl "$(awk -v a="$t2" -v b="$t3" 'BEGIN { print b - a }')" \
  "$curl_rps" "$(cpu_seconds "$WORK/curl.time")" "$curl_requests"
awk -v h="$harvest_rps" -v c="$curl_rps" 'BEGIN { printf "ratio harvest/curl req/s: %.2f\n", h / c }'
summary proxy_harvest_rps "$harvest_rps"
summary proxy_curl_rps "$curl_rps"
