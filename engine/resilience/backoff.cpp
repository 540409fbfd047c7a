#include "engine/resilience/backoff.hpp"

#include <algorithm>
#include <limits>

namespace harvest::resilience {

namespace {

std::int64_t to_ns(std::chrono::milliseconds d) {
    // Negative configured durations make no sense; treat them as 0.
    const auto ms = std::max<std::int64_t>(0, d.count());
    constexpr std::int64_t limit = std::numeric_limits<std::int64_t>::max() / 1'000'000;
    return std::min(ms, limit) * 1'000'000;
}

clock::duration from_ns(std::int64_t ns) {
    return std::chrono::duration_cast<clock::duration>(std::chrono::nanoseconds(ns));
}

std::int64_t uniform(std::int64_t lo, std::int64_t hi, std::mt19937_64& rng) {
    if (hi <= lo) {
        return lo;
    }
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
}

}  // namespace

backoff::backoff(backoff_options options)
    : options_(options), base_ns_(to_ns(options.base)), max_ns_(to_ns(options.max)) {}

clock::duration backoff::cap(unsigned retry_number) const {
    if (retry_number == 0) {
        return clock::duration::zero();
    }
    const unsigned shift = retry_number - 1;
    std::int64_t ns = max_ns_;
    // base << shift, unless it would exceed max (checked before shifting: no overflow).
    if (shift < 62 && base_ns_ <= (max_ns_ >> shift)) {
        ns = base_ns_ << shift;
    }
    return from_ns(std::min(ns, max_ns_));
}

clock::duration backoff::delay(unsigned retry_number, clock::duration previous_delay,
                               std::mt19937_64& rng) const {
    if (retry_number == 0) {
        return clock::duration::zero();
    }
    switch (options_.strategy) {
        case backoff_strategy::full_jitter: {
            const auto c =
                std::chrono::duration_cast<std::chrono::nanoseconds>(cap(retry_number)).count();
            return from_ns(uniform(0, c, rng));
        }
        case backoff_strategy::equal_jitter: {
            const auto c =
                std::chrono::duration_cast<std::chrono::nanoseconds>(cap(retry_number)).count();
            const std::int64_t half = c / 2;
            return from_ns(half + uniform(0, c - half, rng));
        }
        case backoff_strategy::decorrelated_jitter: {
            std::int64_t previous =
                std::chrono::duration_cast<std::chrono::nanoseconds>(previous_delay).count();
            if (previous <= 0) {
                previous = base_ns_;
            }
            // 3 * previous, saturating; never below base.
            const std::int64_t hi =
                previous > std::numeric_limits<std::int64_t>::max() / 3 ? max_ns_ : previous * 3;
            const std::int64_t lo = base_ns_;
            return from_ns(std::min(max_ns_, uniform(lo, std::max(lo, hi), rng)));
        }
        case backoff_strategy::none:
            return cap(retry_number);
    }
    return cap(retry_number);
}

}  // namespace harvest::resilience
