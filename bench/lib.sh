# Shared helpers of the bench/*.sh scripts; sourced, never run. Bash only.
#
#   BENCH_NAME=fetch_bench; source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Sets ROOT (the repository) and SUDO, and defines:
#   die MSG / note MSG             message on stderr prefixed with BENCH_NAME (die exits 1)
#   apt_install PKG...             Debian packages, never their recommends (see TOOLCHAIN.md)
#   need_time                      /usr/bin/time (Debian's `time`), installed when missing
#   need_crawlee [PKG...]          the Crawlee peer: crawlee@3.18.1 (and PKG...) installed with
#                                  npm into CRAWLEE_PREFIX (default ${TMPDIR:-/tmp}/harvest-
#                                  crawlee, outside the repository; no browser download); sets
#                                  CRAWLEE_OK=1, or CRAWLEE_OK=0 and CRAWLEE_WHY (CRAWLEE=0 skips)
#   bench_workload                 WORKLOAD = ../shared/workload next to the repository, or ""
#                                  when absent (BENCH_WORKLOAD overrides; BENCH_WORKLOAD=none)
#   wrk_urls_script DIR            the wrk script that cycles through a URL list (its paths):
#                                  the workload's peers/wrk_urls.lua, or, without the workload,
#                                  the same idea written to DIR/urls.lua; prints its path
#   build_release_harvest          build-release/cli/harvest (Release, no tests), built when
#                                  missing or stale, unless HARVEST_BIN is set
#   build_debug_targets TARGET...  build/ (RelWithDebInfo) targets, built when missing
#   make_catalog SITE N            the catalog of N products in SITE, generated once (.complete
#                                  holds N); dies when SITE holds another size
#   start_nginx SITE RUN_DIR       nginx on a free loopback port serving SITE: sets SERVE, PORT,
#                                  BASE; stop_nginx RUN_DIR stops it (safe when not running)
#   make_tls_certs DIR             a throwaway CA (DIR/ca.pem) and a certificate for 127.0.0.1
#                                  and localhost signed by it (DIR/server.pem, DIR/server.key)
#   start_nginx_h2 SITE RUN_DIR CERT_DIR
#                                  nginx (one worker) serving SITE over TLS with HTTP/2 on a
#                                  free loopback port, CERT_DIR from make_tls_certs: sets PORT,
#                                  BASE (https://); stop_nginx_h2 RUN_DIR stops it
#   now / rate N T0 T1             wall clock, and N / (T1 - T0) rounded
#   smaller OLD NEW / ratio A B    the smaller number (OLD may be empty); A / B, two decimals
#   peak_rss_mib TIME_FILE         peak RSS in MiB (one decimal) from `/usr/bin/time -v -o FILE`
#   cpu_seconds TIME_FILE          user + system seconds from `/usr/bin/time -v -o FILE`
#   summary KEY VALUE              KEY=VALUE appended to $BENCH_SUMMARY when set (for all.sh)
#   json_crawl_setup N             the prologue of a crawl over the product JSON documents:
#                                  Debian deps (unless HARVEST_SKIP_DEPS=1), harvest (HARVEST:
#                                  build-release, or HARVEST_BIN), the catalog of N products
#                                  (SITE; BENCH_SITE overrides), a WORK folder removed at exit,
#                                  nginx serving SITE (BASE), WORK/urls.txt with URLS lines.
#                                  A script that starts more (a proxy) sets BENCH_ON_EXIT to the
#                                  command that stops it
#   bench_harvest                  HARVEST = HARVEST_BIN or build-release/cli/harvest: deps
#                                  installed (unless HARVEST_SKIP_DEPS=1), built, checked
#   bench_workdir PREFIX           WORK = a fresh temp folder, removed (its nginx stopped) on exit
#   bench_extract_rule json|html   the `extract:` entry of the product crawls: json, the product
#                                  fields of the JSON documents; html, the page's JSON-LD Product
#   bench_crawl_yaml NAME URLS_FILE OUTPUT KIND CONCURRENCY [ENGINE_LINE...]
#                                  a crawl config on stdout: the seeds of URLS_FILE, CONCURRENCY
#                                  in all and per host, robots.txt ignored, no rate limit, the
#                                  KIND rule, JSON lines to OUTPUT; each ENGINE_LINE (e.g.
#                                  "threads: 1") joins engine:. Sections to add go after it
#   tree_peak_rss_kib PID          peak RSS (KiB) of PID and its descendants together, sampled
#                                  every 100 ms until PID exits
# Not part of ctest.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SUDO=()
[[ $(id -u) -eq 0 ]] || SUDO=(sudo)

