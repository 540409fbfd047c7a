#pragma once
// Helpers of the frontier's unit tests (frontier_test.cpp, spill_test.cpp).

#include "engine/crawl/frontier.hpp"

namespace frontier_support {

// The attempt of `taken` answered 500: its host's guard hears a failure of a fresh request.
inline void fail_attempt(const harvest::crawl::taken_request& taken,
                         std::chrono::steady_clock::time_point now) {
    harvest::resilience::attempt_outcome outcome;
    outcome.status = 500;
    bool failed_before = false;
    taken.host->guard.record(taken.permit, outcome, failed_before, now);
}

}  // namespace frontier_support
