#include "engine/core/failure_kind.hpp"
#include "engine/net/fetch_error.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <string_view>

using harvest::core::failure_kind;
using harvest::core::failure_kind_names;
using harvest::core::parse_failure_kind;
using harvest::core::retry_on_errors_kinds;
using harvest::core::to_string;

static_assert(to_string(failure_kind::retries_exhausted) == "retries_exhausted");
static_assert(parse_failure_kind("circuit_open") == failure_kind::circuit_open);
static_assert(!parse_failure_kind("Circuit_Open"));

TEST_CASE("failure_kind: the names users see, byte for byte", "[unit][failure_kind]") {
    // docs/metrics.md (harvest_request_errors_total, harvest_failures_total), docs/items.md and
    // docs/bulk-api.md name these; a change here is a change of the documented output.
    CHECK(to_string(failure_kind::connect) == "connect");
    CHECK(to_string(failure_kind::dns) == "dns");
    CHECK(to_string(failure_kind::tls_handshake) == "tls_handshake");
    CHECK(to_string(failure_kind::tls_verify) == "tls_verify");
    CHECK(to_string(failure_kind::timeout) == "timeout");
    CHECK(to_string(failure_kind::reset) == "reset");
    CHECK(to_string(failure_kind::protocol) == "protocol");
    CHECK(to_string(failure_kind::body_too_large) == "body_too_large");
    CHECK(to_string(failure_kind::too_many_redirects) == "too_many_redirects");
    CHECK(to_string(failure_kind::unsupported_scheme) == "unsupported_scheme");
    CHECK(to_string(failure_kind::cancelled) == "cancelled");
    CHECK(to_string(failure_kind::egress_denied) == "egress_denied");
    CHECK(to_string(failure_kind::status_4xx) == "status_4xx");
    CHECK(to_string(failure_kind::status_5xx) == "status_5xx");
    CHECK(to_string(failure_kind::retries_exhausted) == "retries_exhausted");
    CHECK(to_string(failure_kind::retry_after_too_long) == "retry_after_too_long");
    CHECK(to_string(failure_kind::circuit_open) == "circuit_open");
    CHECK(to_string(failure_kind::robots_disallowed) == "robots_disallowed");
    CHECK(to_string(failure_kind::robots_unavailable) == "robots_unavailable");
    CHECK(to_string(failure_kind::invalid_url) == "invalid_url");
    CHECK(to_string(failure_kind::deadline) == "deadline");
    CHECK(to_string(failure_kind::no_item) == "no_item");
    CHECK(to_string(failure_kind::item_too_large) == "item_too_large");
    CHECK(to_string(failure_kind::unknown_profile) == "unknown_profile");
    CHECK(to_string(failure_kind::internal) == "internal");
    CHECK(to_string(failure_kind::proxy_connect) == "proxy_connect");
    CHECK(to_string(failure_kind::proxy_auth) == "proxy_auth");
    CHECK(to_string(failure_kind::proxy_tunnel) == "proxy_tunnel");
    CHECK(to_string(failure_kind::render_timeout) == "render_timeout");
    CHECK(to_string(failure_kind::render_crash) == "render_crash");
    CHECK(to_string(failure_kind::render_refused) == "render_refused");
    CHECK(to_string(static_cast<failure_kind>(200)) == "unknown");
}

TEST_CASE("failure_kind: every name parses back to its kind, and nothing else parses",
          "[unit][failure_kind]") {
    std::set<std::string_view> seen;
    for (std::size_t i = 0; i < failure_kind_names.size(); ++i) {
        const auto kind = static_cast<failure_kind>(i);
        INFO(to_string(kind));
        CHECK(seen.insert(to_string(kind)).second);  // names are distinct
        CHECK(parse_failure_kind(to_string(kind)) == kind);
    }
    for (std::string_view junk : {"", "unknown", "Timeout", "TIMEOUT", " timeout", "timeout ",
                                  "status_3xx", "retries-exhausted"}) {
        INFO(std::string(junk));
        CHECK_FALSE(parse_failure_kind(junk));
    }
    CHECK_FALSE(parse_failure_kind(std::string_view("timeout\0", 8)));
}

TEST_CASE("failure_kind: each fetch_error maps to the kind of its own name",
          "[unit][failure_kind]") {
    using harvest::net::fetch_error;
    for (int value = static_cast<int>(fetch_error::connect);
         value <= static_cast<int>(fetch_error::proxy_tunnel); ++value) {
        const auto error = static_cast<fetch_error>(value);
        INFO(value);
        CHECK(to_string(harvest::net::failure_kind_of(error)) == harvest::net::to_string(error));
        CHECK(make_error_code(error).message() == std::string(harvest::net::to_string(error)));
    }
    CHECK(harvest::net::to_string(static_cast<fetch_error>(0)) == "unknown");
    CHECK(harvest::net::to_string(static_cast<fetch_error>(99)) == "unknown");
}

TEST_CASE("failure_kind: the transport errors retry.on_errors may name", "[unit][failure_kind]") {
    std::string names;
    for (const auto kind : retry_on_errors_kinds) {
        names += (names.empty() ? "" : ", ") + std::string(to_string(kind));
    }
    // The order of the config loader's "must be one of ..." message.
    CHECK(names ==
          "connect, dns, tls_handshake, tls_verify, timeout, reset, protocol, body_too_large, "
          "too_many_redirects, proxy_connect, proxy_auth, proxy_tunnel");
}
