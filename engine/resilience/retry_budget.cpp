#include "engine/resilience/retry_budget.hpp"

#include <algorithm>

namespace harvest::resilience {

retry_budget::retry_budget(double ratio, double min_per_second, clock::duration window)
    : ratio_(std::max(0.0, ratio)),
      min_per_window_(std::max(0.0, min_per_second) *
                      std::chrono::duration<double>(window).count()),
      width_(
          std::max<clock::duration>(clock::duration(1), window / static_cast<int>(bucket_count))) {
    if (!(min_per_window_ >= 0)) {  // a non-positive or NaN window
        min_per_window_ = 0;
    }
}

std::int64_t retry_budget::bucket_index(clock::time_point now) const {
    const auto t = now.time_since_epoch().count();
    const auto w = width_.count();
    std::int64_t q = t / w;
    if (t % w != 0 && t < 0) {
        --q;  // floor for times before the clock's epoch (fake clocks)
    }
    return q;
}

retry_budget::bucket& retry_budget::current(clock::time_point now) {
    const std::int64_t index = bucket_index(now);
    const auto slot = static_cast<std::size_t>(
        ((index % static_cast<std::int64_t>(bucket_count)) + bucket_count) % bucket_count);
    bucket& b = ring_[slot];
    if (b.index != index) {
        b = bucket{index, 0, 0};
    }
    return b;
}

double retry_budget::available(clock::time_point now) const {
    const std::int64_t index = bucket_index(now);
    std::uint64_t requests = 0;
    std::uint64_t retries = 0;
    for (const bucket& b : ring_) {
        if (b.index > index - static_cast<std::int64_t>(bucket_count) && b.index <= index) {
            requests += b.requests;
            retries += b.retries;
        }
    }
    return ratio_ * static_cast<double>(requests) + min_per_window_ - static_cast<double>(retries);
}

void retry_budget::on_request(clock::time_point now) {
    ++current(now).requests;
}

bool retry_budget::try_spend(clock::time_point now) {
    // A small epsilon so that e.g. 0.2 * 5 = 1.0000000000000002 or 0.9999999999999999 does not
    // refuse the retry the ratio promises.
    if (available(now) < 1.0 - 1e-9) {
        return false;
    }
    ++current(now).retries;
    return true;
}

}  // namespace harvest::resilience
