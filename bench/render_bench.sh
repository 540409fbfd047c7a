#!/usr/bin/env bash
# Rendering's cost: the same single-page shop crawled with render: (headless Chromium, 1, 2 and
# 4 tabs) and without it (the shells only), side by side.
#
#   bench/render_bench.sh [-n PAGES] [-t "1 2 4"]
#
#   -n 200       product pages; each is a shell whose script fetches its product from a JSON API
#   -t "1 2 4"   render.tabs_per_browser values to run (one browser)
#
# The site is generated into a temp folder and served by nginx (tests/fixtures/serve.sh).
# harvest is build-release/cli/harvest (built when missing or stale) or HARVEST_BIN. Prints, per
# run: pages/s, items, CPU milliseconds per page (the crawler and every Chromium process, from
# /usr/bin/time: the browsers are its reaped descendants) and the peak RSS of the crawler and
# its browsers together (sampled every 100 ms), then each rendered run's pages/s as a ratio of
# the unrendered run's.
#
# Crawlee: the same pages with Crawlee's PuppeteerCrawler (crawlee@3.18.1 and puppeteer-core,
# bench/render_crawlee.mjs) driving Debian's Chromium (executablePath /usr/bin/chromium), with
# the same tabs, and Harvest's pages/s as a ratio of Crawlee's. It is installed with npm into
# CRAWLEE_PREFIX (default ${TMPDIR:-/tmp}/harvest-crawlee, outside the repository) with
# PUPPETEER_SKIP_DOWNLOAD=1, so no browser is downloaded; without node/npm or when the install
# fails the script says why and runs Harvest alone (CRAWLEE=0 skips it). Not part of ctest.
set -euo pipefail

BENCH_NAME=render_bench
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

N=200 TABS="1 2 4"
while getopts "n:t:h" o; do
  case $o in
    n) N=$OPTARG ;; t) TABS=$OPTARG ;;
    *) sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done

bench_harvest
[[ -x /usr/bin/chromium ]] || die "no /usr/bin/chromium (scripts/install-deps.sh installs it)"
need_time
WORKLOAD=""   # start_nginx: the repository's own serve.sh
bench_workdir harvest-render-bench

# Crawlee, when it can run: CRAWLEE_OK=1, or CRAWLEE_WHY says why not.
need_crawlee puppeteer-core

SITE=$WORK/site
mkdir -p "$SITE/spa/p" "$SITE/spa/api"
cat >"$SITE/spa/app.js" <<'JS'
const id = location.pathname.match(/(\d+)\.html$/)[1];
fetch('/spa/api/' + id + '.json').then(r => r.json()).then(p => {
  const box = document.createElement('div'); box.className = 'product';
  const h = document.createElement('h1'); h.className = 'title'; h.textContent = p.title;
  const price = document.createElement('span'); price.className = 'price'; price.textContent = p.price;
  box.append(h, price); document.getElementById('app').replaceChildren(box);
});
JS
for ((i = 1; i <= N; i++)); do
  printf '<!DOCTYPE html><html><body><div id="app">Loading</div><script src="/spa/app.js"></script></body></html>' \
    >"$SITE/spa/p/$i.html"
  printf '{"title":"Product %d","price":%d.99}' "$i" "$i" >"$SITE/spa/api/$i.json"
done
start_nginx "$SITE" "$WORK/nginx"
for ((i = 1; i <= N; i++)); do echo "$BASE/spa/p/$i.html"; done >"$WORK/urls.txt"

# config NAME TABS: TABS 0 = not rendered
config() {
  local render_rule="" render_pool=""
  if [[ $2 -gt 0 ]]; then
    render_rule='    render: {wait_for: .product, timeout: 15s}'
    render_pool="render: {browsers: 1, tabs_per_browser: $2}"
  fi
  cat >"$WORK/$1.yaml" <<YAML
name: $1
seeds:
  - urls_file: $WORK/urls.txt
engine: {concurrency: 16, per_host_concurrency: 16, robots_txt: ignore}
rate_limit: {per_second: 0}
state: {journal: false}
$render_pool
extract:
  - match: "/spa/p/"
    type: html
    fields:
      title: {css: h1.title, text: true}
      price: {css: .price, text: true, as: number}
    required: [title]
$render_rule
outputs:
  - {type: jsonl, path: $WORK/$1.jsonl}
YAML
}

# measure NAME COMMAND...: runs COMMAND under /usr/bin/time (output in $WORK/NAME.log), prints
# its row and sets RATE[NAME]; fails when COMMAND does.
declare -A RATE
measure() {
  local name=$1 t0 t1 pid child peak items cpu single
  shift
  t0=$(now)
  /usr/bin/time -v -o "$WORK/$name.time" "$@" >"$WORK/$name.log" 2>&1 &
  pid=$!
  sleep 0.05
  child=$(pgrep -P "$pid" | head -1 || true)
  peak=$(tree_peak_rss_kib "${child:-$pid}")
  wait "$pid" || return 1
  t1=$(now)
  items=$(wc -l <"$WORK/$name.jsonl" 2>/dev/null || echo 0)
  cpu=$(cpu_seconds "$WORK/$name.time")
  # A run shorter than one sample: the largest single process /usr/bin/time saw.
  single=$(awk -F': ' '/Maximum resident/ { print $2 }' "$WORK/$name.time")
  ((single > peak)) && peak=$single
  RATE[$name]=$(awk -v n="$N" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }')
  printf '%-12s %10s %8s %14s %14s\n' "$name" "${RATE[$name]}" "$items" \
    "$(awk -v c="$cpu" -v n="$N" 'BEGIN { printf "%.1f", 1000 * c / n }')" \
    "$(awk -v k="$peak" 'BEGIN { printf "%.0f", k / 1024 }')"
  summary "render_${name}_pages_per_second" "${RATE[$name]}"
}

printf '%-12s %10s %8s %14s %14s\n' run pages/s items "cpu ms/page" "peak RSS MiB"
for tabs in 0 $TABS; do
  name=plain
  [[ $tabs -eq 0 ]] || name=tabs$tabs
  config "$name" "$tabs"
  measure "$name" "$HARVEST" run "$WORK/$name.yaml" --progress never ||
    die "$name failed: $(tail -5 "$WORK/$name.log")"
done
for tabs in $TABS; do
  awk -v r="${RATE[tabs$tabs]}" -v p="${RATE[plain]}" -v t="$tabs" \
    'BEGIN { printf "rendered with %d tab(s) / unrendered: %.3f\n", t, r / p }'
done

if [[ $CRAWLEE_OK == 1 ]]; then
  for tabs in $TABS; do
    if ! CRAWLEE_PREFIX=$CRAWLEE_PREFIX CRAWLEE_STORAGE_DIR=$WORK/crawlee-storage \
        measure "crawlee$tabs" node "$ROOT/bench/render_crawlee.mjs" "$WORK/urls.txt" "$tabs" \
        "$WORK/crawlee$tabs.jsonl"; then
      note "Crawlee with $tabs tab(s) failed: $(tail -3 "$WORK/crawlee$tabs.log" | tr '\n' ' ')"
      continue
    fi
    awk -v h="${RATE[tabs$tabs]}" -v c="${RATE[crawlee$tabs]}" -v t="$tabs" \
      'BEGIN { printf "harvest / Crawlee PuppeteerCrawler, %d tab(s): %.3f\n", t, h / c }'
  done
else
  note "Crawlee's PuppeteerCrawler not run: $CRAWLEE_WHY"
fi
