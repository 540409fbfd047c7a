#!/usr/bin/env bash
# Soak: a long crawl against the chaos origin with a fault mix, watching harvest's RSS and fds.
#
#   bench/soak.sh [-d SECONDS] [-r PER_SECOND]
#
#   -d 600   how long the crawl runs before it is stopped with SIGINT (a clean drain)
#   -r 10    rate_limit.per_second (per host) of the chaos origin: the seeds are sized so that
#            the crawl is still busy when it is stopped (rate x seconds x 1.3 URLs)
#
# The fault mix, by URL (a cycle of 20): 11 plain 200s, 503 twice then 200, 429 with
# Retry-After (seconds and HTTP-date) then 200, always 503, a reset in the middle of the body,
# a slow drip (cut by the total timeout), a request never answered, a 404, and a dead host (a
# port nobody listens on). harvest's RSS and open fds are sampled every 10 s. Prints the samples,
# the RSS growth after the first minute (target < 5%), fds min/max (target: flat), and for every
# fault the final error kinds of its URLs against the kinds that fault can explain: any other
# kind is `unexplained` and makes the script exit 1.
#
# Binaries: build/cli/harvest and build/tests/chaos_origin (built when missing), or HARVEST_BIN
# and CHAOS_BIN. Only 127.0.0.1 is used. Not part of ctest; run it with `nice`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
die() { echo "soak: $*" >&2; exit 1; }

D=600 RATE=10
while getopts "d:r:h" o; do
  case $o in
    d) D=$OPTARG ;; r) RATE=$OPTARG ;;
    *) sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
[[ "$D" =~ ^[0-9]+$ && "$D" -ge 20 ]] || die "-d wants whole seconds >= 20"

HARVEST=${HARVEST_BIN:-$ROOT/build/cli/harvest}
CHAOS=${CHAOS_BIN:-$ROOT/build/tests/chaos_origin}
if [[ -z "${HARVEST_BIN:-}" || -z "${CHAOS_BIN:-}" ]]; then
  [[ -f build/CMakeCache.txt ]] || cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build --target harvest chaos_origin -j"$(nproc)" >/dev/null || die "build failed"
fi
[[ -x "$HARVEST" && -x "$CHAOS" ]] || die "missing $HARVEST or $CHAOS"

