#!/usr/bin/env bash
# Extraction speed of harvest against Scrapy's parsel on the same product pages, one thread.
#
#   bench/extract_bench.sh [-n PAGES] [-r REPEAT] [-k ROUNDS]
#
#   -n 500   product pages loaded into memory (the catalog's /p/{ASIN}.html)
#   -r 3     passes per measurement; the best (least process CPU time) counts
#   -k 2     rounds; each round runs harvest then parsel back to back per mode
#
# Modes: jsonld (schema Product from the JSON-LD blocks) and html (the product fields by CSS
# selectors), done by build/bench/extract_bench (built here) and bench/extract_parsel.py
# (Debian's python3-parsel under /usr/bin/python3). The pages come from the reference workload's
# generator (../shared/workload/gen_catalog.py next to the repository: real-sized pages with
# JSON-LD, reviews, related items) or, when that is absent, tests/fixtures/gen_catalog.py; they
# are generated once into .harvest/extract-site (EXTRACT_SITE overrides). Prints every run's line,
# then per mode the best MB/s of each side over the rounds, the ratio, and the issue's target
# (html >= 5x, jsonld >= 20x). Checks that both sides extracted the same items first.
# Not part of ctest.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
die() { echo "extract_bench: $*" >&2; exit 1; }

N=500 R=3 K=2
while getopts "n:r:k:h" o; do
  case $o in
    n) N=$OPTARG ;; r) R=$OPTARG ;; k) K=$OPTARG ;;
    *) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done

PY=/usr/bin/python3
"$PY" -c 'import parsel' 2>/dev/null ||
  die "needs Debian's python3-parsel (scripts/install-deps.sh installs it)"

SITE=${EXTRACT_SITE:-$ROOT/.harvest/extract-site}
WORKLOAD=$(cd "$ROOT/.." && pwd)/shared/workload
if [[ ! -d "$SITE/p" ]] || (( $(find "$SITE/p" -name '*.html' | wc -l) < N )); then
  mkdir -p "$SITE"
  if [[ -f "$WORKLOAD/gen_catalog.py" ]]; then
    "$PY" "$WORKLOAD/gen_catalog.py" "$SITE" -n "$N" >/dev/null
  else
    echo "extract_bench: no ../shared/workload; using tests/fixtures/gen_catalog.py (small pages)" >&2
    "$PY" tests/fixtures/gen_catalog.py "$SITE" -n "$N" 2>/dev/null
  fi
fi

BUILD=${EXTRACT_BUILD:-$ROOT/build}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(cd "$ROOT/.." && pwd)} CCACHE_NOHASHDIR=true
[[ -f "$BUILD/CMakeCache.txt" ]] ||
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" --target extract_bench -j2 >/dev/null || die "build of extract_bench failed"
BENCH=$BUILD/bench/extract_bench

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Same items both ways (one pass each), before timing anything.
"$BENCH" "$SITE/p" --pages "$N" --repeat 1 --dump "$TMP/harvest.jsonl" >/dev/null
"$PY" bench/extract_parsel.py "$SITE/p" --pages "$N" --repeat 1 --dump "$TMP/parsel.jsonl" >/dev/null
"$PY" - "$TMP/harvest.jsonl" "$TMP/parsel.jsonl" <<'EOF'
import json, sys
fields = ("id", "name", "brand", "price", "currency", "availability", "rating", "review_count",
          "image")
def load(path):
    return {(d["mode"], d["page"]): d for d in map(json.loads, open(path, encoding="utf-8"))}
h, p = load(sys.argv[1]), load(sys.argv[2])
diff = [(k, f, h[k].get(f), p.get(k, {}).get(f)) for k in h for f in fields
        if h[k].get(f) != p.get(k, {}).get(f)]
print(f"items: harvest {len(h)}, parsel {len(p)}, differing fields {len(diff)}")
for d in diff[:5]:
    print("  differs:", d)
sys.exit(1 if diff or len(h) != len(p) else 0)
EOF

for ((k = 1; k <= K; k++)); do
  for mode in jsonld html; do
    nice "$BENCH" "$SITE/p" --pages "$N" --repeat "$R" --mode "$mode" | tee -a "$TMP/runs"
    nice "$PY" bench/extract_parsel.py "$SITE/p" --pages "$N" --repeat "$R" --mode "$mode" |
      tee -a "$TMP/runs"
  done
done

"$PY" - "$TMP/runs" <<'EOF'
import sys
best = {}
for line in open(sys.argv[1]):
    parts = line.split()
    fields = dict(p.split("=", 1) for p in parts[2:])
    key = (parts[0], parts[1])
    best[key] = max(best.get(key, 0.0), float(fields["mb_per_s"]))
targets = {"jsonld": 20.0, "html": 5.0}
for mode, target in targets.items():
    h, p = best.get(("harvest", mode)), best.get(("parsel", mode))
    if h and p:
        ratio = h / p
        verdict = "meets" if ratio >= target else "misses"
        print(f"{mode:6s} harvest {h:8.1f} MB/s  parsel {p:6.1f} MB/s  ratio {ratio:5.1f}x  "
              f"({verdict} the {target:g}x target)")
EOF
