#pragma once
// Per-host retry budget (retry.budget in config.md): within a sliding window, retries sent
// <= ratio * requests + min_per_second * window. Over budget, a retry waits in the frontier
// instead of being sent, so a failing host is not hammered by retries on top of its load.
//
// Memory is bounded: counts live in `bucket_count` time buckets of window/bucket_count each
// (1 s for the default 10 s window), in a ring. The window therefore slides in bucket steps.
// Not thread-safe: one host's budget is touched from one place at a time.

#include "engine/resilience/clock.hpp"

#include <array>
#include <cstdint>

namespace harvest::resilience {

class retry_budget {
  public:
    static constexpr std::size_t bucket_count = 10;

    retry_budget(double ratio, double min_per_second,
                 clock::duration window = std::chrono::seconds(10));

    // A request that is not a retry was sent (first attempts build the budget; counting
    // retries too would let retries fund themselves).
    void on_request(clock::time_point now);

    // May a retry be sent now? If so it is counted.
    [[nodiscard]] bool try_spend(clock::time_point now);

    // Retries that may still be sent at `now` (floor), for metrics and tests.
    [[nodiscard]] double available(clock::time_point now) const;

  private:
    struct bucket {
        std::int64_t index = -1;  // which time bucket this slot holds; stale when old
        std::uint64_t requests = 0;
        std::uint64_t retries = 0;
    };

    std::int64_t bucket_index(clock::time_point now) const;
    bucket& current(clock::time_point now);

    double ratio_;
    double min_per_window_;
    clock::duration width_;
    std::array<bucket, bucket_count> ring_{};
};

}  // namespace harvest::resilience