WORK=$(mktemp -d /tmp/harvest-soak.XXXXXX)
CHAOS_PID="" HARVEST_PID=""
cleanup() {
  [[ -n "$HARVEST_PID" ]] && kill -KILL "$HARVEST_PID" 2>/dev/null || true
  [[ -n "$CHAOS_PID" ]] && kill "$CHAOS_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  [[ "${HARVEST_KEEP_TMP:-0}" == 1 ]] && echo "soak: kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT

"$CHAOS" --port 0 --log "$WORK/origin.jsonl" --port-file "$WORK/port" \
  >/dev/null 2>"$WORK/origin.err" &
CHAOS_PID=$!
for _ in $(seq 50); do [[ -s "$WORK/port" ]] && break; sleep 0.1; done
[[ -s "$WORK/port" ]] || die "chaos_origin did not start: $(cat "$WORK/origin.err")"
PORT=$(<"$WORK/port")
DEAD=$(tests/fixtures/serve.sh free-port)   # free now, and nobody listens on it

N=$(( RATE * D * 13 / 10 ))
python3 - "$N" "$PORT" "$DEAD" >"$WORK/urls.txt" <<'PY'
import sys
n, port, dead = int(sys.argv[1]), sys.argv[2], sys.argv[3]
origin = f"http://127.0.0.1:{port}"
faults = {10: "fail-then-ok/2/", 11: "429/1/", 12: "status/503/", 13: "reset-mid-body/",
          14: "drip/400/", 15: "hang/", 16: None, 17: "status/404/", 18: "429-date/1/"}
for i in range(n):
    slot = i % 20
    if slot == 16:
        print(f"http://127.0.0.1:{dead}/ok/{i}")
    else:
        print(f"{origin}/{faults.get(slot, 'ok/')}{i}")
PY

cat >"$WORK/soak.yaml" <<YAML
name: soak
seeds:
  - urls_file: $WORK/urls.txt
engine:
  concurrency: 64
  per_host_concurrency: 16
  robots_txt: ignore
http:
  timeouts: {connect: 1s, tls: 1s, response_headers: 2s, idle_read: 2s, total: 3s}
rate_limit:
  per_second: $RATE               # per host
  burst: $RATE
retry:
  max_attempts: 3
  backoff: {strategy: full_jitter, base: 100ms, max: 2s}
  budget: {ratio: 0.5, min_per_second: 5}
circuit_breaker:
  window: 50
  min_calls: 10
  failure_rate: 0.8
  open_for: 5s
  give_up_after: 20s
extract:
  - match: "/"
    type: json
    fields:
      id: /id
    required: [id]
outputs:
  - type: jsonl
    path: $WORK/items.jsonl
state:
  dir: $WORK/state
YAML
"$HARVEST" check "$WORK/soak.yaml" >/dev/null || die "the soak config does not validate"

echo "soak: $N URLs, chaos origin 127.0.0.1:$PORT at $RATE req/s, dead host 127.0.0.1:$DEAD, ${D}s"
"$HARVEST" run "$WORK/soak.yaml" --stats-json "$WORK/stats.json" >"$WORK/harvest.log" 2>&1 &
HARVEST_PID=$!
t0=$(date +%s)
echo "   t(s)  rss(KiB)  fds" | tee "$WORK/samples.txt"
while :; do
  sleep 10
  kill -0 "$HARVEST_PID" 2>/dev/null || break
  t=$(( $(date +%s) - t0 ))
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$HARVEST_PID/status" 2>/dev/null || echo 0)
  fds=$(find "/proc/$HARVEST_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  printf '%7d %9d %4d\n' "$t" "$rss" "$fds" | tee -a "$WORK/samples.txt"
  (( t >= D )) && break
done
status=0
if kill -0 "$HARVEST_PID" 2>/dev/null; then
  kill -INT "$HARVEST_PID"
  for _ in $(seq 600); do kill -0 "$HARVEST_PID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$HARVEST_PID" 2>/dev/null && die "harvest did not drain within 60 s of SIGINT"
  wait "$HARVEST_PID" || status=$?
  echo "soak: stopped with SIGINT after $(( $(date +%s) - t0 )) s," \
    "harvest exit $status (130 = drained)"
else
  wait "$HARVEST_PID" || status=$?
  echo "soak: the crawl ended by itself after $(( $(date +%s) - t0 )) s (exit $status):" \
    "raise -r or -d"
fi
HARVEST_PID=""

python3 - "$WORK" "$PORT" "$DEAD" <<'PY'
import collections, json, re, sys
work, port, dead = sys.argv[1], sys.argv[2], sys.argv[3]

samples = []
for line in open(f"{work}/samples.txt").read().splitlines()[1:]:
    t, rss, fds = map(int, line.split())
    samples.append((t, rss, fds))
after = [s for s in samples if s[0] >= 60]
if len(after) >= 2:
    base, last, top = after[0][1], after[-1][1], max(s[1] for s in after)
    print(f"RSS after the first minute: {base} KiB at {after[0][0]} s, {last} KiB at the end, "
          f"max {top} KiB: growth {100.0 * (last - base) / base:+.1f}% "
          f"(max {100.0 * (top - base) / base:+.1f}%; target < 5%)")
else:
    print("RSS: too few samples after the first minute")
if samples:
    fds = [s[2] for s in samples]
    print(f"open fds: min {min(fds)}, max {max(fds)} over {len(samples)} samples")

def fault_of(url):
    if f":{dead}/" in url:
        return "dead-host"
    path = url.split(f":{port}/", 1)[1]
    name = path.split("/", 1)[0]
    return {"status": "status/" + path.split("/")[1]}.get(name, name)

# What each fault may end in. Retried faults end as retries_exhausted (their last error is the
# raw kind) or, with the retry budget spent, as the raw kind itself; a dead host's breaker opens
# and its waiting requests fail as circuit_open.
explains = {
    "ok": set(), "fail-then-ok": set(), "429": set(), "429-date": set(),
    "status/503": {"retries_exhausted", "status_5xx"},
    "status/404": {"status_4xx"},
    "reset-mid-body": {"retries_exhausted", "reset", "protocol"},
    "drip": {"retries_exhausted", "timeout"},
    "hang": {"retries_exhausted", "timeout"},
    "dead-host": {"retries_exhausted", "connect", "circuit_open"},
}
seeded = collections.Counter(fault_of(u) for u in open(f"{work}/urls.txt").read().split())
answered = collections.Counter()
for line in open(f"{work}/origin.jsonl"):
    try:
        rec = json.loads(line)
    except ValueError:
        continue
    answered[fault_of(f"http://127.0.0.1:{port}" + rec["path"])] += 1
kinds = collections.defaultdict(collections.Counter)
last_errors = collections.defaultdict(collections.Counter)
unexplained = 0
try:
    lines = open(f"{work}/items.errors.jsonl").read().splitlines()  # beside items.jsonl
except FileNotFoundError:
    lines = []
for line in lines:
    rec = json.loads(line)
    fault = fault_of(rec["url"])
    kinds[fault][rec["error"]] += 1
    if rec.get("last_error"):
        last_errors[fault][rec["last_error"]] += 1
    if rec["error"] not in explains.get(fault, set()):
        unexplained += 1
try:
    items = sum(1 for _ in open(f"{work}/items.jsonl"))
except FileNotFoundError:
    items = 0
print(f"items written: {items}; failures in the error stream: {len(lines)}")
print(f"{'fault':<15} {'seeded':>7} {'origin':>7}  final error kinds (last_error)")
for fault in sorted(seeded):
    seen = ", ".join(f"{k} {n}" for k, n in sorted(kinds[fault].items())) or "-"
    last = ", ".join(f"{k} {n}" for k, n in sorted(last_errors[fault].items()))
    print(f"{fault:<15} {seeded[fault]:>7} {answered.get(fault, 0):>7}  {seen}"
          + (f" ({last})" if last else ""))
print(f"unexplained error kinds: {unexplained}")
sys.exit(1 if unexplained else 0)
PY
