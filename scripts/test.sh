#!/usr/bin/env bash
# Build Harvest and run every test through ctest; exit non-zero on any failure.
#
#   scripts/test.sh [--sanitize]
#
#   build/       RelWithDebInfo (default)
#   build-asan/  Debug with -DHARVEST_SANITIZE=ON (ASan + UBSan), with --sanitize or
#                HARVEST_SANITIZE=1
#
# Environment: HARVEST_SKIP_DEPS=1 skips scripts/install-deps.sh; CI=true adds
# -DHARVEST_WERROR=ON; CTEST_JOBS (default 2) sets ctest -j; HARVEST_KEEP_TMP=1 keeps the
# integration tests' temp folders.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

sanitize=${HARVEST_SANITIZE:-0}
for arg in "$@"; do
  case "$arg" in
    --sanitize) sanitize=1 ;;
    -h|--help) usage ;;
    *) echo "test.sh: unknown argument $arg" >&2; usage ;;
  esac
done

if [[ "${HARVEST_SKIP_DEPS:-0}" != 1 ]]; then
  scripts/install-deps.sh
fi

if [[ "$sanitize" == 1 ]]; then
  build_dir=build-asan
  cmake_args=(-DCMAKE_BUILD_TYPE=Debug -DHARVEST_SANITIZE=ON)
  # Fail on the first UBSan report and print where it came from.
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
else
  build_dir=build
  cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
fi
if [[ "${CI:-}" == true ]]; then
  cmake_args+=(-DHARVEST_WERROR=ON)
fi

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

t0=$(now)
cmake -S . -B "$build_dir" "${cmake_args[@]}"
cmake --build "$build_dir" -j"$(nproc)"
t1=$(now)
echo "test.sh: build of $build_dir took $(elapsed "$t0" "$t1") s"

status=0
ctest --test-dir "$build_dir" --output-on-failure -j"${CTEST_JOBS:-2}" || status=$?
t2=$(now)
echo "test.sh: build $(elapsed "$t0" "$t1") s, tests $(elapsed "$t1" "$t2") s" \
  "($build_dir, ctest exit $status)"
exit "$status"
