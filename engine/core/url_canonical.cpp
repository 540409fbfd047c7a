// URL canonicalization (w3lib's canonicalize_url and safe_url_string): the URL split into its
// parts, each part normalized, and the parts joined again; plus the is_canonical_url shortcut.
// Percent-encoding lives in percent_encoding.cpp, IDNA in idna.cpp, fingerprints in
// url_fingerprint.cpp.

#include "engine/core/url_canonical.hpp"

#include "engine/core/detail/percent_encoding.hpp"
#include "engine/core/idna.hpp"
#include "engine/core/text.hpp"
#include "engine/core/url_path.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/url/ipv6_address.hpp>
#include <boost/url/parse.hpp>

namespace harvest::core {

namespace {

using boost::system::result;
using detail::append_quoted;
using detail::char_set;
using detail::encode_or_utf8;
using detail::encode_text;
using detail::escaped_byte_at;
using detail::invalid_url;
using detail::k_path_safe;
using detail::k_path_safest;
using detail::k_safe;
using detail::k_safe_extra;
using detail::k_special_query_safest;
using detail::k_unreserved;
using detail::k_userinfo_safest;
using detail::quote;
using detail::quote_plus;
using detail::sanitize_input;
using detail::unquote;

bool is_ascii_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// ---------------------------------------------------------------------------------------------
// Splitting

bool is_special_scheme(std::string_view scheme) {
    return scheme == "http" || scheme == "https" || scheme == "ws" || scheme == "wss" ||
           scheme == "ftp" || scheme == "file";
}

// Python's urllib.parse.uses_netloc (the schemes urlunsplit writes "//" for).
bool uses_netloc(std::string_view scheme) {
    static constexpr std::array<std::string_view, 24> k_schemes = {
        "ftp", "http",    "gopher", "nntp",  "telnet",   "imap",    "wais",  "file",
        "mms", "https",   "shttp",  "snews", "prospero", "rtsp",    "rtspu", "rsync",
        "svn", "svn+ssh", "sftp",   "nfs",   "git",      "git+ssh", "ws",    "wss"};
    return std::find(k_schemes.begin(), k_schemes.end(), scheme) != k_schemes.end();
}

std::optional<std::uint16_t> default_port(std::string_view scheme) {
    if (scheme == "http" || scheme == "ws") {
        return 80;
    }
    if (scheme == "https" || scheme == "wss") {
        return 443;
    }
    if (scheme == "ftp") {
        return 21;
    }
    return std::nullopt;
}

struct split_url {
    std::string scheme;  // lower-cased, empty when none
    bool has_netloc = false;
    std::string netloc;
    std::string path;
    std::string query;
    std::string fragment;
};

// Python's urlsplit (strict_scheme: scheme characters checked, as urlsplit does) or w3lib's
// _urlparse (strict_scheme false: any text before the first ':' that starts with a letter).
split_url split(std::string_view s, bool strict_scheme, bool backslash_is_slash) {
    split_url parts;
    std::string rest(s);
    const std::size_t colon = rest.find(':');
    if (colon != std::string::npos && colon > 0 && is_ascii_alpha(rest[0])) {
        bool ok = true;
        if (strict_scheme) {
            ok = std::all_of(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(colon),
                             [](char c) {
                                 return is_ascii_alpha(c) || (c >= '0' && c <= '9') || c == '+' ||
                                        c == '-' || c == '.';
                             });
        }
        if (ok) {
            parts.scheme = ascii_lowered(rest.substr(0, colon));
            rest.erase(0, colon + 1);
        }
    }
    if (backslash_is_slash && is_special_scheme(parts.scheme)) {
        // URL standard: in special schemes '\' is a path separator until the query/fragment.
        const std::size_t end = std::min(rest.find_first_of("?#"), rest.size());
        std::replace(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(end), '\\', '/');
    }
    if (rest.size() >= 2 && rest[0] == '/' && rest[1] == '/') {
        const std::size_t end = std::min(rest.find_first_of("/?#", 2), rest.size());
        parts.has_netloc = true;
        parts.netloc = rest.substr(2, end - 2);
        rest.erase(0, end);
    }
    if (const std::size_t hash = rest.find('#'); hash != std::string::npos) {
        parts.fragment = rest.substr(hash + 1);
        rest.erase(hash);
    }
    if (const std::size_t q = rest.find('?'); q != std::string::npos) {
        parts.query = rest.substr(q + 1);
        rest.erase(q);
    }
    parts.path = std::move(rest);
    return parts;
}

struct authority {
    bool has_userinfo = false;
    std::string username;
    bool has_password = false;
    std::string password;
    std::string host;  // without brackets; a name is ASCII (host_to_ascii), a literal lower-cased
    bool bracketed = false;
    bool has_port = false;  // a ':' after the host, even with no digits
    std::optional<std::uint32_t> port;
};

// RFC 3986 IPvFuture: "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ).
bool is_ipvfuture(std::string_view s) {
    if (s.size() < 4 || (s[0] != 'v' && s[0] != 'V')) {
        return false;
    }
    std::size_t i = 1;
    while (i < s.size() && is_ascii_hex(s[i])) {
        ++i;
    }
    if (i == 1 || i >= s.size() - 1 || s[i] != '.') {
        return false;
    }
    static constexpr char_set k_ipvfuture_tail{"!$&'()*+,;=:"};
    return std::all_of(s.begin() + static_cast<std::ptrdiff_t>(i) + 1, s.end(), [](char c) {
        return k_ipvfuture_tail.contains(static_cast<unsigned char>(c));
    });
}

// An IP-literal's inside (RFC 3986): an IPv6address (eight groups, or fewer with one "::"; a
// dotted IPv4 tail counts as two) or an IPvFuture. No zone identifier, no IPv4 in brackets.
bool is_ipv6_or_future(std::string_view s) {
    return boost::urls::parse_ipv6_address(s).has_value() || is_ipvfuture(s);
}

// Python's SplitResult username/password/hostname/port with its errors, stricter where Python
// lets a URL through that names a different host than it seems to: a bracketed host must be a
// valid IP literal and the whole host (nothing before '[', nothing but ":port" after ']'); a
// host name must pass host_to_ascii; credentials or a port need a host.
result<authority> parse_authority(std::string_view netloc) {
    const bool open = netloc.find('[') != std::string_view::npos;
    const bool close = netloc.find(']') != std::string_view::npos;
    if (open != close) {
        return invalid_url();
    }
    authority a;
    std::string_view hostinfo = netloc;
    if (const std::size_t at = netloc.rfind('@'); at != std::string_view::npos) {
        a.has_userinfo = true;
        const std::string_view userinfo = netloc.substr(0, at);
        hostinfo = netloc.substr(at + 1);
        const std::size_t colon = userinfo.find(':');
        a.username = std::string(userinfo.substr(0, colon));
        if (colon != std::string_view::npos) {
            a.has_password = true;
            a.password = std::string(userinfo.substr(colon + 1));
        }
    }
    std::string_view port;
    if (hostinfo.find_first_of("[]") != std::string_view::npos) {
        const std::size_t rb = hostinfo.find(']');
        if (hostinfo[0] != '[' || rb == std::string_view::npos) {
            return invalid_url();  // "prefix.[::1]", "v6a.ip]", "[::1" ...
        }
        const std::string_view literal = hostinfo.substr(1, rb - 1);
        const std::string_view after = hostinfo.substr(rb + 1);
        if (!is_ipv6_or_future(literal) || (!after.empty() && after[0] != ':')) {
            return invalid_url();  // "[1::2::3]", "[::1].suffix", "[::1]evil.com" ...
        }
        a.host = ascii_lowered(literal);
        a.bracketed = true;
        a.has_port = !after.empty();
        port = after.empty() ? after : after.substr(1);
    } else {
        const std::size_t colon = hostinfo.find(':');
        a.has_port = colon != std::string_view::npos;
        if (a.has_port) {
            port = hostinfo.substr(colon + 1);
        }
        auto name = host_to_ascii(hostinfo.substr(0, colon));
        if (!name) {
            return name.error();
        }
        a.host = std::move(*name);
    }
    if (a.host.empty() && (a.has_userinfo || a.has_port)) {
        return invalid_url();  // "user@", ":80": WHATWG refuses a missing host here
    }
    if (!port.empty()) {
        std::uint32_t value = 0;
        for (char c : port) {
            if (c < '0' || c > '9') {
                return invalid_url();
            }
            value = value * 10 + static_cast<std::uint32_t>(c - '0');
            if (value > 65535) {
                return invalid_url();
            }
        }
        a.port = value;
    }
    return a;
}

// Host as written into the URL: IP literals keep their brackets (w3lib drops them from an
// IPvFuture, which would turn it into a host name); names as host_to_ascii gave them.
std::string output_host(const authority& a) {
    if (a.bracketed) {
        return "[" + a.host + "]";
    }
    return a.host;
}

// The netloc written back (empty when the URL has none): userinfo through `escape_userinfo`, the
// host as output_host writes it, the port unless it is `omitted_port`. Errors as parse_authority.
result<std::string> write_netloc(const split_url& parts,
                                 std::string (*escape_userinfo)(std::string_view),
                                 std::optional<std::uint32_t> omitted_port) {
    std::string netloc;
    if (!parts.has_netloc) {
        return netloc;
    }
    auto a = parse_authority(parts.netloc);
    if (!a) {
        return a.error();
    }
    if (a->has_userinfo) {
        netloc += escape_userinfo(a->username);
        if (a->has_password) {
            netloc += ':';
            netloc += escape_userinfo(a->password);
        }
        netloc += '@';
    }
    netloc += output_host(*a);
    if (a->port && a->port != omitted_port) {
        netloc += ':';
        netloc += std::to_string(*a->port);
    }
    return netloc;
}

// ---------------------------------------------------------------------------------------------
// Canonicalization helpers

// What a path may hold decoded: the path set (_path_safe_chars) without '/', '?' and '%'.
constexpr char_set k_path_decodable{k_safe_extra, "#/?%"};

// Decodes %XX escapes that need no escaping in a path, upper-cases the others and escapes bytes
// outside the path set. '/', '?', '#' and '%' stay escaped: decoding them changes the URL.
std::string normalize_path_escapes(std::string_view path_bytes) {
    std::string out;
    out.reserve(path_bytes.size());
    for (std::size_t i = 0; i < path_bytes.size(); ++i) {
        if (const int b = escaped_byte_at(path_bytes, i); b >= 0) {
            append_quoted(out, static_cast<unsigned char>(b), k_path_decodable);
            i += 2;
            continue;
        }
        append_quoted(out, static_cast<unsigned char>(path_bytes[i]), k_path_safe);
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> parse_query_bytes(std::string_view query,
                                                                   char separator,
                                                                   bool keep_blank_values) {
    std::vector<std::pair<std::string, std::string>> pairs;
    std::size_t pos = 0;
    while (pos <= query.size()) {
        const std::size_t next = std::min(query.find(separator, pos), query.size());
        const std::string_view field = query.substr(pos, next - pos);
        pos = next + 1;
        if (field.empty()) {
            continue;
        }
        std::string name;
        std::string value;
        if (const std::size_t eq = field.find('='); eq != std::string_view::npos) {
            name = std::string(field.substr(0, eq));
            value = std::string(field.substr(eq + 1));
        } else {
            if (!keep_blank_values) {
                continue;
            }
            name = std::string(field);
        }
        if (value.empty() && !keep_blank_values) {
            continue;
        }
        std::replace(name.begin(), name.end(), '+', ' ');
        std::replace(value.begin(), value.end(), '+', ' ');
        pairs.emplace_back(unquote(name), unquote(value));
    }
    return pairs;
}

}  // namespace

result<std::string> safe_url_string(std::string_view url) {
    return safe_url_string(url, safe_url_options{});
}

result<std::string> safe_url_string(std::string_view url, const safe_url_options& options) {
    const std::string text = sanitize_input(url);
    split_url parts = split(text, /*strict_scheme=*/true, /*backslash_is_slash=*/true);

    // Userinfo re-escaped with w3lib's userinfo set; port 0 dropped.
    const auto netloc = write_netloc(
        parts,
        [](std::string_view userinfo) { return quote(unquote(userinfo), k_userinfo_safest); }, 0);
    if (!netloc) {
        return netloc.error();
    }

    std::string path = options.quote_path
                           ? quote(encode_or_utf8(parts.path, options.path_encoding), k_path_safest)
                           : parts.path;
    const char_set& query_safe =
        is_special_scheme(parts.scheme) ? k_special_query_safest : k_path_safest;
    const std::string query = quote(encode_or_utf8(parts.query, options.encoding), query_safe);
    const std::string fragment =
        quote(encode_or_utf8(parts.fragment, options.encoding), k_path_safest);

    // Python's urlunsplit, plus the "/" a special URL gets before a query.
    if (is_special_scheme(parts.scheme) && !netloc->empty() && path.empty() && !query.empty()) {
        path = "/";
    }
    std::string out;
    if (!parts.scheme.empty()) {
        out = parts.scheme + ":";
    }
    if (!netloc->empty() ||
        (!parts.scheme.empty() && uses_netloc(parts.scheme) && path.compare(0, 2, "//") != 0)) {
        if (!path.empty() && path[0] != '/') {
            path.insert(0, "/");
        }
        out += "//";
        out += *netloc;
    }
    out += path;
    if (!query.empty()) {
        out += '?';
        out += query;
    }
    if (!fragment.empty()) {
        out += '#';
        out += fragment;
    }
    return out;
}

namespace {

// Four decimal octets, each 0..255 without a leading zero (allocates nothing).
bool is_dotted_quad(std::string_view host) {
    int octets = 0;
    std::size_t i = 0;
    while (i <= host.size()) {
        const std::size_t end = std::min(host.find('.', i), host.size());
        const std::string_view octet = host.substr(i, end - i);
        if (octet.empty() || octet.size() > 3 || (octet.size() > 1 && octet[0] == '0')) {
            return false;
        }
        unsigned value = 0;
        for (const char c : octet) {
            if (c < '0' || c > '9') {
                return false;
            }
            value = value * 10 + static_cast<unsigned>(c - '0');
        }
        if (value > 255) {
            return false;
        }
        ++octets;
        i = end + 1;
    }
    return octets == 4;
}

bool is_lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// Characters a canonical path segment keeps as they are; '%', ';' and the rest take the slow
// path.
constexpr char_set k_plain_segment{"!$&'()*+,:=@"};

// scheme "://" host [":" port], with a lower-case ASCII host that needs no IDNA and a port
// that is not the scheme's default. Returns where the path starts, or npos.
std::size_t canonical_authority_end(std::string_view url) {
    std::size_t i = 0;
    std::uint16_t default_port_number = 0;
    if (url.starts_with("http://")) {
        i = 7;
        default_port_number = 80;
    } else if (url.starts_with("https://")) {
        i = 8;
        default_port_number = 443;
    } else {
        return std::string_view::npos;
    }
    // Labels of [a-z0-9-], 1..63 bytes, not starting or ending with '-', no "xn--" prefix.
    const std::size_t host_start = i;
    std::size_t label_start = i;
    for (;; ++i) {
        const char c = i < url.size() ? url[i] : '/';
        if (is_lower_alnum(c) || (c == '-' && i != label_start)) {
            continue;
        }
        const std::size_t length = i - label_start;
        if (length == 0 || length > 63 || url[i - 1] == '-' ||
            url.substr(label_start, 4) == "xn--") {
            return std::string_view::npos;
        }
        if (c == '.') {
            label_start = i + 1;
            continue;
        }
        break;
    }
    // A host ending in a number is an IPv4 address (WHATWG); only the plain dotted-quad form is
    // left to this shortcut, anything else to host_to_ascii's check.
    if (url[label_start] >= '0' && url[label_start] <= '9' &&
        !is_dotted_quad(url.substr(host_start, i - host_start))) {
        return std::string_view::npos;
    }
    if (i < url.size() && url[i] == ':') {
        const std::size_t digits = ++i;
        unsigned port = 0;
        while (i < url.size() && url[i] >= '0' && url[i] <= '9' && i - digits < 5) {
            port = port * 10 + static_cast<unsigned>(url[i] - '0');
            ++i;
        }
        if (i == digits || url[digits] == '0' || port > 65535 || port == default_port_number) {
            return std::string_view::npos;
        }
    }
    return i < url.size() && url[i] == '/' ? i : std::string_view::npos;
}

}  // namespace

bool is_canonical_url(std::string_view url, const canonicalize_options& options) {
    std::size_t i = canonical_authority_end(url);
    if (i == std::string_view::npos) {
        return false;
    }
    // The path: segments of plain characters, none "." or "..". A segment's bytes are skipped
    // with one table lookup each, and what ends it ('/', '?' or the URL's end) is looked at
    // once (every check on every byte cost some 170 instructions more a product URL).
    std::size_t segment = ++i;
    while (true) {
        while (i < url.size() && k_plain_segment.contains(static_cast<unsigned char>(url[i]))) {
            ++i;
        }
        const std::string_view part = url.substr(segment, i - segment);
        if (part == "." || part == "..") {
            return false;
        }
        if (i == url.size()) {
            return true;
        }
        if (url[i] == '?') {
            break;
        }
        if (url[i] != '/') {
            return false;
        }
        segment = ++i;
    }
    // The query: name=value pairs of unreserved characters joined by '&', already in order.
    if (options.query_separator != '&') {
        return false;
    }
    std::string_view previous_name;
    std::string_view previous_value;
    std::size_t pair_start = ++i;
    if (i == url.size()) {
        return false;  // a bare '?' is dropped
    }
    for (; i <= url.size(); ++i) {
        const char c = i < url.size() ? url[i] : '&';
        if (c != '&') {
            if (c != '=' && !k_unreserved.contains(static_cast<unsigned char>(c))) {
                return false;
            }
            continue;
        }
        const std::string_view pair = url.substr(pair_start, i - pair_start);
        const std::size_t equals = pair.find('=');
        if (equals == 0 || equals == std::string_view::npos ||
            pair.find('=', equals + 1) != std::string_view::npos) {
            return false;
        }
        const std::string_view name = pair.substr(0, equals);
        const std::string_view value = pair.substr(equals + 1);
        if (value.empty() && !options.keep_blank_values) {
            return false;
        }
        if (options.sort_query && !previous_name.empty() &&
            std::pair(name, value) < std::pair(previous_name, previous_value)) {
            return false;
        }
        previous_name = name;
        previous_value = value;
        pair_start = i + 1;
    }
    return true;
}

result<std::string> canonicalize_url(std::string_view url, const canonicalize_options& options) {
    if (is_canonical_url(url, options)) {
        return std::string(url);  // the common case, without the general machinery
    }
    return detail::canonicalize_url_general(url, options);
}

result<std::string> detail::canonicalize_url_general(std::string_view url,
                                                     const canonicalize_options& options) {
    const std::string text = sanitize_input(url);
    if (text.empty()) {
        return invalid_url();
    }
    split_url parts = split(text, /*strict_scheme=*/false, /*backslash_is_slash=*/false);

    // Userinfo keeps its case and escapes (w3lib); only unsafe bytes are escaped. The scheme's
    // default port is dropped.
    const auto netloc = write_netloc(
        parts, [](std::string_view userinfo) { return quote(userinfo, k_safe); },
        default_port(parts.scheme));
    if (!netloc) {
        return netloc.error();
    }

    // w3lib (Python's urlparse) splits ";params" off the last path segment of special URLs and
    // only quotes them; a ';' in an earlier segment is path like any other character.
    std::string params;
    bool has_params = false;
    if (is_special_scheme(parts.scheme)) {
        const std::size_t last_slash = parts.path.rfind('/');
        const std::size_t semi =
            parts.path.find(';', last_slash == std::string::npos ? 0 : last_slash);
        if (semi != std::string::npos) {
            params = quote(parts.path.substr(semi + 1), k_safe);
            has_params = true;
            parts.path.erase(semi);
        }
    }
    std::string path = normalize_path_escapes(parts.path);
    if ((parts.has_netloc || !parts.scheme.empty()) && !path.empty() && path[0] == '/') {
        path = remove_dot_segments(path);
    }
    if (path.empty()) {
        path = "/";
    }

    // The query (and kept fragment) use the page encoding; if it cannot represent them, UTF-8.
    auto query_bytes = encode_text(parts.query, options.query_encoding);
    auto fragment_bytes = encode_text(parts.fragment, options.query_encoding);
    if (!query_bytes || !fragment_bytes) {
        query_bytes = parts.query;
        fragment_bytes = parts.fragment;
    }
    std::string query;
    if (!query_bytes->empty()) {
        auto pairs = parse_query_bytes(quote(*query_bytes, k_safe), options.query_separator,
                                       options.keep_blank_values);
        if (options.sort_query) {
            std::stable_sort(pairs.begin(), pairs.end());
        }
        for (const auto& [name, value] : pairs) {
            if (!query.empty()) {
                query += options.query_separator;
            }
            query += quote_plus(name);
            query += '=';
            query += quote_plus(value);
        }
    }

    std::string out;
    if (!parts.scheme.empty()) {
        out = parts.scheme + ":";
    }
    if (parts.has_netloc) {
        out += "//";
        out += *netloc;
    }
    out += path;
    if (has_params && !params.empty()) {
        out += ';';
        out += params;
    }
    if (!query.empty()) {
        out += '?';
        out += query;
    }
    if (options.keep_fragments && !fragment_bytes->empty()) {
        out += '#';
        out += quote(*fragment_bytes, k_safe);
    }
    return out;
}

bool is_http_url(std::string_view text) {
    auto parsed = boost::urls::parse_uri(text);
    if (!parsed) {
        return false;
    }
    const auto scheme = parsed->scheme_id();
    return (scheme == boost::urls::scheme::http || scheme == boost::urls::scheme::https) &&
           !parsed->encoded_host().empty();
}

}  // namespace harvest::core
