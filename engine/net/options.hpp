#pragma once
// Typed settings of the net module: the `http` section of a crawl config (timeouts, TLS, HTTP
// version, body limit, decoding, headers, cookies; docs/config.md), with the spec's defaults.
// Plain values: no I/O, no Asio. crawl::crawl_options composes them.

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace harvest::net {

using std::chrono::milliseconds;

struct timeout_options {
    milliseconds connect{5000};
    milliseconds tls{5000};
    milliseconds response_headers{15000};
    milliseconds idle_read{15000};
    milliseconds total{60000};
};

struct tls_options {
    bool verify = true;
    std::string ca_file;  // empty = system store only
};

// http.version: which HTTP version requests speak.
enum class http_version {
    automatic,  // "auto": TLS ALPN decides (h2 offered first) on https; HTTP/1.1 on http
    http1_1,    // "1.1": HTTP/1.1 only, no ALPN offered
    http2,      // "2": h2 on https (ALPN must pick it), h2c with prior knowledge on http
};

struct http_options {
    timeout_options timeouts;
    http_version version = http_version::automatic;
    std::uint64_t max_body = 8ull << 20;  // after decoding, and on the wire
    unsigned max_redirects = 5;
    bool gzip = true;  // decompress: [gzip, deflate, br]
    bool deflate = true;
    bool br = true;
    std::vector<std::pair<std::string, std::string>> headers{{"Accept-Language", "en-US"}};
    tls_options tls;
    // http.cookies: a cookie jar per session (RFC 6265): Set-Cookie of every response (redirect
    // hops included) stored, cookies sent back. Per host too (a `hosts:` entry may turn it off).
    bool cookies = true;
    // http.referer: a followed link's request says which page it was found on (crawl-wide).
    bool referer = true;
    // Not a config key. true: an answer whose body exceeds max_body keeps its status and headers,
    // with an empty body (the rest is not read; the connection is closed), instead of failing
    // with body_too_large. For answers nobody reads, such as a webhook receiver's.
    bool discard_oversized_body = false;
};

}  // namespace harvest::net