die() { echo "${BENCH_NAME:-bench}: $*" >&2; exit 1; }
note() { echo "${BENCH_NAME:-bench}: $*" >&2; }

apt_install() {   # only ever Debian packages, never their recommends (see TOOLCHAIN.md)
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1 || {
    "${SUDO[@]}" apt-get update -q >/dev/null 2>&1 &&
      "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1
  }
}

need_time() {
  [[ -x /usr/bin/time ]] || apt_install time || die "cannot install Debian 'time' (/usr/bin/time)"
}

need_crawlee() {
  CRAWLEE_PREFIX=${CRAWLEE_PREFIX:-${TMPDIR:-/tmp}/harvest-crawlee}
  CRAWLEE_OK=0 CRAWLEE_WHY=""
  if [[ "${CRAWLEE:-1}" == 0 ]]; then
    CRAWLEE_WHY="CRAWLEE=0"
    return 0
  fi
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    CRAWLEE_WHY="node and npm are not installed (Debian's nodejs and npm)"
    return 0
  fi
  local pkg missing=0
  for pkg in crawlee "$@"; do
    [[ -f "$CRAWLEE_PREFIX/node_modules/$pkg/package.json" ]] || missing=1
  done
  if [[ $missing == 0 ]]; then
    CRAWLEE_OK=1
    return 0
  fi
  note "installing crawlee@3.18.1 $* into $CRAWLEE_PREFIX (no browser download)"
  mkdir -p "$CRAWLEE_PREFIX"
  if PUPPETEER_SKIP_DOWNLOAD=1 npm install --prefix "$CRAWLEE_PREFIX" --no-audit --no-fund \
      crawlee@3.18.1 "$@" >"$CRAWLEE_PREFIX/install.log" 2>&1; then
    CRAWLEE_OK=1
  else
    CRAWLEE_WHY="npm install failed: $(tail -3 "$CRAWLEE_PREFIX/install.log" | tr '\n' ' ')"
  fi
}

bench_workload() {
  WORKLOAD=${BENCH_WORKLOAD:-$(cd "$ROOT/.." && pwd)/shared/workload}
  [[ -f "$WORKLOAD/gen_catalog.py" && -x "$WORKLOAD/serve.sh" ]] || WORKLOAD=""
}

# The same ccache settings as every worktree, so a build here hits what the others compiled.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(cd "$ROOT/.." && pwd)} CCACHE_NOHASHDIR=true

