#!/usr/bin/env bash
# Fetching through a proxy on loopback: harvest's requests a second against curl's
# (`curl --parallel -x`) on the same URLs, through the same tinyproxy, to the same nginx.
#
#   bench/proxy_bench.sh [-n PRODUCTS] [-c CONCURRENCY]
#
#   -n 2000    product JSON documents fetched (each once)
#   -c 32      concurrent requests (harvest engine.concurrency; curl --parallel-max)
#
# The catalog is generated with tests/fixtures/gen_catalog.py and served by
# tests/fixtures/serve.sh (nginx); tinyproxy (Debian package, scripts/install-deps.sh) runs on
# a free loopback port. harvest is build/cli/harvest or HARVEST_BIN. Prints each tool's wall
# time and requests a second, the proxy's own count of requests for each run (its log), and
# the ratio harvest/curl. Not part of ctest.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
die() { echo "proxy_bench: $*" >&2; exit 1; }

N=2000 C=32
while getopts "n:c:h" o; do
  case $o in
    n) N=$OPTARG ;; c) C=$OPTARG ;;
    *) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
HARVEST=${HARVEST_BIN:-$ROOT/build/cli/harvest}
[[ -x "$HARVEST" ]] || die "no harvest binary at $HARVEST (build it or set HARVEST_BIN)"
command -v tinyproxy >/dev/null || die "tinyproxy not found (scripts/install-deps.sh)"
command -v curl >/dev/null || die "curl not found"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/harvest-proxy-bench-XXXXXX")
PROXY_PID=
cleanup() {
  [[ -n "$PROXY_PID" ]] && kill "$PROXY_PID" 2>/dev/null || true
  tests/fixtures/serve.sh stop "$WORK/nginx" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

python3 tests/fixtures/gen_catalog.py "$WORK/site" -n "$N" >/dev/null
PORT=$(tests/fixtures/serve.sh free-port)
tests/fixtures/serve.sh start "$WORK/site" "$PORT" "$WORK/nginx" 2>/dev/null
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
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PPORT") 2>/dev/null && break
  sleep 0.05
done

sed "s|^|http://127.0.0.1:$PORT/api/products/|; s|$|.json|" "$WORK/site/asins.txt" >"$WORK/urls.txt"

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
  - {type: jsonl, path: out/items.jsonl}
state: {dir: state, journal: false}
CONF

requests() { grep -c "Request (file descriptor" "$WORK/tinyproxy.log" || true; }
now() { date +%s.%N; }

before=$(requests)
t0=$(now)
(cd "$WORK" && "$HARVEST" run cfg.yaml >/dev/null 2>"$WORK/harvest.err") ||
  die "harvest failed: $(tail -3 "$WORK/harvest.err")"
t1=$(now)
harvest_requests=$(( $(requests) - before ))

sed 's|^|url = "|; s|$|"|' "$WORK/urls.txt" | sed 'a output = "/dev/null"' >"$WORK/curl.cfg"
before=$(requests)
t2=$(now)
curl -s --parallel --parallel-max "$C" -x "http://127.0.0.1:$PPORT" -K "$WORK/curl.cfg" >/dev/null 2>&1 ||
  die "curl failed"
t3=$(now)
curl_requests=$(( $(requests) - before ))

python3 -c '
import sys
n = int(sys.argv[1])
t0, t1, t2, t3 = map(float, sys.argv[2:6])
hr, cr = int(sys.argv[6]), int(sys.argv[7])
h, c = t1 - t0, t3 - t2
print(f"harvest: {n} URLs in {h:.2f} s = {n / h:.0f} req/s (proxy saw {hr} requests)")
print(f"curl:    {n} URLs in {c:.2f} s = {n / c:.0f} req/s (proxy saw {cr} requests)")
print(f"ratio harvest/curl req/s: {(n / h) / (n / c):.2f}")
' "$N" "$t0" "$t1" "$t2" "$t3" "$harvest_requests" "$curl_requests"
