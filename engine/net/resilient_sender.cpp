#include "engine/net/resilient_sender.hpp"

#include "engine/core/text.hpp"
#include "engine/net/fetch_outcome.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <string_view>
#include <utility>

namespace harvest::net {

namespace {

namespace asio = boost::asio;
using resilience::clock;

// While half-open with every probe slot taken the breaker names no time: ask again after this.
constexpr auto probe_poll = std::chrono::milliseconds(20);

asio::awaitable<void> wait_until(clock::time_point when) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_at(when);
    // A cancelled wait ends early; the caller re-asks the policies, so nothing is skipped.
    (void)co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

}  // namespace

resilient_sender::resilient_sender(http_client& client, sender_options options, std::uint64_t seed)
    : client_(client),
      http_(options.http ? std::move(options.http) : std::make_shared<const http_options>()),
      deadline_(options.deadline),
      retry_every_failure_(options.retry_every_failure),
      policy_(options.retry),
      guard_(resilience::guard_options{options.rate, false, options.breaker,
                                       options.retry.budget_ratio,
                                       options.retry.budget_min_per_second, 0}),
      rng_(seed) {}

resilience::breaker_state resilient_sender::breaker_state() const {
    std::lock_guard lock(mutex_);
    return guard_.breaker().state(clock::now());
}

bool resilient_sender::try_retry(clock::time_point now) {
    std::lock_guard lock(mutex_);
    return guard_.try_retry(now);
}

resilient_sender::admission resilient_sender::admit(clock::time_point now) {
    std::lock_guard lock(mutex_);
    admission result;
    const auto allowed = guard_.admit(now);
    if (!allowed.permit) {
        result.breaker_open = allowed.why == resilience::wait_reason::breaker;
        // Half-open with every probe out names no time: ask again shortly.
        result.retry_at =
            allowed.not_before == clock::time_point::max() ? now + probe_poll : allowed.not_before;
        return result;
    }
    result.permit = allowed.permit;
    return result;
}

asio::awaitable<send_result> resilient_sender::send(http_request request) {
    return send(std::move(request), send_hooks{});
}

asio::awaitable<send_result> resilient_sender::send(http_request request, send_hooks hooks) {
    const auto deadline = clock::now() + deadline_;
    const bool keyed = has_header(request.headers, policy_.options().idempotency_header);
    send_result result;
    clock::duration previous_delay{};
    bool failed_before = false;  // the breaker counts one failure of this request
    while (true) {
        resilience::breaker_permit permit;
        // A retry needs the target's retry budget first (counted once it is granted), as a
        // crawl's retry does; over it, the retry waits instead of adding load.
        while (result.attempts > 0 && !try_retry(clock::now())) {
            const auto retry_at = clock::now() + resilience::budget_recheck;
            if (retry_at >= deadline) {
                result.failure = core::failure_kind::deadline;
                co_return result;
            }
            co_await wait_until(retry_at);
        }
        while (true) {
            const admission allowed = admit(clock::now());
            if (allowed.permit) {
                permit = *allowed.permit;
                break;
            }
            if (allowed.retry_at >= deadline) {
                result.failure = allowed.breaker_open ? core::failure_kind::circuit_open
                                                      : core::failure_kind::deadline;
                co_return result;
            }
            co_await wait_until(allowed.retry_at);
        }

        ++result.attempts;
        if (result.attempts == 1) {
            std::lock_guard lock(mutex_);
            guard_.on_first_attempt(clock::now());
        }
        const auto attempt_deadline = std::min(deadline, clock::now() + http_->timeouts.total);
        http_request attempt = request;  // fetch takes its request; the original is resent as is
        if (hooks.before_attempt) {
            hooks.before_attempt(attempt, result.attempts);
        }
        auto fetched = co_await client_.fetch(std::move(attempt), http_, attempt_deadline);

        const resilience::attempt_outcome outcome = outcome_of(fetched);
        resilience::decision decided;
        {
            std::lock_guard lock(mutex_);
            guard_.release();
            guard_.record(permit, outcome, failed_before, clock::now());
            decided = policy_.classify(outcome, result.attempts, request.method, keyed,
                                       previous_delay, rng_, std::chrono::system_clock::now());
        }
        result.status = outcome.status;
        result.error = outcome.error;
        if (retry_every_failure_ && !(outcome.status && !outcome.error && *outcome.status >= 200 &&
                                      *outcome.status < 300)) {
            if (outcome.error != fetch_error::cancelled &&
                result.attempts < std::max(1u, policy_.options().max_attempts)) {
                if (decided.what != resilience::verdict::retry) {
                    std::lock_guard lock(mutex_);
                    decided.what = resilience::verdict::retry;
                    decided.delay = policy_.backoff_delay(result.attempts, previous_delay, rng_);
                }
            } else if (decided.what == resilience::verdict::success) {
                // A 3xx (redirects are not followed) on the last attempt: not delivered.
                if (hooks.after_attempt) {
                    hooks.after_attempt({result.attempts, outcome.status, outcome.error, false});
                }
                co_return result;
            }
        }
        if (hooks.after_attempt) {
            const bool retrying = decided.what == resilience::verdict::retry &&
                                  clock::now() + decided.delay < deadline;
            hooks.after_attempt({result.attempts, outcome.status, outcome.error, retrying});
        }
        if (decided.what == resilience::verdict::success) {
            result.outcome = send_outcome::delivered;
            result.response = std::move(*fetched);
            co_return result;
        }
        if (decided.what == resilience::verdict::fail) {
            result.failure = decided.failure;
            co_return result;
        }
        const auto retry_at = clock::now() + decided.delay;
        if (retry_at >= deadline) {
            result.failure = core::failure_kind::deadline;
            co_return result;
        }
        previous_delay = decided.delay;
        co_await wait_until(retry_at);
    }
}

}  // namespace harvest::net
