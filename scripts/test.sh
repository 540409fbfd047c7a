#!/usr/bin/env bash
# Build Harvest and run every test through ctest; exit non-zero on any failure.
#
#   scripts/test.sh [--sanitize | --tsan]
#
#   build/       RelWithDebInfo (default)
#   build-asan/  Debug with -DHARVEST_SANITIZE=ON (ASan + UBSan), with --sanitize or
#                HARVEST_SANITIZE=1
#   build-tsan/  RelWithDebInfo with -DHARVEST_TSAN=ON (ThreadSanitizer), with --tsan; runs
#                only the tests labelled `concurrency` (the multi-threaded engine), with
#                scripts/tsan.supp, and builds only their binaries (target concurrency_tests)
#
# The sanitizer builds, and the release build under CI=true, carry line tables only (-g1): their
# reports and backtraces still name function, file and line, and a cold build takes a quarter
# less time than with full debug info. A local build/ keeps -g for gdb. The sanitizer builds
# compile each library in batches (-DHARVEST_UNITY_BUILD=ON: a cold ASan build of harvest takes
# 296 s instead of 434 s); build/ compiles one file at a time, as what ships is built, and so
# also catches a file missing an #include that its batch happens to provide.
#
# Environment: HARVEST_SKIP_DEPS=1 skips scripts/install-deps.sh; CI=true adds
# -DHARVEST_WERROR=ON; CTEST_JOBS sets ctest -j (default: two per core for build/, one per core
# for the sanitizer builds); HARVEST_KEEP_TMP=1 keeps the integration tests' temp folders. Many
# release tests wait (a backoff, a lease, a frozen Redis, a slow receiver): with one per core
# they left the CPU idle 47% of the time and took 433 s, with two 22% and 286 s. Instrumented
# tests are CPU-bound and their timings already stretched: two per core failed three of them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

usage() { sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

sanitize=${HARVEST_SANITIZE:-0}
tsan=0
for arg in "$@"; do
  case "$arg" in
    --sanitize) sanitize=1 ;;
    --tsan) tsan=1 ;;
    -h|--help) usage ;;
    *) echo "test.sh: unknown argument $arg" >&2; usage ;;
  esac
done

if [[ "${HARVEST_SKIP_DEPS:-0}" != 1 ]]; then
  scripts/install-deps.sh
fi

ctest_args=()
build_targets=()
default_jobs=$(nproc)
# RelWithDebInfo's flags with line tables only (CMake's default there is -O2 -g -DNDEBUG).
line_tables_release="-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"
if [[ "$tsan" == 1 && "$sanitize" == 1 ]]; then
  echo "test.sh: --sanitize and --tsan need separate builds; run them one after the other" >&2
  exit 2
fi
if [[ "$tsan" == 1 ]]; then
  build_dir=build-tsan
  # RelWithDebInfo: TSan's slowdown on top of -O0 would push the crawls past their timeouts.
  cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DHARVEST_TSAN=ON "$line_tables_release"
    -DHARVEST_UNITY_BUILD=ON)
  ctest_args=(-L concurrency)
  build_targets=(--target concurrency_tests)
  # Any report fails the test (exit 66); child processes (harvest, chaos_origin) inherit it.
  tsan_defaults="halt_on_error=1:second_deadlock_stack=1:suppressions=$ROOT/scripts/tsan.supp"
  export TSAN_OPTIONS=${TSAN_OPTIONS:-$tsan_defaults}
elif [[ "$sanitize" == 1 ]]; then
  build_dir=build-asan
  cmake_args=(-DCMAKE_BUILD_TYPE=Debug -DHARVEST_SANITIZE=ON -DCMAKE_CXX_FLAGS_DEBUG=-g1
    -DHARVEST_UNITY_BUILD=ON)
  # Fail on the first UBSan report and print where it came from.
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
else
  build_dir=build
  cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DHARVEST_UNITY_BUILD=OFF)
  default_jobs=$((2 * $(nproc)))
  if [[ "${CI:-}" == true ]]; then
    cmake_args+=("$line_tables_release")
  fi
fi
if [[ "${CI:-}" == true ]]; then
  cmake_args+=(-DHARVEST_WERROR=ON)
fi

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

t0=$(now)
cmake -S . -B "$build_dir" "${cmake_args[@]}"
cmake --build "$build_dir" -j"$(nproc)" "${build_targets[@]}"
t1=$(now)
echo "test.sh: build of $build_dir took $(elapsed "$t0" "$t1") s"

status=0
ctest --test-dir "$build_dir" --output-on-failure -j"${CTEST_JOBS:-$default_jobs}" \
  "${ctest_args[@]}" \
  || status=$?
t2=$(now)
echo "test.sh: build $(elapsed "$t0" "$t1") s, tests $(elapsed "$t1" "$t2") s" \
  "($build_dir, ctest exit $status)"
exit "$status"
