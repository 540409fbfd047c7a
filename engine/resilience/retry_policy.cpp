#include "engine/resilience/retry_policy.hpp"

#include "engine/core/text.hpp"
#include "engine/resilience/retry_after.hpp"

#include <algorithm>

namespace harvest::resilience {

namespace {

bool contains_ci(const std::vector<std::string>& list, std::string_view value) {
    return std::any_of(list.begin(), list.end(),
                       [&](const std::string& item) { return core::iequals(item, value); });
}

// Client errors that mean "this request is wrong": retrying cannot help, whatever on_status
// says.
bool never_retried(unsigned status) {
    return status == 400 || status == 401 || status == 403 || status == 404;
}

decision fail(core::failure_kind kind) {
    decision d;
    d.what = verdict::fail;
    d.failure = kind;
    return d;
}

bool listed(const std::vector<core::failure_kind>& list, core::failure_kind kind) {
    return std::find(list.begin(), list.end(), kind) != list.end();
}

}  // namespace

retry_policy::retry_policy(retry_options options)
    : options_(std::move(options)), backoff_(options_.backoff) {}

bool retry_policy::status_listed(unsigned status) const {
    return std::find(options_.on_status.begin(), options_.on_status.end(), status) !=
           options_.on_status.end();
}

bool retry_policy::status_listed_with_retry_after(unsigned status) const {
    const auto& list = options_.on_status_with_retry_after;
    return std::find(list.begin(), list.end(), status) != list.end();
}

bool retry_policy::error_listed(core::failure_kind kind) const {
    return listed(options_.on_errors, kind);
}

bool retry_policy::error_any_method(core::failure_kind kind) const {
    return listed(options_.on_errors_any_method, kind);
}

bool retry_policy::method_retryable(std::string_view method, bool has_idempotency_key) const {
    if (options_.any_method) {
        return true;
    }
    if (contains_ci(options_.methods, method)) {
        return true;
    }
    return has_idempotency_key && contains_ci(options_.idempotency_methods, method);
}

clock::duration retry_policy::backoff_delay(unsigned retry_number, clock::duration previous_delay,
                                            std::mt19937_64& rng) const {
    if (retry_number == 0 || (options_.immediate_first_retry && retry_number == 1)) {
        return clock::duration::zero();
    }
    clock::duration d = backoff_.delay(retry_number, previous_delay, rng);
    if (options_.backoff_jitter > std::chrono::milliseconds::zero()) {
        const auto jitter_ns =
            std::chrono::duration_cast<std::chrono::nanoseconds>(options_.backoff_jitter).count();
        const auto extra = std::uniform_int_distribution<std::int64_t>(0, jitter_ns)(rng);
        const auto max = std::chrono::duration_cast<clock::duration>(
            std::max(options_.backoff.max, std::chrono::milliseconds::zero()));
        d = std::min<clock::duration>(max, d + std::chrono::nanoseconds(extra));
    }
    return d;
}

decision retry_policy::classify(const attempt_outcome& outcome, unsigned attempts_made,
                                std::string_view method, bool has_idempotency_key,
                                clock::duration previous_delay, std::mt19937_64& rng,
                                std::chrono::system_clock::time_point wall_now) const {
    const unsigned max_attempts = std::max(1u, options_.max_attempts);
    const bool exhausted = attempts_made >= max_attempts;

    // An error wins over a status: a response whose body then failed is not usable.
    if (outcome.error) {
        const core::failure_kind kind = net::failure_kind_of(*outcome.error);
        // tls_verify: the peer is not who it claims; retrying changes nothing and would hide an
        // attack. cancelled: the crawl is stopping, not a failure of the URL.
        if (*outcome.error == net::fetch_error::tls_verify ||
            *outcome.error == net::fetch_error::cancelled || !error_listed(kind)) {
            return fail(kind);
        }
        if (!method_retryable(method, has_idempotency_key) && !error_any_method(kind)) {
            return fail(kind);
        }
        if (exhausted) {
            // With retries off (max_attempts 1) nothing ran out: the kind itself is the reason.
            return fail(max_attempts == 1 ? kind : core::failure_kind::retries_exhausted);
        }
        decision d;
        d.what = verdict::retry;
        d.reason = core::to_string(kind);
        d.delay = backoff_delay(attempts_made, previous_delay, rng);
        return d;
    }

    if (!outcome.status) {
        // Neither a response nor an error: the caller lost track of the attempt. Treat it as a
        // protocol failure rather than guessing success.
        return fail(core::failure_kind::protocol);
    }

    const unsigned status = *outcome.status;
    if (status < 400) {
        decision d;
        d.what = verdict::success;
        return d;
    }
    const core::failure_kind status_kind =
        status < 500 ? core::failure_kind::status_4xx : core::failure_kind::status_5xx;
    if (never_retried(status)) {
        return fail(status_kind);
    }

    std::optional<std::chrono::seconds> retry_after;
    if (options_.honor_retry_after && !outcome.retry_after.empty()) {
        retry_after = parse_retry_after(outcome.retry_after, wall_now);
    }
    const bool listed =
        status_listed(status) || (retry_after && status_listed_with_retry_after(status));
    if (!listed || !method_retryable(method, has_idempotency_key)) {
        return fail(status_kind);
    }
    if (exhausted) {
        return fail(max_attempts == 1 ? status_kind : core::failure_kind::retries_exhausted);
    }

    decision d;
    d.what = verdict::retry;
    d.reason = std::to_string(status);
    if (retry_after) {
        // Clamped to what any clock can hold, so the cast below cannot overflow.
        const auto max = std::clamp<std::chrono::milliseconds>(
            options_.retry_after_max, std::chrono::milliseconds::zero(), retry_after_saturation);
        if (*retry_after > max) {
            if (!options_.retry_after_clamp) {
                return fail(core::failure_kind::retry_after_too_long);
            }
            d.delay = std::chrono::duration_cast<clock::duration>(max);
        } else {
            d.delay = std::chrono::duration_cast<clock::duration>(*retry_after);
        }
        d.from_retry_after = true;
    } else {
        d.delay = backoff_delay(attempts_made, previous_delay, rng);
    }
    return d;
}

call_outcome breaker_outcome_of(const attempt_outcome& outcome) noexcept {
    if (outcome.error && net::is_proxy_error(*outcome.error)) {
        return call_outcome::neutral;  // the proxy failed: says nothing of the target host
    }
    if (outcome.error || !outcome.status || *outcome.status >= 500) {
        return call_outcome::failure;
    }
    if (*outcome.status >= 400) {
        return call_outcome::neutral;
    }
    return call_outcome::success;
}

}  // namespace harvest::resilience
