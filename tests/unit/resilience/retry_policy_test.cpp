#include "engine/resilience/retry_policy.hpp"

#include <catch2/catch.hpp>

namespace {

using namespace harvest;
using namespace harvest::resilience;
using harvest::core::failure_kind;
using std::chrono::milliseconds;
using std::chrono::seconds;

const auto wall = std::chrono::system_clock::time_point(seconds(1559559600));  // 2019-06-03 11:00Z

struct fixture {
    resilience::retry_options options;
    std::mt19937_64 rng{3};

    decision run(attempt_outcome outcome, unsigned attempts = 1, std::string_view method = "GET",
                 bool key = false) {
        return retry_policy(options).classify(outcome, attempts, method, key, {}, rng, wall);
    }
};

attempt_outcome status(unsigned s, std::string_view retry_after = "") {
    return {s, std::nullopt, retry_after};
}

attempt_outcome error(net::fetch_error e) {
    return {std::nullopt, e, ""};
}

}  // namespace

TEST_CASE("retry_policy: 2xx and 3xx succeed", "[unit][retry_policy]") {
    fixture f;
    for (unsigned s : {200u, 201u, 204u, 206u, 301u, 304u, 399u}) {
        const auto d = f.run(status(s), 4);
        CHECK(d.what == verdict::success);
    }
}

TEST_CASE("retry_policy: 4xx not listed fail status_4xx, never retried", "[unit][retry_policy]") {
    fixture f;
    for (unsigned s : {400u, 401u, 403u, 404u, 405u, 408u, 410u, 413u, 418u, 451u}) {
        INFO(s);
        const auto d = f.run(status(s, "5"));
        CHECK(d.what == verdict::fail);
        CHECK(d.failure == failure_kind::status_4xx);
    }
    SECTION("400, 401, 403, 404 are never retried, even when listed") {
        f.options.on_status = {400, 401, 403, 404, 418};
        for (unsigned s : {400u, 401u, 403u, 404u}) {
            CHECK(f.run(status(s)).failure == failure_kind::status_4xx);
        }
        CHECK(f.run(status(418)).what == verdict::retry);
    }
}

TEST_CASE("retry_policy: listed statuses retry until max_attempts", "[unit][retry_policy]") {
    fixture f;
    for (unsigned s : {429u, 500u, 502u, 503u, 504u}) {
        INFO(s);
        for (unsigned attempt = 1; attempt < 4; ++attempt) {
            const auto d = f.run(status(s), attempt);
            REQUIRE(d.what == verdict::retry);
            CHECK(d.reason == std::to_string(s));
            CHECK_FALSE(d.from_retry_after);
            // full_jitter: [0, min(30 s, 500 ms * 2^(n-1))]
            CHECK(d.delay <= milliseconds(500) * (1 << (attempt - 1)));
        }
        const auto last = f.run(status(s), 4);
        CHECK(last.what == verdict::fail);
        CHECK(last.failure == failure_kind::retries_exhausted);
    }
    SECTION("5xx not listed fail status_5xx") {
        for (unsigned s : {501u, 505u, 511u, 599u}) {
            CHECK(f.run(status(s)).failure == failure_kind::status_5xx);
        }
    }
    SECTION("max_attempts 1: no retry at all, and the failure is named for what happened") {
        f.options.max_attempts = 1;
        CHECK(f.run(status(503)).failure == failure_kind::status_5xx);
        CHECK(f.run(error(harvest::net::fetch_error::reset)).failure == failure_kind::reset);
    }
}

