#pragma once
// The one decision point of DESIGN.md: given how an attempt ended, is the request a success,
// retried (after how long, why) or failed for good (which kind)? Metrics, logs, the error
// stream and the breaker all read this decision. Immutable policy: the per-request state
// (attempts made, previous delay) and the random generator are passed in.

#include "engine/core/failure_kind.hpp"
#include "engine/net/fetch_error.hpp"
#include "engine/resilience/backoff.hpp"
#include "engine/resilience/circuit_breaker.hpp"
#include "engine/resilience/clock.hpp"
#include "engine/resilience/options.hpp"

#include <chrono>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace harvest::resilience {

struct attempt_outcome {
    std::optional<unsigned> status;         // the response's status, if one arrived
    std::optional<net::fetch_error> error;  // why no usable response arrived
    std::string_view retry_after;           // the Retry-After header value, or empty
};

// How an attempt counts for the target's circuit breaker: transport errors and 5xx against it;
// 4xx (429 included) say nothing about its health. The one mapping the crawler and the
// resilient sender (webhooks, the service's jobs) share.
[[nodiscard]] call_outcome breaker_outcome_of(const attempt_outcome& outcome) noexcept;

enum class verdict { success, retry, fail };

struct decision {
    verdict what = verdict::fail;
    clock::duration delay{};        // retry: wait this long before the next attempt
    bool from_retry_after = false;  // the delay is the server's Retry-After
    std::string reason;             // retry: status as text ("503") or error kind ("timeout")
    // fail: status_4xx, status_5xx, retries_exhausted, retry_after_too_long, or the attempt's
    // transport error (tls_verify, ...). Meaningless unless `what` is fail.
    core::failure_kind failure = core::failure_kind::internal;
};

class retry_policy {
  public:
    explicit retry_policy(retry_options options);

    // attempts_made: attempts so far, this one included (>= 1). previous_delay: the delay
    // before this attempt (decorrelated jitter). wall_now: for Retry-After HTTP-dates.
    [[nodiscard]] decision classify(const attempt_outcome& outcome, unsigned attempts_made,
                                    std::string_view method, bool has_idempotency_key,
                                    clock::duration previous_delay, std::mt19937_64& rng,
                                    std::chrono::system_clock::time_point wall_now) const;

    // May a request with this method be retried? (methods; idempotency_methods only with a key;
    // any_method = all.) Methods compare case-insensitively.
    [[nodiscard]] bool method_retryable(std::string_view method, bool has_idempotency_key) const;

    // The backoff delay before retry number `retry_number` (1 = first retry), with the
    // options' immediate_first_retry and backoff_jitter applied. Retry-After not considered.
    [[nodiscard]] clock::duration backoff_delay(unsigned retry_number,
                                                clock::duration previous_delay,
                                                std::mt19937_64& rng) const;

    const retry_options& options() const { return options_; }

  private:
    bool status_listed(unsigned status) const;
    bool status_listed_with_retry_after(unsigned status) const;
    bool error_listed(core::failure_kind kind) const;
    bool error_any_method(core::failure_kind kind) const;

    retry_options options_;
    backoff backoff_;
};

}  // namespace harvest::resilience
