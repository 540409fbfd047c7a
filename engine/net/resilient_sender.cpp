#include "engine/net/resilient_sender.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cctype>
#include <string_view>
#include <utility>

namespace harvest::net {

namespace {

namespace asio = boost::asio;
using resilience::clock;

// While half-open with every probe slot taken the breaker names no time: ask again after this.
constexpr auto probe_poll = std::chrono::milliseconds(20);

bool has_header(const header_list& headers, std::string_view name) {
    return std::any_of(headers.begin(), headers.end(), [name](const auto& field) {
        return std::equal(field.first.begin(), field.first.end(), name.begin(), name.end(),
                          [](char a, char b) {
                              return std::tolower(static_cast<unsigned char>(a)) ==
                                     std::tolower(static_cast<unsigned char>(b));
                          });
    });
}

asio::awaitable<void> wait_until(clock::time_point when) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_at(when);
    // A cancelled wait ends early; the caller re-asks the policies, so nothing is skipped.
    (void)co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

}  // namespace

resilient_sender::resilient_sender(http_client& client, sender_options options, std::uint64_t seed)
    : client_(client),
      http_(options.http ? std::move(options.http) : std::make_shared<const crawl::http_options>()),
      deadline_(options.deadline),
      policy_(std::move(options.retry)),
      bucket_(options.rate.per_second, options.rate.burst),
      breaker_(options.breaker),
      rng_(seed) {}

resilience::breaker_state resilient_sender::breaker_state() const {
    std::lock_guard lock(mutex_);
    return breaker_.state(clock::now());
}

resilient_sender::admission resilient_sender::admit(clock::time_point now) {
    std::lock_guard lock(mutex_);
    admission result;
    auto permit = breaker_.try_acquire(now);
    if (!permit) {
        result.breaker_open = true;
        result.retry_at = std::max(breaker_.next_attempt_at(), now + probe_poll);
        return result;
    }
    // The breaker first: a token taken while the breaker refuses would be wasted.
    if (!bucket_.try_acquire(now)) {
        breaker_.cancel(*permit);
        result.retry_at = bucket_.next_available(now);
        return result;
    }
    result.permit = permit;
    return result;
}

asio::awaitable<send_result> resilient_sender::send(http_request request) {
    const auto deadline = clock::now() + deadline_;
    const bool keyed = has_header(request.headers, policy_.options().idempotency_header);
    send_result result;
    clock::duration previous_delay{};
    while (true) {
        resilience::breaker_permit permit;
        while (true) {
            const admission allowed = admit(clock::now());
            if (allowed.permit) {
                permit = *allowed.permit;
                break;
            }
            if (allowed.retry_at >= deadline) {
                result.failure_kind = allowed.breaker_open ? "circuit_open" : "deadline";
                co_return result;
            }
            co_await wait_until(allowed.retry_at);
        }

        ++result.attempts;
        const auto attempt_deadline = std::min(deadline, clock::now() + http_->timeouts.total);
        http_request attempt = request;  // fetch takes its request; the original is resent as is
        auto fetched = co_await client_.fetch(std::move(attempt), http_, attempt_deadline);

        resilience::attempt_outcome outcome;
        if (fetched) {
            outcome.status = fetched->status;
            outcome.retry_after = fetched->header("Retry-After");
        } else if (fetched.error().category() == fetch_error_category()) {
            outcome.error = static_cast<fetch_error>(fetched.error().value());
        } else {
            outcome.error = fetch_error::protocol;
        }
        resilience::decision decided;
        {
            std::lock_guard lock(mutex_);
            breaker_.record(permit, resilience::breaker_outcome_of(outcome), clock::now());
            decided = policy_.classify(outcome, result.attempts, request.method, keyed,
                                       previous_delay, rng_, std::chrono::system_clock::now());
        }
        result.status = outcome.status;
        result.error = outcome.error;
        if (decided.what == resilience::verdict::success) {
            result.outcome = send_outcome::delivered;
            result.response = std::move(*fetched);
            co_return result;
        }
        if (decided.what == resilience::verdict::fail) {
            result.failure_kind = std::move(decided.failure_kind);
            co_return result;
        }
        const auto retry_at = clock::now() + decided.delay;
        if (retry_at >= deadline) {
            result.failure_kind = "deadline";
            co_return result;
        }
        previous_delay = decided.delay;
        co_await wait_until(retry_at);
    }
}

}  // namespace harvest::net
