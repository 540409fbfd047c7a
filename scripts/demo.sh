#!/usr/bin/env bash
# Crawl a generated 3,000-product shop served by a local nginx, and show what came out.
#
#   scripts/demo.sh [harvest run options...]      e.g. --set engine.concurrency=64
#
# First run: installs missing Debian packages, builds build-release/ (Release), generates the
# site into .harvest/demo-site. Later runs reuse all three and take seconds.
# The crawl is config/examples/demo.yaml, run with DEMO_PORT (nginx's port) and DEMO_SITE (the
# site folder, holding asins.txt) in the environment; items go to out/demo/items.jsonl
# (override with DEMO_OUT). HARVEST_SKIP_DEPS=1 skips the package check; HARVEST_BIN=PATH uses
# that harvest binary instead of building build-release/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
die() { echo "demo.sh: $*" >&2; exit 1; }

CONFIG=$ROOT/config/examples/demo.yaml
STATE=$ROOT/.harvest
SITE=$STATE/demo-site
RUN_DIR=$STATE/demo-nginx
OUT=${DEMO_OUT:-$ROOT/out/demo/items.jsonl}
STATS=$(dirname "$OUT")/stats.json
BUILD=$ROOT/build-release
HARVEST=${HARVEST_BIN:-$BUILD/cli/harvest}

[[ -f "$CONFIG" ]] || die "missing $CONFIG"
[[ "${HARVEST_SKIP_DEPS:-0}" == 1 ]] || scripts/install-deps.sh

# Build: configure once, then let cmake's incremental build decide (quiet unless it fails).
# Skipped when HARVEST_BIN names a harvest binary to use instead.
if [[ -n "${HARVEST_BIN:-}" ]]; then
  :
elif [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  echo "demo.sh: configuring $BUILD (Release)" >&2
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DHARVEST_BUILD_TESTS=OFF >/dev/null
fi
if [[ -z "${HARVEST_BIN:-}" ]]; then
  build_log=$(mktemp)
  if ! cmake --build "$BUILD" --target harvest -j"$(nproc)" >"$build_log" 2>&1; then
    cat "$build_log" >&2; rm -f "$build_log"; die "build failed"
  fi
  if grep -q "Building CXX" "$build_log"; then echo "demo.sh: rebuilt $HARVEST" >&2; fi
  rm -f "$build_log"
fi

# Site: generated once; the marker is written only after a complete generation.
if [[ ! -f "$SITE/.complete" ]]; then
  rm -rf "$SITE"
  python3 tests/fixtures/gen_catalog.py "$SITE" -n 3000 --seed 1 --gzip-fraction 0.2
  touch "$SITE/.complete"
fi

PORT=$(tests/fixtures/serve.sh free-port)
tests/fixtures/serve.sh stop "$RUN_DIR"  # a leftover from an interrupted demo, if any
trap 'tests/fixtures/serve.sh stop "$RUN_DIR"' EXIT
tests/fixtures/serve.sh start "$SITE" "$PORT" "$RUN_DIR"

mkdir -p "$(dirname "$OUT")"
rm -f "$OUT" "${OUT%.jsonl}.errors.jsonl" "$STATS"
echo "demo.sh: harvest run $CONFIG (DEMO_PORT=$PORT DEMO_SITE=$SITE)" >&2
status=0
DEMO_PORT=$PORT DEMO_SITE=$SITE "$HARVEST" run "$CONFIG" --set "outputs.0.path=$OUT" \
  --stats-json "$STATS" "$@" || status=$?

echo
echo "items:  $OUT ($(wc -l <"$OUT" 2>/dev/null || echo 0) lines)"
errors=${OUT%.jsonl}.errors.jsonl
[[ -f "$errors" ]] && echo "errors: $errors ($(wc -l <"$errors") lines)"
if [[ -s "$OUT" ]]; then
  echo "first item:"
  head -n 1 "$OUT" | python3 -m json.tool --no-ensure-ascii
fi
if [[ -f "$STATS" ]]; then
  echo "run summary ($STATS):"
  python3 -m json.tool --no-ensure-ascii "$STATS"
fi
[[ $status -eq 0 ]] || die "harvest run exited $status"
