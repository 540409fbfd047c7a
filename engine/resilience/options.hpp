#pragma once
// Typed settings of the resilience module: token buckets, backoff, retries, circuit breakers
// and proxy rotation (the `rate_limit`, `retry`, `circuit_breaker` and `proxy_*` sections of a
// crawl config, docs/config.md), with the spec's defaults. Plain values: no I/O, no Asio.
// crawl::crawl_options composes them.

#include "engine/core/failure_kind.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace harvest::resilience {

using std::chrono::milliseconds;

struct bucket_options {
    double per_second = 0;  // 0 = unlimited
    double burst = 0;
};

struct rate_limit_options {
    bucket_options per_host{20, 20};
    bool adaptive = false;
    bucket_options global{0, 0};
};

enum class backoff_strategy { full_jitter, equal_jitter, decorrelated_jitter, none };

struct backoff_options {
    backoff_strategy strategy = backoff_strategy::full_jitter;
    milliseconds base{500};
    milliseconds max{30000};
};

struct retry_options {
    unsigned max_attempts = 4;  // tries in all, the first included
    std::vector<unsigned> on_status{429, 500, 502, 503, 504};
    // transport error kinds that are retried (config: core::retry_on_errors_kinds)
    std::vector<core::failure_kind> on_errors{
        core::failure_kind::connect,       core::failure_kind::timeout,
        core::failure_kind::reset,         core::failure_kind::dns,
        core::failure_kind::tls_handshake, core::failure_kind::proxy_connect,
        core::failure_kind::proxy_tunnel};
    backoff_options backoff;
    bool honor_retry_after = true;
    milliseconds retry_after_max{120000};
    std::vector<std::string> methods{"GET", "HEAD", "PUT", "DELETE", "OPTIONS"};
    std::string idempotency_header = "Idempotency-Key";
    std::vector<std::string> idempotency_methods{"POST", "PATCH"};
    double budget_ratio = 0.2;
    double budget_min_per_second = 5;

    // Added by resilience for the semantics of other libraries (urllib3, Scrapy), so that their
    // published test vectors can be replayed. The defaults keep the spec's behaviour.

    // Statuses retried only when the response carries a valid Retry-After and
    // honor_retry_after is on (urllib3 RETRY_AFTER_STATUS_CODES {413, 429, 503}).
    std::vector<unsigned> on_status_with_retry_after{};
    // true: every method is retried, `methods` and the idempotency key are not consulted
    // (urllib3 allowed_methods=None, Scrapy).
    bool any_method = false;
    // Error kinds retried whatever the method, because the request never left (urllib3 retries
    // connection errors for POST too).
    std::vector<core::failure_kind> on_errors_any_method{};
    // true: a Retry-After longer than retry_after_max is cut to it instead of failing with
    // `retry_after_too_long` (urllib3 DEFAULT_RETRY_AFTER_MAX clamp).
    bool retry_after_clamp = false;
    // true: the first retry is sent at once; backoff applies from the second retry on
    // (urllib3: no backoff after a single failure).
    bool immediate_first_retry = false;
    // Extra uniform [0, backoff_jitter] added to the strategy's delay, the sum capped at
    // backoff.max (urllib3 backoff_jitter).
    milliseconds backoff_jitter{0};
};

struct breaker_options {
    unsigned window = 20;
    unsigned min_calls = 10;
    double failure_rate = 0.5;
    // An opening lasts min_open_for the first time; each failed half-open probe doubles it, up
    // to open_for (Envoy's outlier ejection grows the same way). Closing resets it.
    milliseconds min_open_for{1000};
    milliseconds open_for{30000};
    unsigned half_open_probes = 2;
    milliseconds give_up_after{600000};
};

// proxy_rotation: which proxy an attempt goes through (resilience/proxy_pool.hpp).
enum class proxy_rotation { round_robin, random, sticky_per_host, sticky_per_session };

}  // namespace harvest::resilience
