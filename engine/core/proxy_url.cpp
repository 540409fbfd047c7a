#include "engine/core/proxy_url.hpp"

#include "engine/core/text.hpp"

#include <algorithm>
#include <charconv>

namespace harvest::core {

namespace {

constexpr std::string_view expected_form =
    "a proxy URL like http://host:3128, http://user:pass@host:3128, socks5://host:1080 or "
    "socks5h://user:pass@host:1080";

// Percent-decodes user info; nullopt on a broken escape or a byte that would let the value
// split a header or a SOCKS5 field (CR, LF, NUL).
std::optional<std::string> decode_userinfo(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '%') {
            if (text.size() - i < 3) {
                return std::nullopt;
            }
            const int high = hex_value(text[i + 1]);
            const int low = hex_value(text[i + 2]);
            if (high < 0 || low < 0) {
                return std::nullopt;
            }
            c = static_cast<char>(high * 16 + low);
            i += 2;
        }
        if (c == '\r' || c == '\n' || c == '\0') {
            return std::nullopt;
        }
        out.push_back(c);
    }
    return out;
}

bool valid_name(std::string_view host) noexcept {
    if (host.empty() || host.size() > 253) {
        return false;
    }
    return std::all_of(host.begin(), host.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.' || c == '_';
    });
}

bool valid_ipv6(std::string_view host) noexcept {
    return !host.empty() && host.size() <= 45 && host.find(':') != std::string_view::npos &&
           std::all_of(host.begin(), host.end(),
                       [](char c) { return hex_value(c) >= 0 || c == ':' || c == '.'; });
}

std::nullopt_t fail(std::string* error, std::string message) {
    if (error != nullptr) {
        *error = std::move(message);
    }
    return std::nullopt;
}

}  // namespace

std::string proxy_url::label() const {
    std::string out;
    const bool v6 = host.find(':') != std::string::npos;
    out.append(v6 ? "[" : "").append(host).append(v6 ? "]" : "");
    out.append(":").append(std::to_string(port));
    return out;
}

std::optional<proxy_url> parse_proxy_url(std::string_view text, std::string* error) {
    proxy_url out;
    const auto scheme_end = text.find("://");
    if (scheme_end == std::string_view::npos) {
        return fail(error, "expected " + std::string(expected_form) + " (no scheme)");
    }
    const std::string_view scheme = text.substr(0, scheme_end);
    if (iequals(scheme, "http")) {
        out.scheme = proxy_scheme::http;
    } else if (iequals(scheme, "socks5")) {
        out.scheme = proxy_scheme::socks5;
    } else if (iequals(scheme, "socks5h")) {
        out.scheme = proxy_scheme::socks5h;
    } else if (iequals(scheme, "https")) {
        return fail(error,
                    "https:// proxies are not supported; use http:// (https:// targets go "
                    "through it in a CONNECT tunnel, TLS end to end)");
    } else {
        return fail(error, "unsupported proxy scheme '" + std::string(scheme) +
                               "'; expected http, socks5 or socks5h");
    }
    std::string_view rest = text.substr(scheme_end + 3);
    // A trailing "/" is allowed; any other path, a query or a fragment is not.
    if (!rest.empty() && rest.back() == '/') {
        rest.remove_suffix(1);
    }
    if (rest.find_first_of("/?#") != std::string_view::npos) {
        return fail(error, "a proxy URL has no path, query or fragment; expected " +
                               std::string(expected_form));
    }
    if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
        const std::string_view userinfo = rest.substr(0, at);
        rest = rest.substr(at + 1);
        const auto colon = userinfo.find(':');
        auto user = decode_userinfo(userinfo.substr(0, colon));
        auto password = decode_userinfo(
            colon == std::string_view::npos ? std::string_view{} : userinfo.substr(colon + 1));
        if (!user || !password) {
            return fail(error,
                        "bad percent-escape or control character in the proxy's user:password");
        }
        if (user->empty()) {
            return fail(error, "the proxy's user name is empty; write user:password@host:port");
        }
        // RFC 1929 carries each in one length byte; an HTTP proxy gets the same limit.
        if (user->size() > 255 || password->size() > 255) {
            return fail(error, "the proxy's user name and password are 255 bytes at most");
        }
        out.user = std::move(*user);
        out.password = std::move(*password);
    }
    std::string_view host;
    std::string_view port;
    if (!rest.empty() && rest.front() == '[') {
        const auto close = rest.find(']');
        if (close == std::string_view::npos) {
            return fail(error, "unclosed '[' in the proxy's IPv6 address");
        }
        host = rest.substr(1, close - 1);
        if (!valid_ipv6(host)) {
            return fail(error, "the proxy's host in [...] is not an IPv6 address");
        }
        rest = rest.substr(close + 1);
        if (rest.empty() || rest.front() != ':') {
            return fail(error, "the proxy needs a port, like [::1]:1080");
        }
        port = rest.substr(1);
    } else {
        const auto colon = rest.rfind(':');
        if (colon == std::string_view::npos) {
            return fail(error, "the proxy needs a port, like host:3128 (there is no default)");
        }
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
        if (!valid_name(host)) {
            // The text is not echoed: a mistyped URL may hold a password.
            return fail(error,
                        "the proxy's host is not a host name or IPv4 address (letters, digits, "
                        "'-', '.', '_')");
        }
    }
    unsigned value = 0;
    const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value == 0 ||
        value > 65535) {
        return fail(error, "the proxy's port must be a number from 1 to 65535");
    }
    out.host = std::string(host);
    out.port = static_cast<std::uint16_t>(value);
    return out;
}

std::optional<proxy_line_error> read_proxy_lines(std::istream& in, std::vector<proxy_url>& out) {
    std::string line;
    int number = 0;
    // Bounded by the file.
    while (std::getline(in, line)) {
        ++number;
        const auto hash = line.find('#');
        const std::string_view rest(line.data(), hash == std::string::npos ? line.size() : hash);
        const auto first = rest.find_first_not_of(" \t\r");
        if (first == std::string_view::npos) {
            continue;
        }
        const auto last = rest.find_last_not_of(" \t\r");
        std::string why;
        auto url = parse_proxy_url(rest.substr(first, last - first + 1), &why);
        if (!url) {
            return proxy_line_error{number, static_cast<int>(first) + 1,
                                    "not a valid proxy URL: " + why};
        }
        out.push_back(std::move(*url));
    }
    return std::nullopt;
}

}  // namespace harvest::core
