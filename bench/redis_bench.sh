#!/usr/bin/env bash
# One worker with frontier.backend: redis against the in-memory frontier, same catalog, same nginx;
# then 1, 2 and 4 workers sharing one crawl on that Redis.
#
#   bench/redis_bench.sh [-n PRODUCTS] [-c CONCURRENCY] [-r RUNS] [-w "1 2 4"]
#
#   -n 20000   products (each product's JSON fetched once, from a template seed)
#   -c 64      engine.concurrency (and per_host_concurrency)
#   -r 3       runs of each backend; the median requests/s is reported
#   -w "1 2 4" worker counts of the shared crawls ("" skips them); per count, the median over the
#              runs of the cluster's requests/s (all workers' requests over the wall time from
#              start to the last worker's exit) and of Redis's CPU time per request (µs, from
#              /proc/<redis-server>/stat)
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

N=20000 C=64 R=3 W="1 2 4"
while getopts "n:c:r:w:h" o; do
  case $o in
    n) N=$OPTARG ;; c) C=$OPTARG ;; r) R=$OPTARG ;; w) W=$OPTARG ;;
    *) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
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

# config BACKEND NAME: the crawl's config on stdout.
config() {
  local backend=$1 name=$2
  {
    echo "name: $name"
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
  }
}

# run BACKEND INDEX: one crawl, prints its requests/s (from --stats-json).
run() {
  local backend=$1 i=$2 dir="$WORK/run-$1-$2"
  mkdir -p "$dir"
  config "$backend" "bench-$backend-$i" >"$dir/cfg.yaml"
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

# Redis's CPU time so far, in clock ticks (utime + stime).
redis_ticks() { awk '{print $14 + $15}' "/proc/$REDIS_PID/stat"; }
TICKS=$(getconf CLK_TCK)

# workers COUNT INDEX: COUNT workers on one shared crawl at once; prints "REQ_PER_S US_PER_REQ".
workers() {
  local count=$1 i=$2 base="$WORK/shared-$1-$2" pids=() k
  mkdir -p "$base"
  local before t0
  before=$(redis_ticks)
  t0=$(date +%s.%N)
  for k in $(seq "$count"); do
    mkdir -p "$base/w$k"
    config redis "shared-$count-$i" >"$base/w$k/cfg.yaml"
    (cd "$base/w$k" && HARVEST_WORKER="w$k" timeout 600 "$HARVEST" run cfg.yaml \
      --stats-json stats.json --progress never >/dev/null 2>err.log) &
    pids+=($!)
  done
  for k in "${!pids[@]}"; do
    wait "${pids[$k]}" || die "worker $((k + 1)) of $count failed: $(tail -5 "$base/w$((k + 1))/err.log")"
  done
  local t1 after
  t1=$(date +%s.%N)
  after=$(redis_ticks)
  python3 - "$base" "$count" "$t0" "$t1" "$before" "$after" "$TICKS" <<'PY'
import json, sys
base, count, t0, t1, before, after, ticks = sys.argv[1:]
requests = sum(json.load(open(f"{base}/w{k}/stats.json"))["requests"] for k in range(1, int(count) + 1))
wall = float(t1) - float(t0)
cpu_us = (int(after) - int(before)) / int(ticks) * 1e6
print("%.0f %.1f" % (requests / wall, cpu_us / max(requests, 1)))
PY
}

for count in $W; do
  rates=() cpus=()
  for i in $(seq "$R"); do
    read -r rate cpu < <(workers "$count" "$i")
    rates+=("$rate")
    cpus+=("$cpu")
  done
  echo "$count worker(s) on one Redis: ${rates[*]} requests/s (median $(printf '%s\n' "${rates[@]}" | median)), Redis CPU ${cpus[*]} µs/request (median $(printf '%s\n' "${cpus[@]}" | median))"
done
