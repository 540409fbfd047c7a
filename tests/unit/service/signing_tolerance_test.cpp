// Webhook signatures (issue 17, items 6 and 9): an empty secret never signs or verifies, and a
// signature older (or newer) than the tolerance is refused, so a captured request cannot be
// replayed later.

#include "service/signing.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <limits>
#include <string>

using namespace harvest;

TEST_CASE("webhook signature: an empty secret never verifies", "[unit][service]") {
    const std::string body = R"({"event_id":"evt_1"})";
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    // What a forger computes without knowing any secret: HMAC with an empty key.
    const auto forged = service::webhook_signature("", now, body);
    CHECK_FALSE(service::verify_webhook_signature("", forged, body));
    CHECK_FALSE(service::verify_webhook_signature("", "t=" + std::to_string(now) + ",v1=", body));
}

TEST_CASE("webhook signature: a stale signature is refused by the 3-argument form",
          "[unit][service]") {
    const std::string body = R"({"event_id":"evt_2"})";
    using std::chrono::seconds;
    // Checked against the current time: a signature from 2023 is far outside the tolerance.
    const auto old = service::webhook_signature("s3cret", 1'700'000'000, body);
    CHECK_FALSE(service::verify_webhook_signature("s3cret", old, body));
    const auto fresh = service::webhook_signature(
        "s3cret",
        std::chrono::duration_cast<seconds>(std::chrono::system_clock::now().time_since_epoch())
            .count(),
        body);
    CHECK(service::verify_webhook_signature("s3cret", fresh, body));
}

TEST_CASE("webhook signature: the timestamp must be within the tolerance (default 5 min)",
          "[unit][service]") {
    const std::string body = R"({"event_id":"evt_3"})";
    const std::int64_t now = 1'800'000'000;
    const auto at = [&](std::int64_t t) { return service::webhook_signature("s3cret", t, body); };
    using std::chrono::seconds;
    CHECK(service::verify_webhook_signature("s3cret", at(now), body, now));
    CHECK(service::verify_webhook_signature("s3cret", at(now - 300), body, now));
    CHECK(service::verify_webhook_signature("s3cret", at(now + 300), body, now));
    CHECK_FALSE(service::verify_webhook_signature("s3cret", at(now - 301), body, now));
    CHECK_FALSE(service::verify_webhook_signature("s3cret", at(now + 301), body, now));
    CHECK(service::verify_webhook_signature("s3cret", at(now - 3000), body, now, seconds(3600)));
    CHECK_FALSE(service::verify_webhook_signature("s3cret", at(now), body + " ", now));
    // Extreme timestamps neither overflow nor pass.
    CHECK_FALSE(service::verify_webhook_signature(
        "s3cret", at(std::numeric_limits<std::int64_t>::min()), body, now));
    CHECK_FALSE(service::verify_webhook_signature(
        "s3cret", at(std::numeric_limits<std::int64_t>::max()), body, now));
}
