#pragma once
// URL helpers of the network layer: parsing a fetch target, resolving a redirect Location (or a
// link) against the URL it came from, and naming a connection pool's origin. Boost.URL only;
// no Asio, so link following can use them from the core.

#include <boost/system/result.hpp>
#include <boost/url/url_view.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace harvest::net {

// What the client needs from an absolute http(s) URL.
struct url_parts {
    bool tls = false;
    std::string host;         // host name or IP address, without IPv6 brackets
    std::uint16_t port = 0;   // explicit port, or 80 / 443
    std::string host_header;  // Host header value: host as written, ":port" if the URL had one
    std::string target;       // path (at least "/") and "?query"; never the fragment
    bool host_is_ip = false;  // no SNI for IP literals
};

// An absolute http(s) URL in the plain form nearly every crawled URL has, cut into its pieces
// without a general URI parser: a lowercase "http" or "https" scheme; a host of letters,
// digits, '-', '.', '_' and '~'; an optional port of 1 to 5 digits; a path and query of
// unreserved and sub-delimiter characters, ':', '@', '/' and '?' only (no '%', no fragment).
// nullopt for anything else, which then needs Boost.URL. Every URL it accepts is a valid
// absolute URI whose Boost.URL pieces are these views.
struct simple_http_url {
    std::string_view scheme;  // "http" or "https"
    std::string_view host;    // as written
    std::string_view port;    // the digits, or empty when the URL has no port
    std::string_view path;    // may be empty
    std::string_view query;   // without '?'
    bool has_query = false;
    bool host_is_ipv4 = false;  // RFC 3986 IPv4address (dec-octets), as Boost.URL decides
};
[[nodiscard]] std::optional<simple_http_url> split_simple_http_url(std::string_view url) noexcept;

// Parses an absolute URL. Errors: fetch_error::unsupported_scheme for anything but http/https,
// fetch_error::protocol for a malformed URL, a missing host or a bad port.
[[nodiscard]] boost::system::result<url_parts> parse_http_url(std::string_view url);

// Resolves `reference` (absolute, scheme-relative, absolute-path or relative) against the
// absolute URL `base` (RFC 3986 section 5), dropping the fragment. Errors: fetch_error::protocol
// when either does not parse.
[[nodiscard]] boost::system::result<std::string> resolve_url(std::string_view base,
                                                             std::string_view reference);

// A URL's origin, the unit of every per-host table (the crawl's frontier and its Redis twin,
// the bulk service's guards, a config's `hosts:` entries, the metrics' host label).
struct origin_parts {
    std::string key;        // "scheme://host:port": scheme and host lower-cased, port always there
    std::string host;       // lower-cased
    std::string host_port;  // host:port, port always there (a `hosts:` entry may name either)
    std::string label;      // host, or host:port when the port is not the scheme's default
};
// Nullopt for a URL without a host. `key_only` fills `key` alone (a lookup of a known origin).
// Plain http(s) URLs take a fast path without Boost.URL's general parser; the result is the same.
[[nodiscard]] std::optional<origin_parts> split_origin(std::string_view url, bool key_only = false);

}  // namespace harvest::net
