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
# run: pages/s, items, CPU milliseconds per page (harvest and every Chromium process, from
# /usr/bin/time: the browsers are its reaped descendants) and the peak RSS of harvest and its
# browsers together (sampled from /proc every 100 ms), then each rendered run's pages/s as a
# ratio of the unrendered run's. Crawlee's PuppeteerCrawler is not run (it needs Node.js
# packages from outside Debian). Not part of ctest.
set -euo pipefail

BENCH_NAME=render_bench
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

N=200 TABS="1 2 4"
while getopts "n:t:h" o; do
  case $o in
    n) N=$OPTARG ;; t) TABS=$OPTARG ;;
    *) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done

HARVEST=${HARVEST_BIN:-$ROOT/build-release/cli/harvest}
[[ "${HARVEST_SKIP_DEPS:-0}" == 1 ]] || scripts/install-deps.sh
build_release_harvest
[[ -x "$HARVEST" ]] || die "no harvest binary at $HARVEST"
[[ -x /usr/bin/chromium ]] || die "no /usr/bin/chromium (scripts/install-deps.sh installs it)"
need_time
WORKLOAD=""   # start_nginx: the repository's own serve.sh

WORK=$(mktemp -d "${TMPDIR:-/tmp}/harvest-render-bench.XXXXXX")
cleanup() { stop_nginx "$WORK/nginx"; rm -rf "$WORK"; }
trap cleanup EXIT

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

# Peak RSS (KiB) of process $1 and all its descendants, sampled until it exits.
watch_rss() {
  local root=$1 peak=0
  while kill -0 "$root" 2>/dev/null; do
    local total
    total=$(ps -e -o pid=,ppid=,rss= | awk -v root="$root" '
      { parent[$1] = $2; rss[$1] = $3 }
      END {
        for (p in parent) { q = p; while (q != "" && q != root && q != 1 && q != 0) q = parent[q];
          if (q == root) sum += rss[p] }
        print sum + 0 }')
    ((total > peak)) && peak=$total
    sleep 0.1
  done
  echo "$peak"
}

printf '%-12s %10s %8s %14s %14s\n' run pages/s items "cpu ms/page" "peak RSS MiB"
declare -A RATE
for tabs in 0 $TABS; do
  name=plain
  [[ $tabs -eq 0 ]] || name=tabs$tabs
  config "$name" "$tabs"
  t0=$(now)
  /usr/bin/time -v -o "$WORK/$name.time" "$HARVEST" run "$WORK/$name.yaml" --progress never \
    >/dev/null 2>"$WORK/$name.log" &
  pid=$!
  sleep 0.05
  harvest_pid=$(pgrep -P "$pid" | head -1 || true)
  peak=$(watch_rss "${harvest_pid:-$pid}")
  wait "$pid" || die "$name failed: $(tail -5 "$WORK/$name.log")"
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
done
for tabs in $TABS; do
  awk -v r="${RATE[tabs$tabs]}" -v p="${RATE[plain]}" -v t="$tabs" \
    'BEGIN { printf "rendered with %d tab(s) / unrendered: %.3f\n", t, r / p }'
done
