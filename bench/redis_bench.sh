#!/usr/bin/env bash
# One worker with frontier.backend: redis against the in-memory frontier, same catalog, same nginx;
# then 1, 2 and 4 workers sharing one crawl on that Redis, and on a 3-primary Redis Cluster.
#
#   bench/redis_bench.sh [-n PRODUCTS] [-c CONCURRENCY] [-r RUNS] [-w "1 2 4"] [-H HOSTS]
#
#   -n 20000   products (each product's JSON fetched once, from a template seed)
#   -c 64      engine.concurrency (and per_host_concurrency)
#   -r 3       runs of each backend; the median requests/s is reported
#   -w "1 2 4" worker counts of the shared crawls ("" skips them); per count, the median over the
#              runs of the cluster's requests/s (all workers' requests over the wall time from
#              start to the last worker's exit) and of Redis's CPU time per request (µs, from
#              /proc/<redis-server>/stat; on the cluster, the three primaries' together, and
#              each primary's share)
#   -H 1       origins the catalog is served from (one nginx each, on ports of their own; the
#              products split evenly between them): a host's requests live in one partition of
#              the cluster, so one host loads one primary and many spread over all
#
# The catalog is generated with tests/fixtures/gen_catalog.py into a temp folder and served by
# tests/fixtures/serve.sh (nginx); redis-server runs on a free loopback port with no persistence,
# and the cluster's three primaries (no replicas) on three more, joined by redis-cli --cluster.
# harvest is build/cli/harvest or HARVEST_BIN. Everything started here is stopped on exit.
# Prints requests/s per backend and the ratio redis/memory (the target is >= 0.70).
# Not part of ctest.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
die() { echo "redis_bench: $*" >&2; exit 1; }

N=20000 C=64 R=3 W="1 2 4" H=1
while getopts "n:c:r:w:H:h" o; do
  case $o in
    n) N=$OPTARG ;; c) C=$OPTARG ;; r) R=$OPTARG ;; w) W=$OPTARG ;; H) H=$OPTARG ;;
    *) sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
HARVEST=${HARVEST_BIN:-$ROOT/build/cli/harvest}
[[ -x "$HARVEST" ]] || die "no harvest binary at $HARVEST (build it or set HARVEST_BIN)"
command -v redis-server >/dev/null || die "redis-server missing (scripts/install-deps.sh)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/harvest-redis-bench-XXXXXX")
REDIS_PID=""
CLUSTER_PIDS=()
cleanup() {
  for h in $(seq "$H"); do tests/fixtures/serve.sh stop "$WORK/nginx$h" >/dev/null 2>&1 || true; done
  for pid in $REDIS_PID "${CLUSTER_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

python3 tests/fixtures/gen_catalog.py "$WORK/site" -n "$N" >/dev/null
PORTS=()
for h in $(seq "$H"); do
  PORTS+=("$(tests/fixtures/serve.sh free-port)")
  tests/fixtures/serve.sh start "$WORK/site" "${PORTS[-1]}" "$WORK/nginx$h" 2>/dev/null
done
# The products split between the origins: asins-<k>.txt for the k-th.
awk -v h="$H" -v dir="$WORK/site" '{print > (dir "/asins-" (NR % h + 1) ".txt")}' "$WORK/site/asins.txt"
REDIS_PORT=$(tests/fixtures/serve.sh free-port)
mkdir -p "$WORK/redis"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK/redis" --save "" \
  --appendonly no --logfile "$WORK/redis/redis.log" &
REDIS_PID=$!
wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  die "nothing listens on port $1"
}
wait_port "$REDIS_PORT"
REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"

