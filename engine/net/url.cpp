#include "engine/net/url.hpp"

#include "engine/core/idna.hpp"
#include "engine/core/text.hpp"
#include "engine/net/fetch_error.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <algorithm>
#include <array>

namespace harvest::net {

namespace {

// Whether the authority ends where RFC 3986 says: the path after it is empty or starts with
// '/'. Boost.URL 1.81 reads "http://1.2.3.4.5/" as the IPv4 host 1.2.3.4 followed by the path
// ".5/" (and "http://[::1].x/" as [::1] and ".x/"): such a URL names another host than the
// one it seems to and is refused.
bool authority_ends_at_path(const boost::urls::url_view& u) {
    const auto path = u.encoded_path();
    return !u.has_authority() || path.empty() || path.front() == '/';
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

// Byte classes of split_simple_http_url, one table lookup per byte.
enum : unsigned char { host_char = 1, path_char = 2 };

constexpr std::array<unsigned char, 256> make_url_classes() {
    std::array<unsigned char, 256> classes{};
    for (int c = 0; c < 256; ++c) {
        const bool alnum =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        // unreserved (also a reg-name's characters besides pct-encoded and sub-delims)
        const bool unreserved = alnum || c == '-' || c == '.' || c == '_' || c == '~';
        // unreserved, sub-delims, ':' and '@' (RFC 3986 pchar without pct-encoded), and '/'
        const bool path =
            unreserved ||
            std::string_view("!$&'()*+,;=:@/").find(static_cast<char>(c)) != std::string_view::npos;
        classes[static_cast<std::size_t>(c)] =
            static_cast<unsigned char>((unreserved ? host_char : 0) | (path ? path_char : 0));
    }
    return classes;
}

constexpr std::array<unsigned char, 256> url_classes = make_url_classes();

bool is_host_char(char c) noexcept {
    return (url_classes[static_cast<unsigned char>(c)] & host_char) != 0;
}

// '?' is allowed in the query only.
bool is_path_char(char c) noexcept {
    return (url_classes[static_cast<unsigned char>(c)] & path_char) != 0;
}

enum class ipv4_match { none, exact, prefix };

// Whether `host` is an RFC 3986 IPv4address (four dec-octets, no leading zeros, each at most
// 255), or only starts with one (Boost.URL 1.81 then reads "1.2.3.4.5" as the address 1.2.3.4
// followed by a path ".5": such hosts are left to it, so both paths agree).
ipv4_match match_ipv4(std::string_view host) noexcept {
    int octets = 0;
    std::size_t i = 0;
    while (true) {
        const std::size_t start = i;
        unsigned value = 0;
        while (i < host.size() && core::is_ascii_digit(host[i]) && i - start < 3) {
            value = value * 10 + static_cast<unsigned>(host[i] - '0');
            ++i;
        }
        const std::size_t length = i - start;
        if (length == 0 || value > 255 || (length > 1 && host[start] == '0')) {
            return ipv4_match::none;
        }
        ++octets;
        if (octets == 4) {
            return i == host.size() ? ipv4_match::exact : ipv4_match::prefix;
        }
        if (i >= host.size() || host[i] != '.') {
            return ipv4_match::none;
        }
        ++i;
    }
}

}  // namespace

std::optional<simple_http_url> split_simple_http_url(std::string_view url) noexcept {
    simple_http_url out;
    std::string_view rest;
    if (url.starts_with("http://")) {
        out.scheme = url.substr(0, 4);
        rest = url.substr(7);
    } else if (url.starts_with("https://")) {
        out.scheme = url.substr(0, 5);
        rest = url.substr(8);
    } else {
        return std::nullopt;
    }
    std::size_t i = 0;
    while (i < rest.size() && is_host_char(rest[i])) {
        ++i;
    }
    out.host = rest.substr(0, i);
    if (out.host.empty()) {
        return std::nullopt;
    }
    if (i < rest.size() && rest[i] == ':') {
        const std::size_t start = ++i;
        while (i < rest.size() && core::is_ascii_digit(rest[i])) {
            ++i;
        }
        out.port = rest.substr(start, i - start);
        if (out.port.empty() || out.port.size() > 5) {
            return std::nullopt;
        }
    }
    const std::size_t path_start = i;
    if (i < rest.size() && rest[i] != '/' && rest[i] != '?') {
        return std::nullopt;  // userinfo, IPv6, '%', a fragment, ...: the general parser
    }
    while (i < rest.size() && is_path_char(rest[i])) {
        ++i;
    }
    out.path = rest.substr(path_start, i - path_start);
    if (i < rest.size() && rest[i] == '?') {
        const std::size_t start = ++i;
        while (i < rest.size() && (is_path_char(rest[i]) || rest[i] == '?')) {
            ++i;
        }
        out.has_query = true;
        out.query = rest.substr(start, i - start);
    }
    if (i != rest.size()) {
        return std::nullopt;
    }
    const ipv4_match ipv4 = match_ipv4(out.host);
    if (ipv4 == ipv4_match::prefix) {
        return std::nullopt;
    }
    out.host_is_ipv4 = ipv4 == ipv4_match::exact;
    if (!out.host_is_ipv4) {
        // A name ending in a number (its last label all digits, or "0x" and hex) is an IPv4
        // address in another spelling or an invalid one ("192.168.0.256"): core::host_to_ascii
        // decides, on the general path.
        std::string_view name = out.host;
        if (name.ends_with('.')) {
            name.remove_suffix(1);
        }
        const std::size_t dot = name.rfind('.');
        std::string_view last = dot == std::string_view::npos ? name : name.substr(dot + 1);
        const bool hex = last.starts_with("0x") || last.starts_with("0X");
        if (hex) {
            last.remove_prefix(2);
        }
        const bool number = std::all_of(last.begin(), last.end(), [hex](char c) {
            return core::is_ascii_digit(c) || (hex && core::is_ascii_hex(c));
        });
        if (number && (hex || !last.empty())) {
            return std::nullopt;
        }
    }
    return out;
}

boost::system::result<url_parts> parse_http_url(std::string_view url) {
    if (const auto simple = split_simple_http_url(url)) {
        // The common case without Boost.URL's general parser (the same pieces, see url.hpp).
        url_parts parts;
        parts.tls = simple->scheme == "https";
        parts.port = parts.tls ? 443 : 80;
        if (!simple->port.empty()) {
            unsigned long value = 0;
            for (char c : simple->port) {
                value = value * 10 + static_cast<unsigned long>(c - '0');
            }
            if (value == 0 || value > 65535) {
                return fetch_error::protocol;
            }
            parts.port = static_cast<std::uint16_t>(value);
        }
        // An IPv4address is written canonically (no leading zeros), so its text is its
        // to_string(); a name is lowercased.
        parts.host =
            simple->host_is_ipv4 ? std::string(simple->host) : core::ascii_lowered(simple->host);
        parts.host_is_ip = simple->host_is_ipv4;
        const std::size_t authority_end =
            simple->host.size() + (simple->port.empty() ? 0 : simple->port.size() + 1);
        parts.host_header = std::string(simple->host.data(), authority_end);
        parts.target.reserve(simple->path.size() + simple->query.size() + 2);
        if (simple->path.empty()) {
            parts.target = "/";
        } else {
            parts.target = simple->path;
        }
        if (simple->has_query) {
            parts.target += '?';
            parts.target += simple->query;
        }
        return parts;
    }
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
    if (!authority_ends_at_path(u)) {
        return fetch_error::protocol;
    }
    const std::string scheme = core::ascii_lowered(u.scheme());
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
        case boost::urls::host_type::name: {
            // Checked as the core reads a host (escapes decoded, IDNA, WHATWG's forbidden code
            // points, numeric hosts): "evil.com%2F.example.com", "example%EF%BC%83.com" or
            // "192.168.0.256" are refused here, before any lookup or connection.
            const std::string_view written(u.encoded_host().data(), u.encoded_host().size());
            auto name = core::host_to_ascii(written);
            if (!name) {
                return fetch_error::protocol;
            }
            if (written.find('%') != std::string_view::npos) {
                // Host header and SNI name the host that is looked up, not its escaped spelling.
                parts.host_header = *name;
                if (u.has_port() && !u.port().empty()) {
                    parts.host_header += ':';
                    parts.host_header.append(u.port().data(), u.port().size());
                }
            }
            parts.host = std::move(*name);
            break;
        }
        default:
            return fetch_error::protocol;  // IPvFuture and friends
    }
    if (parts.host_header.empty()) {
        parts.host_header = u.encoded_host_and_port();
    }
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

std::optional<origin_parts> split_origin(std::string_view url, bool key_only) {
    if (const auto simple = split_simple_http_url(url)) {
        const std::string_view default_port = simple->scheme == "https" ? "443" : "80";
        const std::string_view port = simple->port.empty() ? default_port : simple->port;
        origin_parts out;
        out.key.reserve(simple->scheme.size() + 3 + simple->host.size() + 1 + port.size());
        out.key.append(simple->scheme).append("://");
        const std::size_t host_at = out.key.size();
        for (const char c : simple->host) {
            out.key.push_back(core::ascii_lower(c));
        }
        out.key.append(":").append(port);
        if (!key_only) {
            out.host_port = out.key.substr(host_at);
            out.host = out.host_port.substr(0, out.host_port.size() - port.size() - 1);
            out.label = port == default_port ? out.host : out.host_port;
        }
        return out;
    }
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed || !parsed->has_authority() || parsed->encoded_host().empty() ||
        !authority_ends_at_path(*parsed) ||
        parsed->host_type() == boost::urls::host_type::ipvfuture) {
        return std::nullopt;  // no host, or none a fetch could reach (see parse_http_url)
    }
    const std::string scheme = core::ascii_lowered(parsed->scheme());
    const std::string_view default_port = scheme == "https" ? "443" : scheme == "http" ? "80" : "";
    const std::string_view port = parsed->has_port() && !parsed->port().empty()
                                      ? std::string_view(parsed->port())
                                      : default_port;
    std::string host = core::ascii_lowered(parsed->encoded_host());
    if (parsed->host_type() == boost::urls::host_type::name) {
        // The host the fetch would look up (see parse_http_url); none for a host it refuses.
        auto name = core::host_to_ascii(
            std::string_view(parsed->encoded_host().data(), parsed->encoded_host().size()));
        if (!name) {
            return std::nullopt;
        }
        host = std::move(*name);
    }
    origin_parts out;
    out.key = scheme + "://" + host + ":" + std::string(port);
    if (!key_only) {
        out.host = host;
        out.host_port = host + ":" + std::string(port);
        out.label = port == default_port ? out.host : out.host_port;
    }
    return out;
}

}  // namespace harvest::net
