#!/usr/bin/env bash
# Build the libFuzzer targets (tests/fuzz) with clang 14 and run each for a bounded time.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
#   SECONDS  time per target (default: $HARVEST_FUZZ_SECONDS, else 30)
#   TARGET   names without the fuzz_ prefix (default: every target in tests/fuzz/corpus)
#
# Builds build-fuzz/ (RelWithDebInfo, -DHARVEST_FUZZ=ON, clang++-14, ASan+UBSan+libFuzzer).
# Each target runs on a COPY of its seed corpus tests/fuzz/corpus/<name>/ in a temp folder (the
# checked-in corpus is never modified), with -max_total_time=SECONDS -timeout=10
# -rss_limit_mb=2048, HARVEST_FUZZ_PARALLEL targets at a time (default: one per core). Prints
# each target's exec count and exec/s. Exits non-zero when a target crashes (or leaks, times out,
# runs out of memory), printing the crashing input's path; crash inputs are kept under the temp
# folder, whose path is printed.
# Environment: HARVEST_SKIP_DEPS=1 skips scripts/install-deps.sh; HARVEST_FUZZ_JOBS (default 2)
# sets the build's -j; HARVEST_FUZZ_SEED sets libFuzzer's -seed, so a run mutates the same inputs
# in the same order each time (CI fixes it; unset, each run draws its own seed and explores
# further).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

usage() { sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

seconds=${HARVEST_FUZZ_SECONDS:-30}
if [[ -n "${HARVEST_FUZZ_SEED:-}" && ! "$HARVEST_FUZZ_SEED" =~ ^[0-9]+$ ]]; then
  echo "fuzz.sh: HARVEST_FUZZ_SEED must be a number, got $HARVEST_FUZZ_SEED" >&2
  exit 2
fi
targets=()
for arg in "$@"; do
  case "$arg" in
    -h|--help) usage ;;
    ''|*[!0-9]*) targets+=("$arg") ;;
    *) seconds=$arg ;;
  esac
done
if ! [[ "$seconds" =~ ^[0-9]+$ && "$seconds" -gt 0 ]]; then
  echo "fuzz.sh: bad SECONDS $seconds" >&2
  usage
fi
if [[ ${#targets[@]} -eq 0 ]]; then
  for dir in tests/fuzz/corpus/*/; do
    targets+=("$(basename "$dir")")
  done
fi
for t in "${targets[@]}"; do
  if [[ ! -f "tests/fuzz/fuzz_$t.cpp" ]]; then
    echo "fuzz.sh: no target tests/fuzz/fuzz_$t.cpp" >&2
    exit 2
  fi
done

if [[ "${HARVEST_SKIP_DEPS:-0}" != 1 ]]; then
  scripts/install-deps.sh
fi

build_dir=build-fuzz
# Line tables only (-g1): a crash's stack still names file and line; the build is quicker.
# One file at a time (no unity build), as the libFuzzer targets' libraries ship.
cmake -S . -B "$build_dir" -DCMAKE_CXX_COMPILER=clang++-14 -DHARVEST_FUZZ=ON \
  -DHARVEST_UNITY_BUILD=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" >/dev/null
cmake --build "$build_dir" -j"${HARVEST_FUZZ_JOBS:-2}" --target "${targets[@]/#/fuzz_}"

work=$(mktemp -d "${TMPDIR:-/tmp}/harvest-fuzz.XXXXXX")
echo "fuzz.sh: ${#targets[@]} targets x ${seconds} s, work folder $work"
# Leaks are real bugs too, but libFuzzer reports them as crashes: keep detection on.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# One target's run: its summary line goes to $work/$t/result, a failure's details to stderr.
fuzz_one() {
  local t=$1 corpus="$work/$1/corpus" artifacts="$work/$1/artifacts/" log="$work/$1/fuzz.log"
  local rc=0 execs rate line crash
  "$build_dir/tests/fuzz/fuzz_$t" "$corpus" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="$artifacts" -print_final_stats=1 \
    ${HARVEST_FUZZ_SEED:+-seed="$HARVEST_FUZZ_SEED"} >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
  line="fuzz_$t: ${execs:-?} execs, ${rate:-?} exec/s, corpus $(ls "$corpus" | wc -l) files"
  if [[ $rc -ne 0 ]]; then
    crash=$(ls -1 "$artifacts" 2>/dev/null | head -n1)
    line="$line: FAILED (exit $rc)${crash:+, input $artifacts$crash}"
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -n 5 >&2 || true
    echo "fuzz.sh: full log $log" >&2
  fi
  echo "$line" >"$work/$t/result"
  echo "$line"
}

# Targets run `parallel` at a time, each on one core (libFuzzer runs one process per target).
parallel=${HARVEST_FUZZ_PARALLEL:-$(nproc)}
if ! [[ "$parallel" =~ ^[0-9]+$ && "$parallel" -gt 0 ]]; then
  echo "fuzz.sh: HARVEST_FUZZ_PARALLEL must be a positive number, got $parallel" >&2
  exit 2
fi
running=0
for t in "${targets[@]}"; do
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  if [[ -d "tests/fuzz/corpus/$t" ]]; then
    cp -r "tests/fuzz/corpus/$t/." "$work/$t/corpus/"
  fi
  if [[ $running -ge $parallel ]]; then
    wait -n || true
    running=$((running - 1))
  fi
  echo "fuzz.sh: fuzz_$t for ${seconds} s"
  fuzz_one "$t" &
  running=$((running + 1))
done
wait || true

failed=()
summary=()
for t in "${targets[@]}"; do
  line=$(cat "$work/$t/result" 2>/dev/null || echo "fuzz_$t: no result")
  summary+=("$line")
  if [[ "$line" != *" files" ]]; then
    failed+=("$t")
  fi
done

echo "fuzz.sh: summary"
printf '  %s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz.sh: FAILED: ${failed[*]} (inputs and logs under $work)" >&2
  exit 1
fi
rm -rf "$work"
echo "fuzz.sh: no crashes"
