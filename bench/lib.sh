# Shared helpers of the bench/*.sh scripts; sourced, never run. Bash only.
#
#   BENCH_NAME=fetch_bench; source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Sets ROOT (the repository) and SUDO, and defines:
#   die MSG / note MSG             message on stderr prefixed with BENCH_NAME (die exits 1)
#   apt_install PKG...             Debian packages, never their recommends (see TOOLCHAIN.md)
#   need_time                      /usr/bin/time (Debian's `time`), installed when missing
#   bench_workload                 WORKLOAD = ../shared/workload next to the repository, or ""
#                                  when absent (BENCH_WORKLOAD overrides; BENCH_WORKLOAD=none)
#   build_release_harvest          build-release/cli/harvest (Release, no tests), built when
#                                  missing or stale, unless HARVEST_BIN is set
#   build_debug_targets TARGET...  build/ (RelWithDebInfo) targets, built when missing
#   make_catalog SITE N            the catalog of N products in SITE, generated once (.complete
#                                  holds N); dies when SITE holds another size
#   start_nginx SITE RUN_DIR       nginx on a free loopback port serving SITE: sets SERVE, PORT,
#                                  BASE; stop_nginx RUN_DIR stops it (safe when not running)
#   now / rate N T0 T1             wall clock, and N / (T1 - T0) rounded
#   peak_rss_mib TIME_FILE         peak RSS in MiB (one decimal) from `/usr/bin/time -v -o FILE`
#   cpu_seconds TIME_FILE          user + system seconds from `/usr/bin/time -v -o FILE`
#   summary KEY VALUE              KEY=VALUE appended to $BENCH_SUMMARY when set (for all.sh)
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

bench_workload() {
  WORKLOAD=${BENCH_WORKLOAD:-$(cd "$ROOT/.." && pwd)/shared/workload}
  [[ -f "$WORKLOAD/gen_catalog.py" && -x "$WORKLOAD/serve.sh" ]] || WORKLOAD=""
}

# The same ccache settings as every worktree, so a build here hits what the others compiled.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(cd "$ROOT/.." && pwd)} CCACHE_NOHASHDIR=true

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

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }

peak_rss_mib() { awk -F': ' '/Maximum resident/ { printf "%.1f", $2 / 1024 }' "$1"; }
cpu_seconds() { awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$1"; }

# summary KEY VALUE: a `KEY=VALUE` line appended to $BENCH_SUMMARY when set, so bench/all.sh
# reads figures without parsing the printed tables.
summary() { [[ -z "${BENCH_SUMMARY:-}" ]] || echo "$1=$2" >>"$BENCH_SUMMARY"; }