# config BACKEND NAME [URL]: the crawl's config on stdout (URL: the Redis one by default).
config() {
  local backend=$1 name=$2 url=${3:-$REDIS_URL}
  {
    echo "name: $name"
    echo "seeds:"
    local k
    for k in $(seq "$H"); do
      echo "  - template: \"http://127.0.0.1:${PORTS[$((k - 1))]}/api/products/{id}.json\""
      echo "    values_file: $WORK/site/asins-$k.txt"
    done
    echo "engine: {concurrency: $C, per_host_concurrency: $C, threads: 1, robots_txt: ignore}"
    echo "rate_limit: {per_second: 0, burst: 1}"
    echo "extract:"
    echo "  - {match: \"/api/products/\", type: json, fields: {id: /asin, price: {pointer: /price, as: price}}, required: [id]}"
    echo "outputs:"
    echo "  - {type: jsonl, path: out/items.jsonl}"
    echo "state: {dir: state}"
    if [[ $backend == redis ]]; then
      echo "frontier: {backend: redis, url: \"$url\", lease: 60s}"
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

# The CPU time so far of each redis-server of PIDS..., in clock ticks (utime + stime), comma-separated.
redis_ticks() {
  local pid out=()
  for pid in "$@"; do out+=("$(awk '{print $14 + $15}' "/proc/$pid/stat")"); done
  (IFS=,; echo "${out[*]}")
}
TICKS=$(getconf CLK_TCK)

# workers COUNT INDEX URL PIDS: COUNT workers on one shared crawl at once, on the Redis at URL
# (whose servers are PIDS, a space-separated list); prints "REQ_PER_S US_PER_REQ SHARES", SHARES
# each server's part of the Redis CPU time (percent, slash-separated).
workers() {
  local count=$1 i=$2 url=$3 servers=$4 base="$WORK/shared-$1-$2-${#3}" pids=() k
  mkdir -p "$base"
  local before t0
  # shellcheck disable=SC2086 # a list of pids
  before=$(redis_ticks $servers)
  t0=$(date +%s.%N)
  for k in $(seq "$count"); do
    mkdir -p "$base/w$k"
    config redis "shared-$count-$i-${#url}" "$url" >"$base/w$k/cfg.yaml"
    (cd "$base/w$k" && HARVEST_WORKER="w$k" timeout 600 "$HARVEST" run cfg.yaml \
      --stats-json stats.json --progress never >/dev/null 2>err.log) &
    pids+=($!)
  done
  for k in "${!pids[@]}"; do
    wait "${pids[$k]}" || die "worker $((k + 1)) of $count failed: $(tail -5 "$base/w$((k + 1))/err.log")"
  done
  local t1 after
  t1=$(date +%s.%N)
  # shellcheck disable=SC2086
  after=$(redis_ticks $servers)
  python3 - "$base" "$count" "$t0" "$t1" "$before" "$after" "$TICKS" <<'PY'
import json, sys
base, count, t0, t1, before, after, ticks = sys.argv[1:]
requests = sum(json.load(open(f"{base}/w{k}/stats.json"))["requests"] for k in range(1, int(count) + 1))
wall = float(t1) - float(t0)
spent = [int(a) - int(b) for a, b in zip(after.split(","), before.split(","))]
cpu_us = sum(spent) / int(ticks) * 1e6
shares = "/".join("%.0f" % (100 * s / max(sum(spent), 1)) for s in spent)
print("%.0f %.1f %s" % (requests / wall, cpu_us / max(requests, 1), shares))
PY
}

# A 3-primary Redis Cluster on loopback (each node's bus on a port of its own).
start_cluster() {
  local k port bus nodes=()
  for k in 1 2 3; do
    port=$(tests/fixtures/serve.sh free-port)
    bus=$(tests/fixtures/serve.sh free-port)
    mkdir -p "$WORK/cluster$k"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$WORK/cluster$k" --save "" \
      --appendonly no --logfile "$WORK/cluster$k/redis.log" --cluster-enabled yes \
      --cluster-config-file "$WORK/cluster$k/nodes.conf" --cluster-port "$bus" &
    CLUSTER_PIDS+=($!)
    wait_port "$port"
    nodes+=("127.0.0.1:$port")
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-yes >"$WORK/cluster-create.log" 2>&1 ||
    die "redis-cli --cluster create failed: $(tail -5 "$WORK/cluster-create.log")"
  for _ in $(seq 100); do
    local ok=0
    for k in "${nodes[@]}"; do
      redis-cli -h 127.0.0.1 -p "${k#*:}" cluster info | grep -q cluster_state:ok && ok=$((ok + 1))
    done
    [[ $ok == 3 ]] && break
    sleep 0.1
  done
  CLUSTER_URL="redis-cluster://$(IFS=,; echo "${nodes[*]}")"
}

# shared LABEL URL PIDS: the worker counts of -w on one store.
shared() {
  local label=$1 url=$2 servers=$3 count i rate cpu share rates cpus shares
  for count in $W; do
    rates=() cpus=() shares=()
    for i in $(seq "$R"); do
      read -r rate cpu share < <(workers "$count" "$i" "$url" "$servers")
      rates+=("$rate")
      cpus+=("$cpu")
      shares+=("$share")
    done
    local per_server=""
    [[ $servers == *" "* ]] && per_server=", per primary ${shares[*]} %"
    echo "$count worker(s) on $label: ${rates[*]} requests/s (median $(printf '%s\n' "${rates[@]}" | median)), Redis CPU ${cpus[*]} µs/request (median $(printf '%s\n' "${cpus[@]}" | median))$per_server"
  done
}

if [[ -n "$W" ]]; then
  shared "one Redis" "$REDIS_URL" "$REDIS_PID"
  start_cluster
  shared "a 3-primary cluster" "$CLUSTER_URL" "${CLUSTER_PIDS[*]}"
fi
