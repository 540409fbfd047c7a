#!/usr/bin/env bash
# The bulk service shared by many API keys, with and without one hostile key: how long the
# well-behaved keys' jobs take (p50 / p99 of their completion, on the service's own clock).
#
#   bench/tenants.sh [-t TENANTS] [-n ITEMS] [-c CONCURRENCY] [-x HOSTILE_ITEMS]
#
#   -t 20     well-behaved API keys, each submitting one job of ITEMS catalog items
#   -n 5000   items per job (ASINs of a generated catalog served by nginx, through a template)
#   -c 64     the service's `concurrency`
#   -x ITEMS  the hostile key's job (default: ITEMS): half to a slow host (the chaos origin's
#             /delay/5000/, answering after 5 s), half huge bodies (/big/, 64 MB each, over the
#             profile's http.max_body of 2 MiB: body_too_large), on one chaos origin
#
# Two runs, each with a fresh `harvest serve` (build/cli/harvest, or HARVEST_BIN) and jobs_db:
# the TENANTS keys alone, then the same with the hostile key submitting first. Prints, per run,
# p50 / p99 / max of the well-behaved jobs' completion (finished_at - created_at) and the ratio
# of the second run to the first. Uses only keys every version of the service reads, so
# HARVEST_BIN may be an older build to compare. Not part of ctest.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
die() { echo "tenants: $*" >&2; exit 1; }

TENANTS=20 N=5000 C=64 HOSTILE=""
while getopts "t:n:c:x:h" o; do
  case $o in
    t) TENANTS=$OPTARG ;; n) N=$OPTARG ;; c) C=$OPTARG ;; x) HOSTILE=$OPTARG ;;
    *) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
HOSTILE=${HOSTILE:-$N}
HARVEST=${HARVEST_BIN:-$ROOT/build/cli/harvest}
CHAOS=${CHAOS_ORIGIN_BIN:-$ROOT/build/tests/chaos_origin}
[[ -x "$HARVEST" ]] || die "no harvest binary at $HARVEST (build the harvest target)"
[[ -x "$CHAOS" ]] || die "no chaos origin at $CHAOS (build the chaos_origin target)"
command -v curl >/dev/null || die "curl is needed"

