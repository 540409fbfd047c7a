#pragma once
// One request delivered to one target with the engine's own resilience: the target's
// resilience::host_guard (token bucket, circuit breaker, retry budget — the rules a crawl's
// hosts follow), the crawl's retry decision (retry_policy::classify: which
// statuses and errors are retried, jittered backoff, Retry-After), bounded attempts and one
// deadline for the whole delivery, each attempt's timeouts clamped to what is left of it.
//
// For requests the engine sends on its own behalf rather than crawls: webhook batches, signed
// completion callbacks. The request is sent as given on every attempt, so an Idempotency-Key
// header (retry.idempotency_header) in it stays the same across retries; a POST is retried only
// when it carries one (retry.idempotency_methods), as for crawled requests.
//
// One sender per target origin: its bucket and breaker describe that target. Thread-safety:
// send() may run from any number of coroutines on any threads at once; the policies sit behind
// a mutex that is never held across a suspension point. The sender and the client must outlive
// every send().

#include "engine/core/failure_kind.hpp"
#include "engine/net/fetch_error.hpp"
#include "engine/net/http_client.hpp"
#include "engine/net/sender_options.hpp"
#include "engine/resilience/host_guard.hpp"
#include "engine/resilience/retry_policy.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>

namespace harvest::net {

enum class send_outcome { delivered, given_up };

struct send_result {
    send_outcome outcome = send_outcome::given_up;
    unsigned attempts = 0;             // requests sent, the first included
    std::optional<unsigned> status;    // the last response's status, if one arrived
    std::optional<fetch_error> error;  // the last attempt's transport error, if any
    // given_up: retry_policy's failure kind (status_4xx, retries_exhausted, timeout, ...),
    // circuit_open (the breaker stayed open past the deadline) or deadline (the next attempt
    // would start after it).
    core::failure_kind failure = core::failure_kind::internal;
    http_response response;  // delivered: the answer (a status below 400)

    bool delivered() const noexcept { return outcome == send_outcome::delivered; }
};

// What one attempt of a send() came to, for the caller's logs and metrics.
struct attempt_report {
    unsigned attempt = 0;              // 1-based
    std::optional<unsigned> status;    // the answer's status, if one arrived
    std::optional<fetch_error> error;  // the transport error, if any
    bool retrying = false;             // another attempt follows
};

// Called from send()'s coroutine, never concurrently for one send().
struct send_hooks {
    // Just before each attempt goes out (after every wait), with the request as it will be sent:
    // e.g. a signature over the current time.
    std::function<void(http_request&, unsigned attempt)> before_attempt;
    std::function<void(const attempt_report&)> after_attempt;
};

class resilient_sender {
  public:
    // seed: for the backoff jitter; a fixed seed gives a fixed sequence of delays.
    resilient_sender(http_client& client, sender_options options,
                     std::uint64_t seed = std::random_device{}());
    resilient_sender(const resilient_sender&) = delete;
    resilient_sender& operator=(const resilient_sender&) = delete;

    // Delivers `request` or gives up; never throws for anything the network or the target
    // does. Waits run on the calling coroutine's executor.
    boost::asio::awaitable<send_result> send(http_request request);
    boost::asio::awaitable<send_result> send(http_request request, send_hooks hooks);

    // The target's breaker as a gauge would show it now.
    resilience::breaker_state breaker_state() const;

  private:
    // What the policies allow now: a permit, or when to ask again.
    struct admission {
        std::optional<resilience::breaker_permit> permit;
        resilience::clock::time_point retry_at{};
        bool breaker_open = false;
    };
    [[nodiscard]] admission admit(resilience::clock::time_point now);
    // The target's retry budget: true (and counted) when a retry may be sent now.
    [[nodiscard]] bool try_retry(resilience::clock::time_point now);

    http_client& client_;
    std::shared_ptr<const http_options> http_;
    std::chrono::milliseconds deadline_;
    bool retry_every_failure_;
    resilience::retry_policy policy_;
    mutable std::mutex mutex_;      // guards the two below
    resilience::host_guard guard_;  // the target's bucket, breaker and retry budget
    std::mt19937_64 rng_;
};

}  // namespace harvest::net
