#pragma once
// Delay before a retry, by strategy (retry.backoff in config.md). Pure: the random generator is
// passed in, so a fixed seed gives a fixed sequence.
//
//   full_jitter:         uniform[0, cap(n)]
//   equal_jitter:        cap(n)/2 + uniform[0, cap(n)/2]
//   decorrelated_jitter: min(max, uniform[base, 3 * previous])   (previous 0 = base)
//   none:                cap(n)
// with cap(n) = min(max, base * 2^(n-1)), computed without overflow for any n.

#include "engine/resilience/clock.hpp"
#include "engine/resilience/options.hpp"

#include <random>

namespace harvest::resilience {

class backoff {
  public:
    explicit backoff(backoff_options options);

    // retry_number: 1 = the first retry (0 = no retry yet, delay 0). previous_delay: the delay
    // chosen before the previous retry (decorrelated jitter only).
    [[nodiscard]] clock::duration delay(unsigned retry_number, clock::duration previous_delay,
                                        std::mt19937_64& rng) const;

    // min(max, base * 2^(n-1)); 0 for n = 0.
    clock::duration cap(unsigned retry_number) const;

    const backoff_options& options() const { return options_; }

  private:
    backoff_options options_;
    std::int64_t base_ns_;
    std::int64_t max_ns_;
};

}  // namespace harvest::resilience
