#include "engine/net/url.hpp"

#include "engine/net/fetch_error.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <algorithm>
#include <cctype>

namespace harvest::net {

namespace {

std::string to_lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// 0 when the scheme is neither http nor https.
std::uint16_t default_port(std::string_view scheme) {
    if (scheme == "http") {
        return 80;
    }
    if (scheme == "https") {
        return 443;
    }
    return 0;
}

}  // namespace

boost::system::result<url_parts> parse_http_url(std::string_view url) {
    auto parsed = boost::urls::parse_absolute_uri(url);
    if (!parsed) {
        // A URI with a fragment is not an absolute-URI; accept it and ignore the fragment.
        auto with_fragment = boost::urls::parse_uri(url);
        if (!with_fragment) {
            return fetch_error::protocol;
        }
        parsed = with_fragment;
    }
    const boost::urls::url_view& u = *parsed;
    const std::string scheme = to_lower(u.scheme());
    const std::uint16_t default_p = default_port(scheme);
    if (default_p == 0) {
        return fetch_error::unsupported_scheme;
    }
    if (!u.has_authority() || u.encoded_host().empty()) {
        return fetch_error::protocol;
    }
    url_parts parts;
    parts.tls = scheme == "https";
    parts.port = default_p;
    if (u.has_port()) {
        if (u.port().empty()) {
            parts.port = default_p;  // "http://h:/" means the default port
        } else {
            // port_number() wraps silently on overflow: check the digits ourselves.
            unsigned long value = 0;
            for (char c : u.port()) {
                value = value * 10 + static_cast<unsigned long>(c - '0');
                if (value > 65535) {
                    return fetch_error::protocol;
                }
            }
            if (value == 0) {
                return fetch_error::protocol;
            }
            parts.port = static_cast<std::uint16_t>(value);
        }
    }
    switch (u.host_type()) {
        case boost::urls::host_type::ipv4:
            parts.host = u.host_ipv4_address().to_string();
            parts.host_is_ip = true;
            break;
        case boost::urls::host_type::ipv6:
            parts.host = u.host_ipv6_address().to_string();
            parts.host_is_ip = true;
            break;
        case boost::urls::host_type::name:
            parts.host = to_lower(u.host_name());
            break;
        default:
            return fetch_error::protocol;  // IPvFuture and friends
    }
    parts.host_header = u.encoded_host_and_port();
    parts.target = u.encoded_path().empty() ? "/" : std::string(u.encoded_path());
    if (u.has_query()) {
        parts.target += '?';
        parts.target += u.encoded_query();
    }
    return parts;
}

boost::system::result<std::string> resolve_url(std::string_view base, std::string_view reference) {
    auto base_url = boost::urls::parse_uri(base);
    if (!base_url) {
        return fetch_error::protocol;
    }
    auto ref = boost::urls::parse_uri_reference(reference);
    if (!ref) {
        return fetch_error::protocol;
    }
    boost::urls::url out;
    auto ec = boost::urls::resolve(*base_url, *ref, out);
    if (!ec) {
        return fetch_error::protocol;
    }
    out.remove_fragment();
    // Boost.URL 1.81 keeps ".." segments that climb above the root ("../../../g" against
    // "/b/c/d" gives "/../g"); RFC 3986 section 5.4.2 drops them.
    std::string_view path = out.encoded_path();
    std::size_t strip = 0;
    while (path.substr(strip).starts_with("/../") || path.substr(strip) == "/..") {
        strip += 3;
    }
    if (strip > 0) {
        std::string rest(path.substr(strip));
        out.set_encoded_path(rest.empty() ? "/" : rest);
    }
    return std::string(out.buffer());
}

std::string origin_key(const boost::urls::url_view& url) {
    const std::string scheme = to_lower(url.scheme());
    std::string key = scheme;
    key += "://";
    key += to_lower(url.encoded_host());
    key += ':';
    if (url.has_port() && !url.port().empty()) {
        key += std::to_string(url.port_number());
    } else {
        key += std::to_string(default_port(scheme));
    }
    return key;
}

}  // namespace harvest::net
