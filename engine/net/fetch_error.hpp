#pragma once
// Why an attempt ended without a usable response. One value per error kind of
// shared/spec/metrics.md (`harvest_request_errors_total{kind}`); the network layer maps every
// Asio/Beast/OpenSSL error to one of these exactly once.

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
};

// The metrics/error-stream name of an error kind, e.g. "tls_verify".
std::string_view to_string(fetch_error e) noexcept;

const boost::system::error_category& fetch_error_category() noexcept;

inline boost::system::error_code make_error_code(fetch_error e) noexcept {
    return {static_cast<int>(e), fetch_error_category()};
}

}  // namespace harvest::net

template <>
struct boost::system::is_error_code_enum<harvest::net::fetch_error> : std::true_type {};
