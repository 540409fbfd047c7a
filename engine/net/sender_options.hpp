#pragma once
// How a resilient_sender (resilient_sender.hpp) delivers to its target. Plain values, no Asio:
// configs and output specs carry them.

#include "engine/net/options.hpp"
#include "engine/resilience/options.hpp"

#include <chrono>
#include <memory>

namespace harvest::net {

struct sender_options {
    // Timeouts, TLS, max_body of every attempt; null = http_options{}.
    std::shared_ptr<const http_options> http;
    resilience::retry_options retry;
    resilience::bucket_options rate{0, 0};  // the target's token bucket; per_second 0 = unlimited
    resilience::breaker_options breaker;    // the target's circuit breaker
    // The whole delivery (attempts, backoff, waits for a token or a closed breaker) ends this
    // long after send() began.
    std::chrono::milliseconds deadline{std::chrono::minutes(10)};
    // Signed callbacks (the bulk service's webhooks, docs/bulk-api.md "Webhook"): only a 2xx
    // answer delivers, and any other answer or transport error (a cancel excepted) is retried
    // while retry.max_attempts allows, whatever retry.on_status and on_errors list.
    bool retry_every_failure = false;
};

}  // namespace harvest::net
