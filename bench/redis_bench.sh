#!/usr/bin/env bash
# One worker with frontier.backend: redis against the in-memory frontier, same catalog, same nginx.
#
#   bench/redis_bench.sh [-n PRODUCTS] [-c CONCURRENCY] [-r RUNS]
#
#   -n 20000   products (each product's JSON fetched once, from a template seed)
#   -c 64      engine.concurrency (and per_host_concurrency)
#   -r 3       runs of each backend; the median requests/s is reported
#
# The catalog is generated with tests/fixtures/gen_catalog.py into a temp folder and served by
# tests/fixtures/serve.sh (nginx); redis-server runs on a free loopback port with no persistence.
# harvest is build/cli/harvest or HARVEST_BIN. Everything started here is stopped on exit.
# Prints requests/s per backend and the ratio redis/memory (the target is >= 0.70).
# Not part of ctest.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
die() { echo "redis_bench: $*" >&2; exit 1; }

N=20000 C=64 R=3
while getopts "n:c:r:h" o; do
  case $o in
    n) N=$OPTARG ;; c) C=$OPTARG ;; r) R=$OPTARG ;;
    *) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
HARVEST=${HARVEST_BIN:-$ROOT/build/cli/harvest}
[[ -x "$HARVEST" ]] || die "no harvest binary at $HARVEST (build it or set HARVEST_BIN)"
command -v redis-server >/dev/null || die "redis-server missing (scripts/install-deps.sh)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/harvest-redis-bench-XXXXXX")
REDIS_PID=""
cleanup() {
  tests/fixtures/serve.sh stop "$WORK/nginx" >/dev/null 2>&1 || true
  if [[ -n "$REDIS_PID" ]]; then kill "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

python3 tests/fixtures/gen_catalog.py "$WORK/site" -n "$N" >/dev/null
PORT=$(tests/fixtures/serve.sh free-port)
tests/fixtures/serve.sh start "$WORK/site" "$PORT" "$WORK/nginx" 2>/dev/null
REDIS_PORT=$(tests/fixtures/serve.sh free-port)
mkdir -p "$WORK/redis"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK/redis" --save "" \
  --appendonly no --logfile "$WORK/redis/redis.log" &
REDIS_PID=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null && break
  sleep 0.1
done

# run BACKEND INDEX: one crawl, prints its requests/s (from --stats-json).
run() {
  local backend=$1 i=$2 dir="$WORK/run-$1-$2"
  mkdir -p "$dir"
  {
    echo "name: bench-$backend-$i"
    echo "seeds:"
    echo "  - template: \"http://127.0.0.1:$PORT/api/products/{id}.json\""
    echo "    values_file: $WORK/site/asins.txt"
    echo "engine: {concurrency: $C, per_host_concurrency: $C, threads: 1, robots_txt: ignore}"
    echo "rate_limit: {per_second: 0, burst: 1}"
    echo "extract:"
    echo "  - {match: \"/api/products/\", type: json, fields: {id: /asin, price: {pointer: /price, as: price}}, required: [id]}"
    echo "outputs:"
    echo "  - {type: jsonl, path: out/items.jsonl}"
    echo "state: {dir: state}"
    if [[ $backend == redis ]]; then
      echo "frontier: {backend: redis, url: \"redis://127.0.0.1:$REDIS_PORT/0\", lease: 60s}"
    fi
  } >"$dir/cfg.yaml"
  timeout 600 "$HARVEST" run "$dir/cfg.yaml" --stats-json "$dir/stats.json" --progress never \
    >/dev/null 2>"$dir/err.log" || die "$backend run $i failed: $(tail -5 "$dir/err.log")"
  python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print("%.0f" % (s["requests"]/s["elapsed_seconds"]))' "$dir/stats.json"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A RATE
for backend in memory redis; do
  rates=()
  for i in $(seq "$R"); do rates+=("$(run "$backend" "$i")"); done
  RATE[$backend]=$(printf '%s\n' "${rates[@]}" | median)
  echo "$backend: ${rates[*]} requests/s (median ${RATE[$backend]})"
done
awk -v r="${RATE[redis]}" -v m="${RATE[memory]}" \
  'BEGIN {printf "redis/memory: %.2f (target >= 0.70)\n", r / m}'