wrk_urls_script() {   # wrk_urls_script DIR -> path (bench_workload first)
  if [[ -n "${WORKLOAD:-}" ]]; then
    echo "$WORKLOAD/peers/wrk_urls.lua"
    return
  fi
  cat >"$1/urls.lua" <<'LUA'
function init(args)
  reqs = {}
  for line in io.lines(args[1]) do
    reqs[#reqs + 1] = wrk.format("GET", line:match("^https?://[^/]+(/.*)$") or line)
  end
  idx = 0
end
function request() idx = idx % #reqs + 1; return reqs[idx] end
LUA
  echo "$1/urls.lua"
}

build_release_harvest() {
  [[ -z "${HARVEST_BIN:-}" ]] || return 0
  [[ -f "$ROOT/build-release/CMakeCache.txt" ]] ||
    cmake -S "$ROOT" -B "$ROOT/build-release" -DCMAKE_BUILD_TYPE=Release \
      -DHARVEST_BUILD_TESTS=OFF >/dev/null
  cmake --build "$ROOT/build-release" --target harvest -j"$(nproc)" >/dev/null ||
    die "build failed"
}

build_debug_targets() {
  [[ -f "$ROOT/build/CMakeCache.txt" ]] ||
    cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$ROOT/build" --target "$@" -j"$(nproc)" >/dev/null || die "build failed"
}

make_catalog() {   # make_catalog SITE N (WORKLOAD from bench_workload)
  local site=$1 n=$2
  if [[ ! -f "$site/.complete" ]]; then
    rm -rf "$site"
    if [[ -n "$WORKLOAD" ]]; then
      note "generating $n products with $WORKLOAD/gen_catalog.py into $site"
      python3 "$WORKLOAD/gen_catalog.py" "$site" -n "$n" --seed 1 -j "$(nproc)" >/dev/null
    else
      note "../shared/workload not found; generating with tests/fixtures/gen_catalog.py"
      python3 "$ROOT/tests/fixtures/gen_catalog.py" "$site" -n "$n" --seed 1 --gzip-fraction 0
    fi
    echo "$n" >"$site/.complete"
  fi
  [[ "$(cat "$site/.complete")" == "$n" ]] ||
    die "$site holds $(cat "$site/.complete") products, not $n: remove it or choose another folder"
}

start_nginx() {   # start_nginx SITE RUN_DIR (ACCESS_LOG and NGINX_WORKERS pass through)
  SERVE=$ROOT/tests/fixtures/serve.sh
  [[ -z "$WORKLOAD" ]] || SERVE=$WORKLOAD/serve.sh
  PORT=$("$ROOT/tests/fixtures/serve.sh" free-port)
  "$SERVE" start "$1" "$PORT" "$2" >/dev/null 2>&1 || die "nginx did not start"
  BASE=http://127.0.0.1:$PORT
}

stop_nginx() { [[ -z "${SERVE:-}" ]] || "$SERVE" stop "$1" >/dev/null 2>&1 || true; }

make_tls_certs() {   # make_tls_certs DIR (EC P-256, two days)
  local d=$1
  mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=bench-ca -keyout "$d/ca.key" -out "$d/ca.pem" >/dev/null 2>&1 &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
      -keyout "$d/server.key" -out "$d/server.csr" >/dev/null 2>&1 &&
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/san.ext" &&
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
      -CAcreateserial -days 2 -extfile "$d/san.ext" -out "$d/server.pem" >/dev/null 2>&1 ||
    die "openssl could not make the test certificates"
}

start_nginx_h2() {   # start_nginx_h2 SITE RUN_DIR CERT_DIR
  local site=$1 run=$2 certs=$3 user_line=""
  PORT=$("$ROOT/tests/fixtures/serve.sh" free-port)
  mkdir -p "$run/tmp"
  [[ $(id -u) -ne 0 ]] || user_line="user root;"
  cat >"$run/nginx.conf" <<CONF
$user_line
worker_processes 1;
pid $run/nginx.pid;
error_log $run/error.log warn;
events { worker_connections 4096; }
http {
  types { text/html html; application/json json; }
  default_type application/octet-stream;
  client_body_temp_path $run/tmp/body;
  proxy_temp_path $run/tmp/proxy;
  fastcgi_temp_path $run/tmp/fastcgi;
  uwsgi_temp_path $run/tmp/uwsgi;
  scgi_temp_path $run/tmp/scgi;
  access_log off;
  keepalive_requests 1000000;
  http2_max_concurrent_streams 128;
  server {
    listen 127.0.0.1:$PORT ssl http2;
    ssl_certificate $certs/server.pem;
    ssl_certificate_key $certs/server.key;
    root $site;
    location / { try_files \$uri =404; }
  }
}
CONF
  nginx -p "$run" -c "$run/nginx.conf" -e "$run/error.log" || die "nginx did not start"
  local _
  for _ in $(seq 100); do
    curl -skf -o /dev/null "https://127.0.0.1:$PORT/robots.txt" && break
    sleep 0.1
  done
  BASE=https://127.0.0.1:$PORT
}

stop_nginx_h2() {   # stop_nginx_h2 RUN_DIR (safe when not running)
  [[ -f "$1/nginx.pid" ]] || return 0
  kill -QUIT "$(cat "$1/nginx.pid")" 2>/dev/null || true
  local _
  for _ in $(seq 50); do [[ -f "$1/nginx.pid" ]] || return 0; sleep 0.1; done
}

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }

