#include "engine/core/url_canonical.hpp"

#include "engine/core/text.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include <boost/system/errc.hpp>
#include <boost/url/parse.hpp>

namespace harvest::core {

namespace {

using boost::system::result;

boost::system::error_code invalid_url() {
    return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// Character sets (w3lib's names in comments). Every set contains the RFC 3986 unreserved set.

class char_set {
  public:
    constexpr explicit char_set(std::string_view extra, std::string_view removed = {}) {
        for (char c = 'a'; c <= 'z'; ++c) {
            table_[static_cast<unsigned char>(c)] = true;
        }
        for (char c = 'A'; c <= 'Z'; ++c) {
            table_[static_cast<unsigned char>(c)] = true;
        }
        for (char c = '0'; c <= '9'; ++c) {
            table_[static_cast<unsigned char>(c)] = true;
        }
        for (char c : std::string_view("-._~")) {
            table_[static_cast<unsigned char>(c)] = true;
        }
        for (char c : extra) {
            table_[static_cast<unsigned char>(c)] = true;
        }
        for (char c : removed) {
            table_[static_cast<unsigned char>(c)] = false;
        }
    }
    constexpr bool contains(unsigned char c) const { return table_[c]; }

  private:
    std::array<bool, 256> table_{};
};

// _safe_chars: reserved + unreserved + "|" + "%".
constexpr std::string_view k_safe_extra = ":/?#[]@!$&'()*+,;=|%";
constexpr char_set k_safe{k_safe_extra};
// _path_safe_chars: _safe_chars without '#'.
constexpr char_set k_path_safe{k_safe_extra, "#"};
// _PATH_SAFEST_CHARS (= _QUERY_SAFEST_CHARS = _FRAGMENT_SAFEST_CHARS).
constexpr char_set k_path_safest{k_safe_extra, "#[]|"};
// _SPECIAL_QUERY_SAFEST_CHARS: a `'` in the query of a special scheme is escaped.
constexpr char_set k_special_query_safest{k_safe_extra, "#[]|'"};
// _USERINFO_SAFEST_CHARS: unreserved + sub-delims without ";=" (and no ':').
constexpr char_set k_userinfo_safest{"!$&'()*+,"};
// Python's quote_plus(safe=''): unreserved only.
constexpr char_set k_unreserved{""};

constexpr char k_hex_upper[] = "0123456789ABCDEF";

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

void append_escaped(std::string& out, unsigned char b) {
    out += '%';
    out += k_hex_upper[b >> 4];
    out += k_hex_upper[b & 0x0F];
}

bool is_ascii_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// w3lib _quote: every byte outside `safe` becomes %XX (upper-case hex).
std::string quote(std::string_view bytes, const char_set& safe) {
    std::string out;
    out.reserve(bytes.size());
    for (char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        if (safe.contains(b)) {
            out += c;
        } else {
            append_escaped(out, b);
        }
    }
    return out;
}

// Python's quote_plus(bytes, safe=''): as quote() over the unreserved set, space as '+'.
std::string quote_plus(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    for (char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        if (k_unreserved.contains(b)) {
            out += c;
        } else if (c == ' ') {
            out += '+';
        } else {
            append_escaped(out, b);
        }
    }
    return out;
}

// w3lib _unquote: every well-formed %XX becomes its byte; a stray '%' stays.
std::string unquote(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            const int h1 = hex_value(s[i + 1]);
            const int h2 = hex_value(s[i + 2]);
            if (h1 >= 0 && h2 >= 0) {
                out += static_cast<char>((h1 << 4) | h2);
                i += 2;
                continue;
            }
        }
        out += s[i];
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// UTF-8

char32_t decode_at(std::string_view s, std::size_t i, std::size_t len) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (len == 1) {
        return b0;
    }
    char32_t cp = b0 & (0xFF >> (len + 1));
    for (std::size_t k = 1; k < len; ++k) {
        cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    }
    return cp;
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// Input is valid UTF-8 (sanitize_input made it so).
std::u32string to_code_points(std::string_view s) {
    std::u32string out;
    for (std::size_t i = 0; i < s.size();) {
        std::size_t len = core::utf8_sequence_length(s, i);
        if (len == 0) {
            len = 1;  // defensive: treat a stray byte as its Latin-1 code point
        }
        out += decode_at(s, i, len);
        i += len;
    }
    return out;
}

// Windows-1251 bytes 0x80..0xFF as code points (0x98 is unassigned).
constexpr std::array<char16_t, 128> k_cp1251_high = {
    0x0402, 0x0403, 0x201A, 0x0453, 0x201E, 0x2026, 0x2020, 0x2021, 0x20AC, 0x2030, 0x0409, 0x2039,
    0x040A, 0x040C, 0x040B, 0x040F, 0x0452, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0xFFFF, 0x2122, 0x0459, 0x203A, 0x045A, 0x045C, 0x045B, 0x045F, 0x00A0, 0x040E, 0x045E, 0x0408,
    0x00A4, 0x0490, 0x00A6, 0x00A7, 0x0401, 0x00A9, 0x0404, 0x00AB, 0x00AC, 0x00AD, 0x00AE, 0x0407,
    0x00B0, 0x00B1, 0x0406, 0x0456, 0x0491, 0x00B5, 0x00B6, 0x00B7, 0x0451, 0x2116, 0x0454, 0x00BB,
    0x0458, 0x0405, 0x0455, 0x0457, 0x0410, 0x0411, 0x0412, 0x0413, 0x0414, 0x0415, 0x0416, 0x0417,
    0x0418, 0x0419, 0x041A, 0x041B, 0x041C, 0x041D, 0x041E, 0x041F, 0x0420, 0x0421, 0x0422, 0x0423,
    0x0424, 0x0425, 0x0426, 0x0427, 0x0428, 0x0429, 0x042A, 0x042B, 0x042C, 0x042D, 0x042E, 0x042F,
    0x0430, 0x0431, 0x0432, 0x0433, 0x0434, 0x0435, 0x0436, 0x0437, 0x0438, 0x0439, 0x043A, 0x043B,
    0x043C, 0x043D, 0x043E, 0x043F, 0x0440, 0x0441, 0x0442, 0x0443, 0x0444, 0x0445, 0x0446, 0x0447,
    0x0448, 0x0449, 0x044A, 0x044B, 0x044C, 0x044D, 0x044E, 0x044F};

// Text -> bytes in the given encoding; nullopt when a character is not representable.
std::optional<std::string> encode_text(std::string_view utf8, text_encoding encoding) {
    if (encoding == text_encoding::utf8) {
        return std::string(utf8);
    }
    std::string out;
    for (char32_t cp : to_code_points(utf8)) {
        if (cp < 0x80 || (encoding == text_encoding::latin1 && cp <= 0xFF)) {
            out += static_cast<char>(cp);
            continue;
        }
        if (encoding != text_encoding::cp1251) {
            return std::nullopt;
        }
        const auto* it = std::find(k_cp1251_high.begin(), k_cp1251_high.end(), cp);
        if (it == k_cp1251_high.end()) {
            return std::nullopt;
        }
        out += static_cast<char>(0x80 + (it - k_cp1251_high.begin()));
    }
    return out;
}

std::string encode_or_utf8(std::string_view utf8, text_encoding encoding) {
    auto bytes = encode_text(utf8, encoding);
    return bytes ? std::move(*bytes) : std::string(utf8);
}

// Invalid UTF-8 bytes -> "%XX" (w3lib's "percentencode" error handler), then w3lib's _strip:
// leading/trailing C0 controls and spaces removed, tabs and newlines removed everywhere.
std::string sanitize_input(std::string_view in) {
    // Nearly every URL is printable ASCII without spaces: valid UTF-8, nothing to strip or
    // remove, so the text is the input (one copy instead of three passes and two strings).
    if (std::all_of(in.begin(), in.end(), [](char c) {
            const auto byte = static_cast<unsigned char>(c);
            return byte > 0x20 && byte < 0x80;
        })) {
        return std::string(in);
    }
    std::string text;
    text.reserve(in.size());
    for (std::size_t i = 0; i < in.size();) {
        const std::size_t len = core::utf8_sequence_length(in, i);
        if (len == 0) {
            append_escaped(text, static_cast<unsigned char>(in[i]));
            ++i;
            continue;
        }
        text.append(in.substr(i, len));
        i += len;
    }
    std::size_t begin = 0;
    std::size_t end = text.size();
    while (begin < end && static_cast<unsigned char>(text[begin]) <= 0x20) {
        ++begin;
    }
    while (end > begin && static_cast<unsigned char>(text[end - 1]) <= 0x20) {
        --end;
    }
    std::string out;
    out.reserve(end - begin);
    for (std::size_t i = begin; i < end; ++i) {
        if (text[i] != '\t' && text[i] != '\r' && text[i] != '\n') {
            out += text[i];
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// IDNA

// A small stand-in for nameprep (RFC 3491): the case folds and "map to nothing" characters that
// real host names use. Full NFKC is not attempted; such hosts are punycoded as they are.
void nameprep_append(char32_t c, std::u32string& out) {
    switch (c) {
        case 0x00AD:
        case 0x034F:
        case 0x1806:
        case 0x180B:
        case 0x180C:
        case 0x180D:
        case 0x200B:
        case 0x200C:
        case 0x200D:
        case 0x2060:
        case 0xFEFF:
            return;  // RFC 3454 table B.1: mapped to nothing
        case 0x00DF:
            out += U"ss";
            return;
        default:
            break;
    }
    if (c >= 0xFE00 && c <= 0xFE0F) {
        return;  // variation selectors
    }
    if (c < 0x80) {
        out += (c >= 'A' && c <= 'Z') ? c + 32 : c;
    } else if ((c >= 0xC0 && c <= 0xDE && c != 0xD7) || (c >= 0x391 && c <= 0x3AB && c != 0x3A2) ||
               (c >= 0x410 && c <= 0x42F)) {
        out += c + 32;  // Latin-1, Greek and Cyrillic capitals
    } else if (c >= 0x400 && c <= 0x40F) {
        out += c + 80;
    } else if ((c >= 0x100 && c <= 0x12F) || (c >= 0x132 && c <= 0x137) ||
               (c >= 0x14A && c <= 0x177)) {
        out += (c % 2 == 0) ? c + 1 : c;  // Latin Extended-A pairs, capital first
    } else if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) {
        out += (c % 2 == 1) ? c + 1 : c;
    } else if (c == 0x178) {
        out += 0xFF;
    } else if (c >= 0xFF01 && c <= 0xFF5E) {
        // Full-width ASCII (NFKC), then lower-cased.
        const char32_t a = c - 0xFF01 + 0x21;
        out += (a >= 'A' && a <= 'Z') ? a + 32 : a;
    } else {
        out += c;
    }
}

char punycode_digit(std::uint32_t d) {
    return static_cast<char>(d < 26 ? 'a' + d : '0' + (d - 26));
}

std::uint32_t punycode_adapt(std::uint32_t delta, std::uint32_t num_points, bool first) {
    constexpr std::uint32_t base = 36, tmin = 1, tmax = 26, skew = 38, damp = 700;
    delta = first ? delta / damp : delta / 2;
    delta += delta / num_points;
    std::uint32_t k = 0;
    while (delta > ((base - tmin) * tmax) / 2) {
        delta /= base - tmin;
        k += base;
    }
    return k + (base - tmin + 1) * delta / (delta + skew);
}

// RFC 3492 encoder. nullopt on arithmetic overflow (absurd inputs only).
std::optional<std::string> punycode_encode(const std::u32string& input) {
    constexpr std::uint32_t base = 36, tmin = 1, tmax = 26;
    constexpr std::uint32_t max_u32 = std::numeric_limits<std::uint32_t>::max();
    std::string out;
    for (char32_t c : input) {
        if (c < 0x80) {
            out += static_cast<char>(c);
        }
    }
    const auto basic = static_cast<std::uint32_t>(out.size());
    std::uint32_t handled = basic;
    if (basic > 0) {
        out += '-';
    }
    std::uint32_t n = 0x80;
    std::uint32_t delta = 0;
    std::uint32_t bias = 72;
    while (handled < input.size()) {
        std::uint32_t m = max_u32;
        for (char32_t c : input) {
            if (c >= n && c < m) {
                m = c;
            }
        }
        if ((m - n) > (max_u32 - delta) / (handled + 1)) {
            return std::nullopt;
        }
        delta += (m - n) * (handled + 1);
        n = m;
        for (char32_t c : input) {
            if (c < n && ++delta == 0) {
                return std::nullopt;
            }
            if (c == n) {
                std::uint32_t q = delta;
                for (std::uint32_t k = base;; k += base) {
                    const std::uint32_t t = k <= bias ? tmin : (k >= bias + tmax ? tmax : k - bias);
                    if (q < t) {
                        break;
                    }
                    out += punycode_digit(t + (q - t) % (base - t));
                    q = (q - t) / (base - t);
                }
                out += punycode_digit(q);
                bias = punycode_adapt(delta, handled + 1, handled == basic);
                delta = 0;
                ++handled;
            }
        }
        ++delta;
        ++n;
    }
    return out;
}

bool is_idna_dot(char32_t c) {
    return c == U'.' || c == 0x3002 || c == 0xFF0E || c == 0xFF61;
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
    std::string host;  // without brackets
    bool bracketed = false;
    std::optional<std::uint32_t> port;
};

// Python's SplitResult username/password/hostname/port, with its errors.
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
    if (const std::size_t lb = hostinfo.find('['); lb != std::string_view::npos) {
        const std::string_view bracketed = hostinfo.substr(lb + 1);
        const std::size_t rb = bracketed.find(']');
        if (rb == std::string_view::npos) {
            return invalid_url();
        }
        a.host = std::string(bracketed.substr(0, rb));
        a.bracketed = true;
        const std::string_view after = bracketed.substr(rb + 1);
        if (const std::size_t colon = after.find(':'); colon != std::string_view::npos) {
            port = after.substr(colon + 1);
        }
    } else {
        const std::size_t colon = hostinfo.find(':');
        a.host = std::string(hostinfo.substr(0, colon));
        if (colon != std::string_view::npos) {
            port = hostinfo.substr(colon + 1);
        }
    }
    a.host = ascii_lowered(a.host);
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

// Host as written into the URL: IPv6 literals keep their brackets; names go through IDNA and
// stay as they were when IDNA refuses them (w3lib's fallback for empty or too-long labels).
std::string output_host(const authority& a) {
    if (a.host.find(':') != std::string::npos) {
        return "[" + a.host + "]";
    }
    if (a.host.empty()) {
        return {};
    }
    auto ascii = idna_to_ascii(a.host);
    return ascii ? std::move(*ascii) : a.host;
}

// ---------------------------------------------------------------------------------------------
// Canonicalization helpers

// Decodes %XX escapes that need no escaping in a path, upper-cases the others and escapes bytes
// outside the path set. '/', '?', '#' and '%' stay escaped: decoding them changes the URL.
std::string normalize_path_escapes(std::string_view path_bytes) {
    std::string out;
    out.reserve(path_bytes.size());
    for (std::size_t i = 0; i < path_bytes.size(); ++i) {
        const char c = path_bytes[i];
        if (c == '%' && i + 2 < path_bytes.size()) {
            const int h1 = hex_value(path_bytes[i + 1]);
            const int h2 = hex_value(path_bytes[i + 2]);
            if (h1 >= 0 && h2 >= 0) {
                const auto b = static_cast<unsigned char>((h1 << 4) | h2);
                if (k_path_safe.contains(b) && b != '/' && b != '?' && b != '%') {
                    out += static_cast<char>(b);
                } else {
                    append_escaped(out, b);
                }
                i += 2;
                continue;
            }
        }
        const auto b = static_cast<unsigned char>(c);
        if (k_path_safe.contains(b)) {
            out += c;
        } else {
            append_escaped(out, b);
        }
    }
    return out;
}

// RFC 3986 §5.2.4, for absolute paths.
std::string remove_dot_segments(std::string_view path) {
    std::vector<std::string_view> segments;
    std::size_t pos = 1;  // path starts with '/'
    bool trailing_slash = false;
    while (pos <= path.size()) {
        const std::size_t next = std::min(path.find('/', pos), path.size());
        const std::string_view seg = path.substr(pos, next - pos);
        const bool last = next == path.size();
        if (seg == ".") {
            trailing_slash = last;
        } else if (seg == "..") {
            if (!segments.empty()) {
                segments.pop_back();
            }
            trailing_slash = last;
        } else {
            segments.push_back(seg);
            trailing_slash = false;
        }
        pos = next + 1;
    }
    std::string out;
    out.reserve(path.size());
    for (const auto& seg : segments) {
        out += '/';
        out += seg;
    }
    if (trailing_slash || out.empty()) {
        out += '/';
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

// MurmurHash3 x64/128 (public domain, Austin Appleby), fed incrementally in 16-byte blocks.
class murmur3_128 {
  public:
    explicit murmur3_128(std::uint64_t seed) : h1_(seed), h2_(seed) {}

    void update(std::string_view data) {
        total_ += data.size();
        while (!data.empty()) {
            const std::size_t take = std::min(data.size(), sizeof(buffer_) - buffered_);
            std::memcpy(buffer_ + buffered_, data.data(), take);
            buffered_ += take;
            data.remove_prefix(take);
            if (buffered_ == sizeof(buffer_)) {
                block(load64(buffer_), load64(buffer_ + 8));
                buffered_ = 0;
            }
        }
    }

    void update_u64(std::uint64_t v) {
        char bytes[8];
        for (int i = 0; i < 8; ++i) {
            bytes[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
        }
        update(std::string_view(bytes, 8));
    }

    fingerprint128 finish() {
        std::uint64_t k1 = 0;
        std::uint64_t k2 = 0;
        for (std::size_t i = buffered_; i-- > 0;) {
            const auto b = static_cast<std::uint64_t>(static_cast<unsigned char>(buffer_[i]));
            if (i >= 8) {
                k2 |= b << (8 * (i - 8));
            } else {
                k1 |= b << (8 * i);
            }
        }
        if (buffered_ > 8) {
            k2 *= c2_;
            k2 = rotl(k2, 33);
            k2 *= c1_;
            h2_ ^= k2;
        }
        if (buffered_ > 0) {
            k1 *= c1_;
            k1 = rotl(k1, 31);
            k1 *= c2_;
            h1_ ^= k1;
        }
        h1_ ^= total_;
        h2_ ^= total_;
        h1_ += h2_;
        h2_ += h1_;
        h1_ = fmix(h1_);
        h2_ = fmix(h2_);
        h1_ += h2_;
        h2_ += h1_;
        return fingerprint128{h1_, h2_};
    }

  private:
    static constexpr std::uint64_t c1_ = 0x87c37b91114253d5ULL;
    static constexpr std::uint64_t c2_ = 0x4cf5ad432745937fULL;

    static std::uint64_t rotl(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
    static std::uint64_t fmix(std::uint64_t k) {
        k ^= k >> 33;
        k *= 0xff51afd7ed558ccdULL;
        k ^= k >> 33;
        k *= 0xc4ceb9fe1a85ec53ULL;
        k ^= k >> 33;
        return k;
    }
    // Little-endian by construction, so fingerprints agree across platforms.
    static std::uint64_t load64(const char* p) {
        std::uint64_t v = 0;
        for (int i = 7; i >= 0; --i) {
            v = (v << 8) | static_cast<unsigned char>(p[i]);
        }
        return v;
    }
    void block(std::uint64_t k1, std::uint64_t k2) {
        k1 *= c1_;
        k1 = rotl(k1, 31);
        k1 *= c2_;
        h1_ ^= k1;
        h1_ = rotl(h1_, 27);
        h1_ += h2_;
        h1_ = h1_ * 5 + 0x52dce729;
        k2 *= c2_;
        k2 = rotl(k2, 33);
        k2 *= c1_;
        h2_ ^= k2;
        h2_ = rotl(h2_, 31);
        h2_ += h1_;
        h2_ = h2_ * 5 + 0x38495ab5;
    }

    std::uint64_t h1_;
    std::uint64_t h2_;
    std::uint64_t total_ = 0;
    char buffer_[16] = {};
    std::size_t buffered_ = 0;
};

}  // namespace

// ---------------------------------------------------------------------------------------------

std::string latin1_to_utf8(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    for (char c : bytes) {
        append_utf8(out, static_cast<unsigned char>(c));
    }
    return out;
}

result<std::string> idna_to_ascii(std::string_view host) {
    if (host.empty()) {
        return std::string();
    }
    if (is_ascii(host)) {
        // Python's ASCII fast path: only label lengths are checked (a final empty label is a
        // trailing dot, allowed).
        std::size_t pos = 0;
        while (true) {
            const std::size_t dot = host.find('.', pos);
            const std::size_t len = (dot == std::string_view::npos ? host.size() : dot) - pos;
            if (dot == std::string_view::npos) {
                if (len >= 64) {
                    return invalid_url();
                }
                break;
            }
            if (len == 0 || len >= 64) {
                return invalid_url();
            }
            pos = dot + 1;
        }
        return std::string(host);
    }
    const std::u32string cps = to_code_points(host);
    std::vector<std::u32string> labels(1);
    for (char32_t c : cps) {
        if (is_idna_dot(c)) {
            labels.emplace_back();
        } else {
            labels.back() += c;
        }
    }
    bool trailing_dot = false;
    if (labels.size() > 1 && labels.back().empty()) {
        trailing_dot = true;
        labels.pop_back();
    }
    std::string out;
    for (const auto& label : labels) {
        if (!out.empty()) {
            out += '.';
        }
        const bool label_ascii =
            std::all_of(label.begin(), label.end(), [](char32_t c) { return c < 0x80; });
        std::u32string prepared;
        if (label_ascii) {
            prepared = label;  // ASCII labels skip nameprep
        } else {
            for (char32_t c : label) {
                nameprep_append(c, prepared);
            }
        }
        const bool prepared_ascii =
            std::all_of(prepared.begin(), prepared.end(), [](char32_t c) { return c < 0x80; });
        std::string encoded;
        if (prepared_ascii) {
            for (char32_t c : prepared) {
                encoded += static_cast<char>(c);
            }
        } else {
            if (prepared.size() >= 4 && prepared[0] == 'x' && prepared[1] == 'n' &&
                prepared[2] == '-' && prepared[3] == '-') {
                return invalid_url();
            }
            auto puny = punycode_encode(prepared);
            if (!puny) {
                return invalid_url();
            }
            encoded = "xn--" + *puny;
        }
        if (encoded.empty() || encoded.size() >= 64) {
            return invalid_url();
        }
        out += encoded;
    }
    if (trailing_dot) {
        out += '.';
    }
    return out;
}

result<std::string> safe_url_string(std::string_view url) {
    return safe_url_string(url, safe_url_options{});
}

result<std::string> safe_url_string(std::string_view url, const safe_url_options& options) {
    const std::string text = sanitize_input(url);
    split_url parts = split(text, /*strict_scheme=*/true, /*backslash_is_slash=*/true);

    std::string netloc;
    if (parts.has_netloc) {
        auto auth = parse_authority(parts.netloc);
        if (!auth) {
            return auth.error();
        }
        if (auth->has_userinfo) {
            netloc += quote(unquote(auth->username), k_userinfo_safest);
            if (auth->has_password) {
                netloc += ':';
                netloc += quote(unquote(auth->password), k_userinfo_safest);
            }
            netloc += '@';
        }
        netloc += output_host(*auth);
        if (auth->port && *auth->port != 0) {
            netloc += ':';
            netloc += std::to_string(*auth->port);
        }
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
    if (is_special_scheme(parts.scheme) && !netloc.empty() && path.empty() && !query.empty()) {
        path = "/";
    }
    std::string out;
    if (!parts.scheme.empty()) {
        out = parts.scheme + ":";
    }
    if (!netloc.empty() ||
        (!parts.scheme.empty() && uses_netloc(parts.scheme) && path.compare(0, 2, "//") != 0)) {
        if (!path.empty() && path[0] != '/') {
            path.insert(0, "/");
        }
        out += "//";
        out += netloc;
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

bool is_lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// Characters a canonical path keeps as they are; '%', ';' and the rest take the slow path.
constexpr char_set k_plain_path{"!$&'()*+,:=@/"};

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
    // The path: plain characters only, no "." or ".." segment.
    std::size_t segment = i + 1;
    for (++i; i <= url.size(); ++i) {
        const char c = i < url.size() ? url[i] : '/';
        if (c == '/' || c == '?') {
            const std::string_view part = url.substr(segment, i - segment);
            if (part == "." || part == "..") {
                return false;
            }
            if (c == '?') {
                break;
            }
            segment = i + 1;
        } else if (!k_plain_path.contains(static_cast<unsigned char>(c))) {
            return false;
        }
    }
    if (i >= url.size()) {
        return true;
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

    std::string netloc;
    if (parts.has_netloc) {
        auto auth = parse_authority(parts.netloc);
        if (!auth) {
            return auth.error();
        }
        if (auth->has_userinfo) {
            // Userinfo keeps its case and escapes (w3lib); only unsafe bytes are escaped.
            netloc += quote(auth->username, k_safe);
            if (auth->has_password) {
                netloc += ':';
                netloc += quote(auth->password, k_safe);
            }
            netloc += '@';
        }
        netloc += output_host(*auth);
        if (auth->port && auth->port != default_port(parts.scheme)) {
            netloc += ':';
            netloc += std::to_string(*auth->port);
        }
    }

    // w3lib splits ";params" off the last path segment of special URLs and only quotes them.
    std::string params;
    bool has_params = false;
    if (is_special_scheme(parts.scheme)) {
        if (const std::size_t semi = parts.path.find(';'); semi != std::string::npos) {
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
        out += netloc;
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

fingerprint128 request_fingerprint(std::string_view method, std::string_view canonical_url,
                                   std::string_view body) noexcept {
    murmur3_128 h(0x68617276657374ULL);  // "harvest"
    h.update_u64(method.size());
    for (char c : method) {
        const char upper = ascii_upper(c);
        h.update(std::string_view(&upper, 1));
    }
    h.update_u64(canonical_url.size());
    h.update(canonical_url);
    h.update_u64(body.size());
    h.update(body);
    return h.finish();
}

result<fingerprint128> url_request_fingerprint(std::string_view method, std::string_view url,
                                               std::string_view body) {
    if (is_canonical_url(url)) {
        return request_fingerprint(method, url, body);
    }
    auto canonical = detail::canonicalize_url_general(url, canonicalize_options{});
    if (!canonical) {
        return canonical.error();
    }
    return request_fingerprint(method, *canonical, body);
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
