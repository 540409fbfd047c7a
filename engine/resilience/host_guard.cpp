#include "engine/resilience/host_guard.hpp"

#include <algorithm>

namespace harvest::resilience {

host_guard::host_guard(const guard_options& options)
    : bucket_(options.rate.per_second, options.rate.burst),
      breaker_(options.breaker),
      budget_(options.budget_ratio, options.budget_min_per_second),
      give_up_after_(std::chrono::duration_cast<clock::duration>(options.breaker.give_up_after)),
      concurrency_(options.concurrency) {
    if (options.adaptive && !bucket_.unlimited()) {
        adaptive_.emplace(bucket_.rate());
    }
}

admission host_guard::admit(clock::time_point now, token_bucket* global) {
    if (concurrency_ != 0 && in_flight_ >= concurrency_) {
        admission out;
        out.why = wait_reason::concurrency;
        return out;
    }
    auto out = admit_tokens(now, global);
    if (out.permit) {
        ++in_flight_;
    }
    return out;
}

admission host_guard::admit_unslotted(clock::time_point now, token_bucket* global) {
    return admit_tokens(now, global);
}

admission host_guard::admit_tokens(clock::time_point now, token_bucket* global) {
    admission out;
    // Peek at both buckets before asking the breaker: a half-open probe slot taken while no
    // token is there would be held for nothing.
    if (global != nullptr && !global->unlimited() && global->next_available(now) > now) {
        out.why = wait_reason::global_token;
        out.not_before = global->next_available(now);
        return out;
    }
    if (!bucket_.unlimited() && bucket_.next_available(now) > now) {
        out.why = wait_reason::token;
        out.not_before = bucket_.next_available(now);
        return out;
    }
    auto permit = breaker_.try_acquire(now);
    if (!permit) {
        out.why = wait_reason::breaker;
        if (breaker_.state(now) == breaker_state::open) {
            out.not_before = breaker_.next_attempt_at();
        }
        return out;
    }
    // Both have a token: nothing ran between the peek and here.
    (void)bucket_.try_acquire(now);
    if (global != nullptr && !global->unlimited()) {
        (void)global->try_acquire(now);
    }
    out.permit = permit;
    return out;
}

record_effect host_guard::record(const breaker_permit& permit, const attempt_outcome& outcome,
                                 bool& failed_before, clock::time_point now) {
    auto result = breaker_outcome_of(outcome);
    if (result == call_outcome::failure) {
        // The breaker judges the host by its distinct requests: one that keeps failing counts
        // once in the window. A failure too late to count (its permit was of an earlier breaker
        // state) still marks the request, so that its retries do not count later instead. A
        // probe's failure always counts: a host whose only requests left are failing retries
        // is not known to have recovered.
        if (failed_before && !permit.probe) {
            result = call_outcome::neutral;
        }
        failed_before = true;
    }
    record_effect effect;
    const bool was_closed = breaker_.state(now) == breaker_state::closed;
    breaker_.record(permit, result, now);
    const auto state = breaker_.state(now);
    effect.opened = was_closed && state == breaker_state::open;
    effect.closed_by_probe = permit.probe && state == breaker_state::closed;
    if (adaptive_ && outcome.status) {
        // The server's "too many" slows this host; good answers restore its rate.
        adaptive_->on_answer(*outcome.status, now, bucket_);
    }
    return effect;
}

bool host_guard::gives_up(clock::time_point now) const {
    const auto since = breaker_.open_since();
    return since && now - *since >= give_up_after_ && breaker_.failed_probes() > 0;
}

void host_guard::apply_crawl_delay(double seconds) {
    if (seconds <= 0) {
        return;
    }
    const double rate = 1.0 / seconds;
    if (bucket_.unlimited() || bucket_.rate() > rate) {
        bucket_ = token_bucket(rate, 1);
        if (adaptive_) {
            adaptive_.emplace(rate);  // a 429 slows it further; it never speeds past the delay
        }
    } else if (bucket_.burst() > 1) {
        bucket_ = token_bucket(bucket_.rate(), 1);
    }
}

}  // namespace harvest::resilience