smaller() { if [[ -z "$1" ]]; then echo "$2"; else awk -v a="$1" -v b="$2" 'BEGIN { print (b < a ? b : a) }'; fi; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }'; }

peak_rss_mib() { awk -F': ' '/Maximum resident/ { printf "%.1f", $2 / 1024 }' "$1"; }
cpu_seconds() { awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$1"; }

# summary KEY VALUE: a `KEY=VALUE` line appended to $BENCH_SUMMARY when set, so bench/all.sh
# reads figures without parsing the printed tables.
summary() { [[ -z "${BENCH_SUMMARY:-}" ]] || echo "$1=$2" >>"$BENCH_SUMMARY"; }

# json_crawl_setup N: see above. Sets WORKLOAD, SITE, HARVEST, WORK, BASE, URLS.
bench_on_exit() {
  [[ -z "${BENCH_ON_EXIT:-}" ]] || eval "$BENCH_ON_EXIT" || true
  stop_nginx "$WORK/nginx"
  rm -rf "$WORK"
}
json_crawl_setup() {
  bench_workload   # BENCH_WORKLOAD=none: the fallback generator of tests/fixtures
  SITE=${BENCH_SITE:-$ROOT/.harvest/bench-site}
  bench_harvest
  make_catalog "$SITE" "$1"
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/harvest-${BENCH_NAME:-bench}.XXXXXX")
  trap bench_on_exit EXIT
  start_nginx "$SITE" "$WORK/nginx"
  sed "s#.*#$BASE/api/products/&.json#" "$SITE/asins.txt" >"$WORK/urls.txt"
  URLS=$(wc -l <"$WORK/urls.txt")
}

bench_harvest() {
  HARVEST=${HARVEST_BIN:-$ROOT/build-release/cli/harvest}
  [[ "${HARVEST_SKIP_DEPS:-0}" == 1 ]] || "$ROOT/scripts/install-deps.sh"
  build_release_harvest
  [[ -x "$HARVEST" ]] || die "no harvest binary at $HARVEST"
}

bench_workdir() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  trap 'stop_nginx "$WORK/nginx"; rm -rf "$WORK"' EXIT
}

bench_extract_rule() {   # bench_extract_rule json|html|dom
  case $1 in
    json) cat <<'YAML' ;;
  - match: "/api/products/"
    type: json
    fields:
      id: /asin
      title: /title
      price: {pointer: /price, as: number}
      currency: /currency
      availability: {pointer: /availability, as: availability}
    required: [id]
YAML
    html) cat <<'YAML' ;;
  - match: "/p/"
    type: jsonld
    schema: Product
YAML
    dom) cat <<'YAML' ;;
  - match: "/p/"
    type: html
    fields:
      title: {css: "h1#title", text: true}
      price: {css: "span.price", text: true, as: price}
      list_price: {css: ".list-price", text: true, as: price}
      image: {css: "img", attribute: src}
YAML
    *) die "no extract rule for '$1' (json, html or dom)" ;;
  esac
}

bench_crawl_yaml() {   # bench_crawl_yaml NAME URLS_FILE OUTPUT KIND CONCURRENCY [ENGINE_LINE...]
  local name=$1 urls=$2 output=$3 kind=$4 concurrency=$5 rule engine="" line
  shift 5
  for line in "$@"; do engine+="  $line"$'\n'; done
  rule=$(bench_extract_rule "$kind") || exit 1
  cat <<YAML
name: $name
seeds:
  - urls_file: $urls
engine:
  concurrency: $concurrency
  per_host_concurrency: $concurrency
${engine}  robots_txt: ignore
rate_limit:
  per_second: 0
extract:
$rule
outputs:
  - type: jsonl
    path: $output
YAML
}

tree_peak_rss_kib() {
  local root=$1 peak=0 total
  while kill -0 "$root" 2>/dev/null; do
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