TEST_CASE("retry_policy: methods and idempotency keys", "[unit][retry_policy]") {
    fixture f;
    const retry_policy policy(f.options);
    for (const char* m : {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "get"}) {
        CHECK(policy.method_retryable(m, false));
    }
    CHECK_FALSE(policy.method_retryable("POST", false));
    CHECK_FALSE(policy.method_retryable("PATCH", false));
    CHECK_FALSE(policy.method_retryable("TRACE", true));
    CHECK(policy.method_retryable("POST", true));
    CHECK(policy.method_retryable("PATCH", true));

    CHECK(f.run(status(503), 1, "POST").failure == failure_kind::status_5xx);
    CHECK(f.run(status(429), 1, "POST").failure == failure_kind::status_4xx);
    CHECK(f.run(error(net::fetch_error::timeout), 1, "POST").failure == failure_kind::timeout);
    CHECK(f.run(status(503), 1, "POST", true).what == verdict::retry);
    CHECK(f.run(error(net::fetch_error::reset), 1, "PATCH", true).what == verdict::retry);
    // Not retryable and exhausted: the status, not retries_exhausted (there were no retries).
    CHECK(f.run(status(503), 4, "POST").failure == failure_kind::status_5xx);

    SECTION("any_method") {
        f.options.any_method = true;
        CHECK(f.run(status(503), 1, "POST").what == verdict::retry);
    }
    SECTION("errors retried whatever the method") {
        f.options.on_errors_any_method = {failure_kind::connect};
        CHECK(f.run(error(net::fetch_error::connect), 1, "POST").what == verdict::retry);
        CHECK(f.run(error(net::fetch_error::timeout), 1, "POST").what == verdict::fail);
    }
}

TEST_CASE("retry_policy: transport errors", "[unit][retry_policy]") {
    fixture f;
    using net::fetch_error;
    for (auto e : {fetch_error::connect, fetch_error::timeout, fetch_error::reset, fetch_error::dns,
                   fetch_error::tls_handshake}) {
        const auto d = f.run(error(e));
        INFO(net::to_string(e));
        CHECK(d.what == verdict::retry);
        CHECK(d.reason == net::to_string(e));
        CHECK(f.run(error(e), 4).failure == failure_kind::retries_exhausted);
    }
    for (auto e :
         {fetch_error::protocol, fetch_error::body_too_large, fetch_error::too_many_redirects,
          fetch_error::unsupported_scheme, fetch_error::cancelled, fetch_error::tls_verify}) {
        const auto d = f.run(error(e));
        CHECK(d.what == verdict::fail);
        CHECK(d.failure == net::failure_kind_of(e));
    }
    SECTION("tls_verify is never retried, even when listed") {
        f.options.on_errors.push_back(failure_kind::tls_verify);
        f.options.on_errors.push_back(failure_kind::protocol);
        CHECK(f.run(error(fetch_error::tls_verify)).failure == failure_kind::tls_verify);
        CHECK(f.run(error(fetch_error::protocol)).what == verdict::retry);
    }
    SECTION("an error wins over a status that arrived before it") {
        const auto d = f.run({200u, fetch_error::body_too_large, ""});
        CHECK(d.failure == failure_kind::body_too_large);
    }
    SECTION("neither status nor error") {
        CHECK(f.run({std::nullopt, std::nullopt, ""}).what == verdict::fail);
    }
}