WORK=$(mktemp -d /tmp/harvest-tenants-bench.XXXXXX)
SERVE_PID="" CHAOS_PID=""
stop_serve() {
  [[ -z "$SERVE_PID" ]] || { kill "$SERVE_PID" 2>/dev/null; wait "$SERVE_PID" 2>/dev/null || true; }
  SERVE_PID=""
}
cleanup() {
  stop_serve
  [[ -z "$CHAOS_PID" ]] || { kill "$CHAOS_PID" 2>/dev/null; wait "$CHAOS_PID" 2>/dev/null || true; }
  tests/fixtures/serve.sh stop "$WORK/nginx" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

python3 tests/fixtures/gen_catalog.py "$WORK/site" -n "$N" --seed 1 --gzip-fraction 0 >/dev/null
PORT=$(tests/fixtures/serve.sh free-port)
tests/fixtures/serve.sh start "$WORK/site" "$PORT" "$WORK/nginx" >/dev/null 2>&1 ||
  die "nginx did not start"
"$CHAOS" --port 0 --log "$WORK/chaos.log" --port-file "$WORK/chaos.port" >"$WORK/chaos.out" 2>&1 &
CHAOS_PID=$!
for _ in $(seq 100); do [[ -s "$WORK/chaos.port" ]] && break; sleep 0.05; done
[[ -s "$WORK/chaos.port" ]] || die "the chaos origin did not start"
CHAOS_PORT=$(cat "$WORK/chaos.port")

{
  for i in $(seq "$TENANTS"); do echo "tenant-$i"; done
  echo hostile
} >"$WORK/keys.txt"

# run NAME WITH_HOSTILE: one service, every job submitted, waits for the end; prints a line.
run() {
  local name=$1 with_hostile=$2 dir="$WORK/$1"
  mkdir -p "$dir"
  cp "$WORK/keys.txt" "$dir/keys.txt"
  local api_port
  api_port=$(tests/fixtures/serve.sh free-port)
  cat >"$dir/serve.yaml" <<YAML
listen: 127.0.0.1:$api_port
api_keys_file: keys.txt
jobs_db: jobs.db
max_items_per_job: $N
concurrency: $C
submit_rate_limit: {per_second: 100, burst: 100}
profiles:
  catalog:
    engine: {per_host_concurrency: $C}
    http: {max_body: 2MiB, timeouts: {connect: 2s, total: 15s}}
    rate_limit: {per_second: 0, burst: 1}
    retry: {max_attempts: 2}
    extract: [{match: "/api/products/", type: json, fields: {id: /asin, price: /price}}]
templates:
  catalog: "http://127.0.0.1:$PORT/api/products/{id}.json"
egress: {deny_private: true, allow: ["127.0.0.1:$PORT", "127.0.0.1:$CHAOS_PORT"]}
YAML
  (cd "$dir" && exec "$HARVEST" serve --config serve.yaml 2>serve.log) &
  SERVE_PID=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$api_port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -sf "http://127.0.0.1:$api_port/healthz" >/dev/null || die "harvest serve did not start"
  python3 - "$api_port" "$WORK/site/asins.txt" "$TENANTS" "$with_hostile" "$HOSTILE" \
    "$CHAOS_PORT" "$name" "$dir/percentiles" <<'PY'
import json, sys, time, urllib.request
port, asins_file, tenants, with_hostile, hostile_items, chaos_port, name, out = sys.argv[1:]
api = f"http://127.0.0.1:{port}"
asins = [l.strip() for l in open(asins_file) if l.strip()]

def call(method, path, key, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(api + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {key}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)

def seconds(text):
    return time.mktime(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")) + float("0" + text[19:-1])

if with_hostile == "1":
    n = int(hostile_items)
    urls = [f"http://127.0.0.1:{chaos_port}/delay/5000/s{i}" if i % 2 == 0 else
            f"http://127.0.0.1:{chaos_port}/big/64000000/b{i}" for i in range(n)]
    call("POST", "/v1/jobs", "hostile", {"profile": "catalog", "urls": urls})
jobs = {}
for t in range(1, int(tenants) + 1):
    answer = call("POST", "/v1/jobs", f"tenant-{t}",
                  {"profile": "catalog", "template": "catalog", "asins": asins})
    jobs[f"tenant-{t}"] = answer["job_id"]
took = []
deadline = time.time() + 1800
pending = dict(jobs)
while pending and time.time() < deadline:
    for key, job in list(pending.items()):
        state = call("GET", f"/v1/jobs/{job}", key)
        if state["status"] == "done":
            took.append(seconds(state["finished_at"]) - seconds(state["created_at"]))
            del pending[key]
    time.sleep(0.2)
if pending:
    sys.exit(f"tenants: {len(pending)} jobs not done within 30 min")
took.sort()
def pct(p):
    return took[min(len(took) - 1, int(round(p / 100 * (len(took) - 1))))]
print(f"{name}: {len(took)} jobs x {len(asins)} items: p50 {pct(50):.2f} s, "
      f"p99 {pct(99):.2f} s, max {took[-1]:.2f} s")
open(out, "w").write(f"{pct(50)} {pct(99)}\n")
PY
  stop_serve
}

echo "tenants: $TENANTS keys x $N items, concurrency $C; hostile key: $HOSTILE items" \
  "(half 5 s slow, half 64 MB bodies)"
run alone 0
run hostile 1
read -r a50 a99 <"$WORK/alone/percentiles"
read -r h50 h99 <"$WORK/hostile/percentiles"
awk -v a50="$a50" -v a99="$a99" -v h50="$h50" -v h99="$h99" \
  'BEGIN { printf "with the hostile key / alone: p50 x%.2f, p99 x%.2f\n", h50 / a50, h99 / a99 }'
