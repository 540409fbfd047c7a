#pragma once
// Why a request (or a webhook batch) was given up for good, or why an attempt got no usable
// response: the `kind` label of harvest_failures_total and harvest_request_errors_total
// (docs/metrics.md), the `error` and `last_error` of the error stream (docs/items.md) and the
// names retry.on_errors lists (docs/config.md). One enum so that every front end, the retry
// policy, the metrics and the config loader spell a kind the same way; the names below are
// what users see and must not change.
//
// Header-only and dependency-free (no Boost, no Asio), like core/text.hpp.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace harvest::core {

enum class failure_kind : std::uint8_t {
    // Transport errors: net::fetch_error's values, in its order (net::failure_kind_of maps them).
    connect,             // TCP connect refused or unreachable
    dns,                 // name did not resolve
    tls_handshake,       // TLS failed for a reason other than certificate verification
    tls_verify,          // peer certificate or host name did not verify; never retried
    timeout,             // one of http.timeouts ran out
    reset,               // the peer closed or reset the connection before the response ended
    protocol,            // the peer sent something that is not valid HTTP/1.1
    body_too_large,      // the body exceeded http.max_body
    too_many_redirects,  // more than http.max_redirects redirects
    unsupported_scheme,  // a URL or redirect Location whose scheme is not http or https
    cancelled,           // the crawl is stopping; not a failure of the URL
    egress_denied,       // every resolved address was refused by the egress hook
    // Decided by resilience::retry_policy.
    status_4xx,            // a 4xx that is not retried
    status_5xx,            // a 5xx not in retry.on_status, or with retries off
    retries_exhausted,     // retry.max_attempts ran out
    retry_after_too_long,  // Retry-After beyond retry.retry_after.max
    // Decided before or around an attempt.
    circuit_open,        // the host's breaker stayed open (circuit_breaker.give_up_after)
    robots_disallowed,   // robots.txt disallows the URL
    robots_unavailable,  // robots.txt answered 5xx or not at all (RFC 9309: disallow all)
    invalid_url,         // the URL does not parse or is not http(s)
    deadline,            // resilient_sender: the next attempt would start after the deadline
    // Decided by the bulk service after a good answer, or before any attempt.
    no_item,          // the page yielded no item (docs/bulk-api.md)
    item_too_large,   // the item's data is over max_item_bytes
    unknown_profile,  // the job's profile is no longer in the service's config
    internal,         // a bug or an exception where none was expected (webhook delivery)
    // Transport errors of an attempt sent through a proxy (`proxies:`); net::fetch_error's
    // values after egress_denied. Last so that the values above keep their numbers.
    proxy_connect,  // the proxy did not answer (connect refused, unreachable, timed out), or
                    // no proxy was usable for the host (every one open or benched)
    proxy_auth,     // the proxy refused our credentials (407, SOCKS5 user/pass rejected)
    proxy_tunnel,   // CONNECT refused (non-2xx) or a SOCKS5 failure reply or malformed answer
    // Rendering (render: on a rule): the page was fetched, the browser could not render it.
    render_timeout,  // render.timeout ran out before the page was ready (wait_for) and read
    render_crash,    // the browser crashed or hung on every attempt (render.max_attempts)
    render_refused,  // the browser refused or gave up the page's navigation (a download):
                     // the same page would fail the same way
};

inline constexpr std::array<std::string_view, 31> failure_kind_names{
    "connect",
    "dns",
    "tls_handshake",
    "tls_verify",
    "timeout",
    "reset",
    "protocol",
    "body_too_large",
    "too_many_redirects",
    "unsupported_scheme",
    "cancelled",
    "egress_denied",
    "status_4xx",
    "status_5xx",
    "retries_exhausted",
    "retry_after_too_long",
    "circuit_open",
    "robots_disallowed",
    "robots_unavailable",
    "invalid_url",
    "deadline",
    "no_item",
    "item_too_large",
    "unknown_profile",
    "internal",
    "proxy_connect",
    "proxy_auth",
    "proxy_tunnel",
    "render_timeout",
    "render_crash",
    "render_refused",
};
static_assert(failure_kind_names.size() ==
                  static_cast<std::size_t>(failure_kind::render_refused) + 1,
              "one name per failure_kind");

// The name users see, e.g. "retries_exhausted". Out-of-range values give "unknown".
constexpr std::string_view to_string(failure_kind kind) noexcept {
    const auto index = static_cast<std::size_t>(kind);
    return index < failure_kind_names.size() ? failure_kind_names[index] : "unknown";
}

// The kind named exactly `name` (names are lower case; no other spelling is accepted).
[[nodiscard]] constexpr std::optional<failure_kind> parse_failure_kind(
    std::string_view name) noexcept {
    for (std::size_t i = 0; i < failure_kind_names.size(); ++i) {
        if (failure_kind_names[i] == name) {
            return static_cast<failure_kind>(i);
        }
    }
    return std::nullopt;
}

// The transport errors that retry.on_errors may name, in the order the config loader's error
// message lists them. The other transport kinds (unsupported_scheme, cancelled, egress_denied)
// are refused there: no retry could change them.
inline constexpr std::array<failure_kind, 12> retry_on_errors_kinds{
    failure_kind::connect,
    failure_kind::dns,
    failure_kind::tls_handshake,
    failure_kind::tls_verify,
    failure_kind::timeout,
    failure_kind::reset,
    failure_kind::protocol,
    failure_kind::body_too_large,
    failure_kind::too_many_redirects,
    failure_kind::proxy_connect,
    failure_kind::proxy_auth,
    failure_kind::proxy_tunnel,
};

}  // namespace harvest::core
