#!/usr/bin/env bash
# The long run of the randomized crawl scenarios (tests/integration/scenario.hpp): N scenarios
# with the seeds START, START+1, ..., each through the "scenario replay" test case, one at a
# time. Prints each seed that breaks an invariant with its one-line replay command, then the
# violations counted by invariant; exits 1 when there was any.
#
#   scripts/scenarios.sh [N [START]]      N defaults to 100, START to a random number
#
# BUILD (default build/) is the build folder holding tests/integration_tests; build it first
# (cmake --build build --target integration_tests chaos_origin harvest). The output of every
# failing seed is kept in .harvest/scenarios/<seed>.log.

set -u
cd "$(dirname "$0")/.."

count=${1:-100}
start=${2:-$(( (RANDOM << 15 | RANDOM) ))}
build=${BUILD:-build}
binary="$build/tests/integration_tests"
per_seed_limit=${SCENARIO_TIMEOUT:-900}  # seconds; the harness bounds each run itself

if [[ ! -x "$binary" ]]; then
    echo "scenarios.sh: $binary not found; build the integration_tests target first" >&2
    exit 2
fi
mkdir -p .harvest/scenarios
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT

echo "running $count scenarios, seeds $start..$((start + count - 1))"
began=$(date +%s)
failed=0
for ((i = 0; i < count; i++)); do
    seed=$((start + i))
    log=".harvest/scenarios/$seed.log"
    HARVEST_SCENARIO_SEED=$seed timeout "$per_seed_limit" "$binary" "scenario replay" >"$log" 2>&1
    status=$?
    took=$(grep -oE "^scenario $seed: [0-9.]+ s[^,]*(, stopped and resumed)?(, [0-9]+ fds at most \(bound [0-9]+\))?" "$log" | head -1)
    if [[ $status -eq 0 ]]; then
        echo "${took:-scenario $seed: clean}, clean"
        rm -f "$log"
        continue
    fi
    failed=$((failed + 1))
    # Violation lines as the harness prints them: "scenario SEED: INVARIANT: detail".
    violations=$(grep -oE "^ *scenario $seed: I[0-9] [a-z-]+" "$log" | sed -E 's/^ *scenario [0-9]+: //')
    if [[ -z "$violations" ]]; then
        violations="harness error (exit $status)"
    fi
    echo "$violations" | sort -u | while read -r kind; do echo "$kind" >>"$summary"; done
    echo "seed $seed: $(echo "$violations" | sort | uniq -c | tr -s ' ' | tr '\n' ';')"
    echo "  replay: HARVEST_SCENARIO_SEED=$seed $binary \"scenario replay\"   (log: $log)"
done
elapsed=$(($(date +%s) - began))
echo "$count scenarios in ${elapsed}s: $((count - failed)) clean, $failed with violations"
if [[ $failed -gt 0 ]]; then
    echo "seeds with a violation, by invariant:"
    sort "$summary" | uniq -c | sort -rn
    exit 1
fi
