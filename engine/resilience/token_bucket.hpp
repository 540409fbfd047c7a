#pragma once
// Token bucket as GCRA (generic cell rate algorithm): one "theoretical arrival time" instead of
// a fractional token count. All arithmetic is in integers (nanoseconds scaled by the rate in
// micro-requests per second), so a bucket that grants for days drifts by nothing: after N
// grants at r/s the schedule is exactly N/r seconds long.
//
// Not thread-safe: a host's bucket is touched from one place at a time (DESIGN.md, Threading).

#include "engine/resilience/clock.hpp"

#include <cstdint>

namespace harvest::resilience {

class token_bucket {
  public:
    // per_second <= 0 (or not finite) = unlimited: every try_acquire succeeds.
    // burst < 1 is treated as 1 (a bucket must be able to hold the token it grants).
    token_bucket(double per_second, double burst);

    // Takes one token if one is available at `now`.
    [[nodiscard]] bool try_acquire(clock::time_point now);

    // The earliest time at or after `now` when try_acquire will succeed (exact: try_acquire at
    // the returned time succeeds, one nanosecond earlier it does not).
    [[nodiscard]] clock::time_point next_available(clock::time_point now) const;

    // Changes the refill rate, keeping the burst (in tokens) and the debt already accumulated.
    // Used by adaptive rate limiting. <= 0 = unlimited.
    void set_rate(double per_second);

    double rate() const { return per_second_; }
    double burst() const { return burst_; }
    bool unlimited() const { return unlimited_; }

  private:
    // GCC's 128-bit integer: now_ns * rate_micro reaches ~1e34 at most.
    __extension__ using wide = __int128;

    void configure(double per_second);
    wide scaled(clock::time_point t) const;

    double per_second_ = 0;
    double burst_ = 1;
    bool unlimited_ = true;
    // Time is kept in units of 1/rate_micro_ ns, so one emission interval is exactly 1e15.
    std::int64_t rate_micro_ = 1;  // requests per 1e6 seconds
    std::int64_t burst_micro_ = 1'000'000;
    wide tolerance_ = 0;  // (burst - 1) emission intervals, scaled
    wide tat_ = 0;        // theoretical arrival time of the next request, scaled
    bool fresh_ = true;   // no grant yet: the bucket starts full
};

// Adaptive rate for one host (rate_limit.adaptive): a 429 halves the rate, down to a tenth of
// the configured one; successes restore it additively, at configured/20 per second of time
// elapsed since the last change (a full restore from the floor takes 18 s of good answers).
// Several 429s within `decrease_cooldown` of a halving count once: they answer requests that
// were sent at the old rate.
class adaptive_rate {
  public:
    explicit adaptive_rate(double configured_per_second,
                           clock::duration decrease_cooldown = std::chrono::seconds(1));

    // A 429 was received. Returns the new rate (to pass to token_bucket::set_rate).
    double on_throttled(clock::time_point now);
    // A non-throttled answer. Returns the new rate.
    double on_success(clock::time_point now);
    // One answer's status: a 429 is on_throttled, anything else on_success; `bucket` takes the
    // new rate when it changed.
    void on_answer(unsigned status, clock::time_point now, token_bucket& bucket);
    double current() const { return current_; }
    double configured() const { return configured_; }

  private:
    double configured_;
    double current_;
    clock::duration decrease_cooldown_;
    clock::time_point last_decrease_{};
    clock::time_point last_change_{};
    bool decreased_ = false;  // last_decrease_ is meaningful
};

}  // namespace harvest::resilience
