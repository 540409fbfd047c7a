#!/usr/bin/env bash
# The bulk service under load: submission latency of 5,000-item jobs and items/s to the end.
#
#   bench/serve_bench.sh [-n ITEMS] [-j JOBS] [-c CONCURRENCY]
#
#   -n 5000   items per job (ASINs of a generated catalog, through a template)
#   -j 3      jobs submitted back to back (submission latency is measured for each, with curl)
#   -c 64     the service's `concurrency` (item fetches in flight over all jobs)
#
# nginx serves a catalog generated with tests/fixtures/gen_catalog.py (no gzip copies) on a
# free loopback port; `harvest serve` (build/cli/harvest, or HARVEST_BIN) runs with a fresh
# jobs_db in a temp folder. Prints each submission's latency (curl time_total), the wall time
# from the first submission until every job is `done`, and items/s. Not part of ctest.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
die() { echo "serve_bench: $*" >&2; exit 1; }

N=5000 JOBS=3 C=64
while getopts "n:j:c:h" o; do
  case $o in
    n) N=$OPTARG ;; j) JOBS=$OPTARG ;; c) C=$OPTARG ;;
    *) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
HARVEST=${HARVEST_BIN:-$ROOT/build/cli/harvest}
[[ -x "$HARVEST" ]] || die "no harvest binary at $HARVEST (build the harvest target)"
command -v curl >/dev/null || die "curl is needed"

WORK=$(mktemp -d /tmp/harvest-serve-bench.XXXXXX)
SERVE_PID=""
cleanup() {
  [[ -z "$SERVE_PID" ]] || { kill "$SERVE_PID" 2>/dev/null; wait "$SERVE_PID" 2>/dev/null || true; }
  tests/fixtures/serve.sh stop "$WORK/nginx" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

python3 tests/fixtures/gen_catalog.py "$WORK/site" -n "$N" --seed 1 --gzip-fraction 0 >/dev/null
PORT=$(tests/fixtures/serve.sh free-port)
tests/fixtures/serve.sh start "$WORK/site" "$PORT" "$WORK/nginx" >/dev/null 2>&1 ||
  die "nginx did not start"
API_PORT=$(tests/fixtures/serve.sh free-port)

echo bench-key >"$WORK/keys.txt"
echo bench-secret >"$WORK/webhook.secret"
cat >"$WORK/serve.yaml" <<YAML
listen: 127.0.0.1:$API_PORT
api_keys_file: keys.txt
jobs_db: jobs.db
max_items_per_job: $N
concurrency: $C
submit_rate_limit: {per_second: 10, burst: 20}
profiles:
  catalog:
    engine: {per_host_concurrency: $C}
    rate_limit: {per_second: 0, burst: 1}
    extract: [{match: "/api/products/", type: json, fields: {id: /asin, price: /price}}]
templates:
  catalog: "http://127.0.0.1:$PORT/api/products/{id}.json"
webhook: {secret_file: webhook.secret}
egress: {deny_private: true, allow: ["127.0.0.1:$PORT"]}
YAML
"$HARVEST" serve --config "$WORK/serve.yaml" 2>"$WORK/serve.log" &
SERVE_PID=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$API_PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$API_PORT/healthz" >/dev/null || die "harvest serve did not start"

python3 - "$WORK/site/asins.txt" >"$WORK/body.json" <<'PY'
import json, sys
asins = [line.strip() for line in open(sys.argv[1]) if line.strip()]
print(json.dumps({"profile": "catalog", "template": "catalog", "asins": asins}))
PY

API=http://127.0.0.1:$API_PORT
IDS=()
t0=$(date +%s.%N)
for j in $(seq "$JOBS"); do
  out=$(curl -s -o "$WORK/answer.json" -w '%{http_code} %{time_total}' -X POST \
    -H 'Authorization: Bearer bench-key' -H 'Content-Type: application/json' \
    --data-binary @"$WORK/body.json" "$API/v1/jobs")
  [[ ${out%% *} == 202 ]] || die "submission $j answered ${out%% *}: $(cat "$WORK/answer.json")"
  printf 'submission %d: %s items accepted in %.1f ms\n' "$j" "$N" \
    "$(awk -v s="${out#* }" 'BEGIN { print s * 1000 }')"
  IDS+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["job_id"])' "$WORK/answer.json")")
done
deadline=$((SECONDS + 600))
for id in "${IDS[@]}"; do
  while :; do
    status=$(curl -s -H 'Authorization: Bearer bench-key' "$API/v1/jobs/$id" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
    [[ $status == done ]] && break
    ((SECONDS < deadline)) || die "job $id not done within 600 s"
    sleep 0.05
  done
done
t1=$(date +%s.%N)
TOTAL=$((N * JOBS))
awk -v n="$TOTAL" -v a="$t0" -v b="$t1" -v c="$C" \
  'BEGIN { printf "%d items in %.2f s: %.0f items/s (concurrency %d)\n", n, b - a, n / (b - a), c }'
