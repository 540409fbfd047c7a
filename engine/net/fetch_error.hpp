#pragma once
// Why an attempt ended without a usable response. One value per error kind of
// docs/metrics.md (`harvest_request_errors_total{kind}`); the network layer maps every
// Asio/Beast/OpenSSL error to one of these exactly once. Their names are core::failure_kind's.

#include "engine/core/failure_kind.hpp"

#include <boost/system/error_code.hpp>

#include <string_view>
#include <type_traits>

namespace harvest::net {

enum class fetch_error {
    // 0 is reserved for "no error" by the error_code convention.
    connect = 1,         // TCP connect refused or unreachable
    dns,                 // name did not resolve
    tls_handshake,       // TLS failed for a reason other than certificate verification
    tls_verify,          // peer certificate or host name did not verify; never retried
    timeout,             // one of http.timeouts ran out (connect, tls, headers, idle read, total)
    reset,               // the peer closed or reset the connection before the response ended
    protocol,            // the peer sent something that is not valid HTTP/1.1 (or a bad encoding)
    body_too_large,      // the body (raw or decoded) exceeded http.max_body
    too_many_redirects,  // more than http.max_redirects redirects
    unsupported_scheme,  // a URL or redirect Location whose scheme is not http or https
    cancelled,           // the crawl is stopping; not a failure of the URL
    egress_denied,       // every resolved address was refused by client_options::allow_endpoint
    proxy_connect,       // the proxy did not answer (refused, unreachable, connect timed out)
    proxy_auth,          // the proxy refused the credentials (407, SOCKS5 user/pass rejected)
    proxy_tunnel,        // CONNECT answered non-2xx, or a SOCKS5 failure or malformed reply
};

// True for the errors that say a proxy failed, not the target: they never count against the
// target host's breaker, and a crawl sends the request again through another proxy.
constexpr bool is_proxy_error(fetch_error e) noexcept {
    return e == fetch_error::proxy_connect || e == fetch_error::proxy_auth ||
           e == fetch_error::proxy_tunnel;
}

// The failure kind of the same name: an attempt's transport error as the error stream, the
// metrics and retry.on_errors name it.
constexpr core::failure_kind failure_kind_of(fetch_error e) noexcept {
    switch (e) {
        case fetch_error::connect:
            return core::failure_kind::connect;
        case fetch_error::dns:
            return core::failure_kind::dns;
        case fetch_error::tls_handshake:
            return core::failure_kind::tls_handshake;
        case fetch_error::tls_verify:
            return core::failure_kind::tls_verify;
        case fetch_error::timeout:
            return core::failure_kind::timeout;
        case fetch_error::reset:
            return core::failure_kind::reset;
        case fetch_error::protocol:
            return core::failure_kind::protocol;
        case fetch_error::body_too_large:
            return core::failure_kind::body_too_large;
        case fetch_error::too_many_redirects:
            return core::failure_kind::too_many_redirects;
        case fetch_error::unsupported_scheme:
            return core::failure_kind::unsupported_scheme;
        case fetch_error::cancelled:
            return core::failure_kind::cancelled;
        case fetch_error::egress_denied:
            return core::failure_kind::egress_denied;
        case fetch_error::proxy_connect:
            return core::failure_kind::proxy_connect;
        case fetch_error::proxy_auth:
            return core::failure_kind::proxy_auth;
        case fetch_error::proxy_tunnel:
            return core::failure_kind::proxy_tunnel;
    }
    // Not a fetch_error value (an error_code's int cast back): the peer sent nonsense.
    return core::failure_kind::protocol;
}

// The metrics/error-stream name of an error kind, e.g. "tls_verify"; "unknown" for a value that
// is not a fetch_error.
std::string_view to_string(fetch_error e) noexcept;

const boost::system::error_category& fetch_error_category() noexcept;

inline boost::system::error_code make_error_code(fetch_error e) noexcept {
    return {static_cast<int>(e), fetch_error_category()};
}

// The fetch_error a failed fetch's error_code stands for: its own value, or `protocol` for a
// code of another category (the client maps every error it knows to a fetch_error).
inline fetch_error fetch_error_of(const boost::system::error_code& code) noexcept {
    return code.category() == fetch_error_category() ? static_cast<fetch_error>(code.value())
                                                     : fetch_error::protocol;
}

}  // namespace harvest::net

template <>
struct boost::system::is_error_code_enum<harvest::net::fetch_error> : std::true_type {};
