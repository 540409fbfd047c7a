#include "engine/resilience/token_bucket.hpp"

#include <algorithm>
#include <cmath>

namespace harvest::resilience {

namespace {

// One emission interval in scaled units: 1 s = 1e9 ns, rate counted per 1e6 s.
constexpr std::int64_t interval_scaled = 1'000'000'000'000'000;
constexpr std::int64_t micro = 1'000'000;
// Above this many requests per second a bucket cannot be told apart from no bucket.
constexpr double max_finite_rate = 1e12;
constexpr double max_burst = 1e12;

__extension__ using wide = __int128;

wide floor_div_wide(wide a, wide b) {
    wide q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) {
        --q;
    }
    return q;
}

wide ceil_div(wide a, wide b) {
    return -floor_div_wide(-a, b);
}

}  // namespace

token_bucket::token_bucket(double per_second, double burst) {
    if (!(burst >= 1)) {  // also catches NaN
        burst = 1;
    }
    burst_ = std::min(burst, max_burst);
    burst_micro_ = std::llround(burst_ * micro);
    // Tolerance = (burst - 1) intervals; in scaled units it does not depend on the rate.
    tolerance_ = wide(burst_micro_ - micro) * 1'000'000'000;
    configure(per_second);
}

void token_bucket::configure(double per_second) {
    per_second_ = per_second;
    unlimited_ = !(per_second > 0) || !std::isfinite(per_second) || per_second > max_finite_rate;
    if (!unlimited_) {
        rate_micro_ = std::max<std::int64_t>(1, std::llround(per_second * micro));
    }
}

token_bucket::wide token_bucket::scaled(clock::time_point t) const {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch());
    return wide(ns.count()) * rate_micro_;
}

bool token_bucket::try_acquire(clock::time_point now) {
    if (unlimited_) {
        return true;
    }
    const wide n = scaled(now);
    if (fresh_ || tat_ <= n - rate_micro_) {
        // Idle long enough to be full again: the schedule restarts at now. Less than one
        // nanosecond late is not idle: it is next_available() rounded up to a whole
        // nanosecond, and restarting there would add that rounding to every interval.
        tat_ = n;
        fresh_ = false;
    } else if (n < tat_ - tolerance_) {
        return false;
    }
    tat_ += interval_scaled;
    return true;
}

clock::time_point token_bucket::next_available(clock::time_point now) const {
    if (unlimited_ || fresh_) {
        return now;
    }
    const wide need = tat_ - tolerance_;
    if (scaled(now) >= need) {
        return now;
    }
    const wide ns = ceil_div(need, rate_micro_);
    return clock::time_point(std::chrono::duration_cast<clock::duration>(
        std::chrono::nanoseconds(static_cast<std::int64_t>(ns))));
}

void token_bucket::set_rate(double per_second) {
    const bool was_unlimited = unlimited_;
    const std::int64_t old_rate = rate_micro_;
    configure(per_second);
    if (unlimited_ || was_unlimited) {
        // No schedule to carry over: a bucket coming back from unlimited starts full.
        fresh_ = true;
        return;
    }
    if (!fresh_ && old_rate != rate_micro_) {
        // Re-express the theoretical arrival time in the new units (rounded up to a whole
        // nanosecond once, which is no drift: it does not repeat per grant).
        tat_ = ceil_div(tat_, old_rate) * rate_micro_;
    }
}

adaptive_rate::adaptive_rate(double configured_per_second, clock::duration decrease_cooldown)
    : configured_(configured_per_second),
      current_(configured_per_second),
      decrease_cooldown_(decrease_cooldown) {}

double adaptive_rate::on_throttled(clock::time_point now) {
    if (!(configured_ > 0)) {
        return current_;  // unlimited: nothing to halve
    }
    if (decreased_ && now - last_decrease_ < decrease_cooldown_) {
        return current_;
    }
    current_ = std::max(configured_ / 10, current_ / 2);
    decreased_ = true;
    last_decrease_ = now;
    last_change_ = now;
    return current_;
}

double adaptive_rate::on_success(clock::time_point now) {
    if (!(configured_ > 0) || current_ >= configured_) {
        return current_;
    }
    const auto elapsed = now - last_change_;
    if (elapsed <= clock::duration::zero()) {
        return current_;
    }
    const double seconds = std::chrono::duration<double>(elapsed).count();
    current_ = std::min(configured_, current_ + configured_ / 20 * seconds);
    last_change_ = now;
    return current_;
}

void adaptive_rate::on_answer(unsigned status, clock::time_point now, token_bucket& bucket) {
    const double rate = status == 429 ? on_throttled(now) : on_success(now);
    if (rate != bucket.rate()) {
        bucket.set_rate(rate);
    }
}

}  // namespace harvest::resilience