TEST_CASE("retry_policy: Retry-After", "[unit][retry_policy]") {
    fixture f;
    SECTION("valid and within max: the server's delay") {
        auto d = f.run(status(503, "7"));
        CHECK(d.what == verdict::retry);
        CHECK(d.from_retry_after);
        CHECK(d.delay == seconds(7));
        d = f.run(status(429, "Mon, 03 Jun 2019 11:01:00 GMT"));
        CHECK(d.delay == seconds(60));
        CHECK(d.from_retry_after);
        d = f.run(status(503, "120"));
        CHECK(d.delay == seconds(120));  // == max is allowed
        d = f.run(status(503, "0"));
        CHECK(d.delay == seconds(0));
        CHECK(d.from_retry_after);
    }
    SECTION("longer than max: give up") {
        auto d = f.run(status(503, "121"));
        CHECK(d.what == verdict::fail);
        CHECK(d.failure == failure_kind::retry_after_too_long);
        d = f.run(status(503, "999999999999999999999"));
        CHECK(d.failure == failure_kind::retry_after_too_long);
        // ... unless clamping is asked for.
        f.options.retry_after_clamp = true;
        d = f.run(status(503, "999999999999999999999"));
        CHECK(d.what == verdict::retry);
        CHECK(d.delay == seconds(120));
    }
    SECTION("invalid: backoff") {
        const auto d = f.run(status(503, "soon"));
        CHECK(d.what == verdict::retry);
        CHECK_FALSE(d.from_retry_after);
        CHECK(d.delay <= milliseconds(500));
    }
    SECTION("not honoured: backoff, and a long one does not give up") {
        f.options.honor_retry_after = false;
        const auto d = f.run(status(503, "3600"));
        CHECK(d.what == verdict::retry);
        CHECK_FALSE(d.from_retry_after);
        CHECK(d.delay <= milliseconds(500));
    }
    SECTION("ignored on statuses that are not retried, and when exhausted") {
        CHECK(f.run(status(404, "1")).failure == failure_kind::status_4xx);
        CHECK(f.run(status(503, "1"), 4).failure == failure_kind::retries_exhausted);
        CHECK(f.run(status(503, "9999"), 4).failure == failure_kind::retries_exhausted);
    }
    SECTION("statuses retried only with a Retry-After") {
        f.options.on_status = {};
        f.options.on_status_with_retry_after = {413, 429, 503};
        CHECK(f.run(status(503)).failure == failure_kind::status_5xx);
        CHECK(f.run(status(503, "junk")).failure == failure_kind::status_5xx);
        CHECK(f.run(status(413, "3")).delay == seconds(3));
        f.options.honor_retry_after = false;
        CHECK(f.run(status(413, "3")).failure == failure_kind::status_4xx);
    }
}

TEST_CASE("retry_policy: backoff shapes", "[unit][retry_policy]") {
    fixture f;
    f.options.backoff = {resilience::backoff_strategy::none, milliseconds(200), seconds(1)};
    const retry_policy plain(f.options);
    CHECK(plain.backoff_delay(0, {}, f.rng) == milliseconds(0));
    CHECK(plain.backoff_delay(1, {}, f.rng) == milliseconds(200));
    CHECK(plain.backoff_delay(3, {}, f.rng) == milliseconds(800));
    CHECK(plain.backoff_delay(4, {}, f.rng) == seconds(1));
    CHECK(f.run(status(503), 2).delay == milliseconds(400));

    f.options.immediate_first_retry = true;
    f.options.backoff_jitter = milliseconds(400);
    const retry_policy shaped(f.options);
    CHECK(shaped.backoff_delay(1, {}, f.rng) == milliseconds(0));
    for (int i = 0; i < 1000; ++i) {
        const auto d2 = shaped.backoff_delay(2, {}, f.rng);
        REQUIRE(d2 >= milliseconds(400));
        REQUIRE(d2 <= milliseconds(800));
        const auto d3 = shaped.backoff_delay(3, {}, f.rng);
        REQUIRE(d3 >= milliseconds(800));
        REQUIRE(d3 <= seconds(1));
    }
}

TEST_CASE("breaker_outcome_of: transport errors and 5xx count against a host, 4xx not at all") {
    const auto of_status = [](unsigned status) {
        return breaker_outcome_of(attempt_outcome{status, std::nullopt, {}});
    };
    CHECK(of_status(200) == call_outcome::success);
    CHECK(of_status(304) == call_outcome::success);
    CHECK(of_status(404) == call_outcome::neutral);
    CHECK(of_status(429) == call_outcome::neutral);
    CHECK(of_status(500) == call_outcome::failure);
    CHECK(of_status(503) == call_outcome::failure);
    CHECK(breaker_outcome_of(attempt_outcome{std::nullopt, net::fetch_error::timeout, {}}) ==
          call_outcome::failure);
    CHECK(breaker_outcome_of(attempt_outcome{std::nullopt, net::fetch_error::reset, {}}) ==
          call_outcome::failure);
    CHECK(breaker_outcome_of(attempt_outcome{}) == call_outcome::failure);  // nothing arrived
}
