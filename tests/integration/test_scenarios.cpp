// Randomized crawl scenarios (scenario.hpp) checked against the crawl invariants I1-I6: a fixed
// list of seeds, plus two fresh ones per run whose seeds are printed; "scenario replay" reruns
// one seed from HARVEST_SCENARIO_SEED (scripts/scenarios.sh runs many).

#include "tests/integration/scenario.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <iostream>
#include <random>
#include <string>

namespace {

using namespace harvest::test;

#ifdef HARVEST_SANITIZED
constexpr bool small_scenarios = true;
#else
constexpr bool small_scenarios = false;
#endif

// Runs one seed and fails the test case (going on with the next seed) with every violation, the
// scenario, the replay command and the tail of harvest's log.
void check_scenario(std::uint64_t seed) {
    const scenario::scenario s = scenario::generate(seed, small_scenarios);
    temp_dir tmp("harvest-scenario-" + std::to_string(seed));
    const scenario::result r = scenario::run(s, tmp.path());
    std::cerr << "scenario " << seed << ": " << r.seconds << " s"
              << (r.stopped ? ", stopped and resumed" : "") << ", " << r.peak_fds
              << " fds at most (bound " << scenario::fd_bound(s) << "), "
              << (r.violations.empty() ? "clean"
                                       : std::to_string(r.violations.size()) + " violation(s)")
              << "\n";
    if (!r.violations.empty()) {
        FAIL_CHECK(scenario::report(seed, r) << scenario::describe(s) << "replay: "
                                             << scenario::replay_command(seed) << "\nharvest log:\n"
                                             << r.harvest_log);
    } else {
        SUCCEED("scenario " << seed << " kept every invariant");
    }
}

// Seeds chosen to cover the mix quickly (about 2 minutes in a release build): SIGTERM and
// SIGKILL with --resume (1009, 1012, 1023, 1035, 5), engine.max_requests with a kill (5),
// robots.txt answering 503 (1011), Crawl-delay (3), and seeds that failed once, pinned as
// regressions:
//   1030  I3: 47 URLs whose first answer fails ahead of 184 good ones on one host (the issue's
//         "30 bad then 1,200 good"); the half-open probes took the next fresh requests, all
//         bad, so the breaker never closed and give_up_after failed 232 requests as
//         circuit_open, 184 of them good. Fixed by drawing probes at random from the host's
//         queue (frontier::probe_candidate).
// Each failure found and fixed gets its seed pinned here (scripts/scenarios.sh finds them; 2002,
// a stop and --resume whose resumed tail gave a host up, fixed by the journal's failed-once
// mark, takes 30 s and is replayed there rather than in every CI run).
// Network shards (engine.network_threads > 1, each host on one shard): 1002 runs 2 hosts on 2
// shards, 2044 runs 3 hosts on 2 (one shard holds two), 1046917625 runs 2 hosts on 3 (one shard
// idle).
constexpr std::uint64_t fixed_seeds[] = {1000, 1002, 1006, 1009, 1011, 1012, 1023,
                                         1029, 1035, 3,    5,    1030, 2044, 1046917625};

}  // namespace

TEST_CASE("randomized scenarios keep the crawl invariants: fixed seeds",
          "[integration][scenario]") {
    for (const auto seed : fixed_seeds) {
        check_scenario(seed);
    }
}

TEST_CASE("randomized scenarios keep the crawl invariants: two fresh seeds",
          "[integration][scenario]") {
    std::random_device device;
    for (int i = 0; i < 2; ++i) {
        const std::uint64_t seed = (std::uint64_t{device()} << 20) ^ device();
        std::cerr << "fresh scenario seed " << seed
                  << " (replay: " << scenario::replay_command(seed) << ")\n";
        check_scenario(seed);
    }
}

// HARVEST_SCENARIO_SEED=N build/tests/integration_tests "scenario replay": one seed, with its
// description printed first. Hidden: it needs the variable.
TEST_CASE("scenario replay", "[.][scenario-replay]") {
    const char* text = std::getenv("HARVEST_SCENARIO_SEED");
    REQUIRE(text != nullptr);
    const std::uint64_t seed = std::strtoull(text, nullptr, 10);
    std::cerr << scenario::describe(scenario::generate(seed, small_scenarios));
    check_scenario(seed);
}
