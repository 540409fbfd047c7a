#include "engine/resilience/circuit_breaker.hpp"

#include <algorithm>

namespace harvest::resilience {
namespace {

clock::duration first_open_duration(const breaker_options& options) {
    return std::chrono::duration_cast<clock::duration>(
        std::min(options.min_open_for, options.open_for));
}

}  // namespace

circuit_breaker::circuit_breaker(breaker_options options)
    : options_(options),
      window_(std::max(1u, options.window)),
      min_calls_(std::clamp(options.min_calls, 1u, window_)),
      probes_(std::max(1u, options.half_open_probes)),
      ring_(window_, false),
      open_duration_(first_open_duration(options)) {}

void circuit_breaker::clear_window() {
    std::fill(ring_.begin(), ring_.end(), false);
    next_slot_ = 0;
    calls_ = 0;
    failures_ = 0;
}

void circuit_breaker::transition(breaker_state to, clock::time_point now) {
    state_ = to;
    ++generation_;
    ++transitions_[static_cast<std::size_t>(to)];
    switch (to) {
        case breaker_state::open:
            if (open_since_) {
                // A failed probe: the host is still down, so it is asked less often.
                const auto longest = std::chrono::duration_cast<clock::duration>(options_.open_for);
                open_duration_ = std::min(open_duration_ * 2, longest);
            } else {
                open_since_ = now;
                open_duration_ = first_open_duration(options_);
            }
            next_attempt_ = now + open_duration_;
            break;
        case breaker_state::half_open:
            probes_granted_ = 0;
            probes_succeeded_ = 0;
            break;
        case breaker_state::closed:
            clear_window();
            open_since_.reset();
            failed_probes_ = 0;
            break;
    }
}

std::optional<breaker_permit> circuit_breaker::try_acquire(clock::time_point now) {
    if (state_ == breaker_state::open) {
        if (now < next_attempt_) {
            return std::nullopt;
        }
        transition(breaker_state::half_open, now);
    }
    if (state_ == breaker_state::half_open) {
        if (probes_granted_ >= probes_) {
            return std::nullopt;
        }
        ++probes_granted_;
        return breaker_permit{true, generation_};
    }
    return breaker_permit{false, generation_};
}

void circuit_breaker::record(const breaker_permit& permit, call_outcome outcome,
                             clock::time_point now) {
    if (permit.generation != generation_) {
        return;  // granted before the last state change: stale
    }
    if (state_ == breaker_state::half_open) {
        if (!permit.probe) {
            return;  // cannot happen with a current generation; ignore defensively
        }
        if (outcome == call_outcome::failure) {
            ++failed_probes_;
            transition(breaker_state::open, now);
            return;
        }
        ++probes_succeeded_;
        if (probes_succeeded_ >= probes_) {
            transition(breaker_state::closed, now);
        }
        return;
    }
    if (state_ != breaker_state::closed || outcome == call_outcome::neutral) {
        return;
    }
    if (calls_ == window_) {
        // Full window: the oldest outcome leaves.
        if (ring_[next_slot_]) {
            --failures_;
        }
        --calls_;
    }
    const bool failed = outcome == call_outcome::failure;
    ring_[next_slot_] = failed;
    next_slot_ = (next_slot_ + 1) % window_;
    ++calls_;
    if (failed) {
        ++failures_;
    }
    // Integer division of small counts rounds exactly, so "0.3" and 3/10 compare equal.
    if (calls_ >= min_calls_ && failures_ > 0 &&
        static_cast<double>(failures_) / static_cast<double>(calls_) >= options_.failure_rate) {
        transition(breaker_state::open, now);
    }
}

void circuit_breaker::cancel(const breaker_permit& permit) {
    if (permit.generation == generation_ && permit.probe && state_ == breaker_state::half_open &&
        probes_granted_ > probes_succeeded_) {
        --probes_granted_;
    }
}

breaker_state circuit_breaker::state(clock::time_point now) const {
    if (state_ == breaker_state::open && now >= next_attempt_) {
        return breaker_state::half_open;
    }
    return state_;
}

}  // namespace harvest::resilience
