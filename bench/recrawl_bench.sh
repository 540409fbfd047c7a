#!/usr/bin/env bash
# A recrawl with http.cache mode conditional: the same catalog crawled twice against nginx,
# the second run asking with If-None-Match / If-Modified-Since.
#
#   bench/recrawl_bench.sh [-n PRODUCTS] [-c CONCURRENCY]
#
#   -n 20000   products (each product's JSON fetched once, from a template seed)
#   -c 64      engine.concurrency (and per_host_concurrency)
#
# The catalog is generated with tests/fixtures/gen_catalog.py into a temp folder and served by
# tests/fixtures/serve.sh (nginx, which sends ETag and Last-Modified for static files).
# harvest is build/cli/harvest or HARVEST_BIN. Prints, per run: wall time, body bytes received
# (--stats-json's bytes_received) and nginx's statuses for the run's requests (its access log);
# then how many products the second run got as 304 and emitted as "unchanged".
# Not part of ctest.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
die() { echo "recrawl_bench: $*" >&2; exit 1; }

N=20000 C=64
while getopts "n:c:h" o; do
  case $o in
    n) N=$OPTARG ;; c) C=$OPTARG ;;
    *) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
HARVEST=${HARVEST_BIN:-$ROOT/build/cli/harvest}
[[ -x "$HARVEST" ]] || die "no harvest binary at $HARVEST (build it or set HARVEST_BIN)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/harvest-recrawl-bench-XXXXXX")
cleanup() {
  tests/fixtures/serve.sh stop "$WORK/nginx" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

python3 tests/fixtures/gen_catalog.py "$WORK/site" -n "$N" >/dev/null
PORT=$(tests/fixtures/serve.sh free-port)
tests/fixtures/serve.sh start "$WORK/site" "$PORT" "$WORK/nginx" 2>/dev/null
LOG="$WORK/nginx/access.log"

cat >"$WORK/cfg.yaml" <<EOF
name: recrawl
seeds:
  - template: "http://127.0.0.1:$PORT/api/products/{id}.json"
    values_file: $WORK/site/asins.txt
engine: {concurrency: $C, per_host_concurrency: $C, threads: 1, robots_txt: ignore}
http:
  cache: {mode: conditional}
rate_limit: {per_second: 0, burst: 1}
extract:
  - {match: "/api/products/", type: json, fields: {id: /asin, price: {pointer: /price, as: price}}, required: [id]}
outputs:
  - {type: jsonl, path: out/items.jsonl}
state: {dir: state}
EOF

# run NAME: one crawl; prints "time bytes statuses unchanged-items".
run() {
  local name=$1 before after
  before=$(wc -l <"$LOG")
  rm -rf "$WORK/out"
  timeout 900 "$HARVEST" run "$WORK/cfg.yaml" --stats-json "$WORK/$name.json" --progress never \
    >/dev/null 2>"$WORK/$name.err" || die "$name failed: $(tail -5 "$WORK/$name.err")"
  after=$(wc -l <"$LOG")
  python3 - "$WORK/$name.json" "$LOG" "$before" "$after" "$WORK/out/items.jsonl" "$name" <<'PY'
import collections, json, sys
stats = json.load(open(sys.argv[1]))
lines = open(sys.argv[2]).read().splitlines()[int(sys.argv[3]):int(sys.argv[4])]
statuses = collections.Counter(line.split()[1] for line in lines)
items = [json.loads(l) for l in open(sys.argv[5])]
unchanged = sum(1 for i in items if i.get("unchanged") is True)
print("%-7s %7.2f s  %12d bytes received  requests %d (%s)  items %d (%d unchanged)" % (
    sys.argv[6], stats["elapsed_seconds"], stats["bytes_received"], len(lines),
    ", ".join("%s: %d" % kv for kv in sorted(statuses.items())), len(items), unchanged))
PY
}

echo "recrawl_bench: $N products, concurrency $C, http.cache mode conditional"
run first
run second
echo "cache: $(du -sh "$WORK/state/cache" | cut -f1) in $(find "$WORK/state/cache" -name '*.entry' | wc -l) entries"
