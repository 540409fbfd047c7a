// IDNA: a small nameprep, RFC 3492 punycode and idna_to_ascii. See engine/core/idna.hpp.

#include "engine/core/idna.hpp"

#include "engine/core/detail/percent_encoding.hpp"
#include "engine/core/text.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace harvest::core {

namespace {

using boost::system::result;
using detail::invalid_url;
using detail::to_code_points;

bool is_ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

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
// Host checks (host_to_ascii)

struct code_point_range {
    char32_t first;
    char32_t last;
};

// Code points whose NFKC form holds a forbidden host code point, a C0 control or a '.' (other
// than the three IDNA label dots): full-width and small forms of delimiters, compatibility
// spaces (U+00A0, U+2000..U+200A, U+3000, and spacing marks that decompose to a space), "⒈",
// "℀", "‥". Generated from Python's unicodedata (Unicode 14) by testing
// unicodedata.normalize("NFKC", c) for every code point from U+0080; sorted, disjoint.
constexpr std::array<code_point_range, 61> k_maps_to_delimiter{{
    {0xA0, 0xA0},       {0xA8, 0xA8},     {0xAF, 0xAF},     {0xB4, 0xB4},     {0xB8, 0xB8},
    {0x2D8, 0x2DD},     {0x37A, 0x37A},   {0x384, 0x385},   {0x1FBD, 0x1FBD}, {0x1FBF, 0x1FC1},
    {0x1FCD, 0x1FCF},   {0x1FDD, 0x1FDF}, {0x1FED, 0x1FEE}, {0x1FFD, 0x1FFE}, {0x2000, 0x200A},
    {0x2017, 0x2017},   {0x2024, 0x2026}, {0x202F, 0x202F}, {0x203E, 0x203E}, {0x2047, 0x2049},
    {0x205F, 0x205F},   {0x2100, 0x2101}, {0x2105, 0x2106}, {0x2488, 0x249B}, {0x2A74, 0x2A74},
    {0x3000, 0x3000},   {0x309B, 0x309C}, {0x33C2, 0x33C2}, {0x33C7, 0x33C7}, {0x33D8, 0x33D8},
    {0xFC5E, 0xFC63},   {0xFDFA, 0xFDFB}, {0xFE13, 0xFE13}, {0xFE16, 0xFE16}, {0xFE19, 0xFE19},
    {0xFE30, 0xFE30},   {0xFE47, 0xFE4C}, {0xFE52, 0xFE52}, {0xFE55, 0xFE56}, {0xFE5F, 0xFE5F},
    {0xFE64, 0xFE65},   {0xFE68, 0xFE68}, {0xFE6A, 0xFE6B}, {0xFE70, 0xFE70}, {0xFE72, 0xFE72},
    {0xFE74, 0xFE74},   {0xFE76, 0xFE76}, {0xFE78, 0xFE78}, {0xFE7A, 0xFE7A}, {0xFE7C, 0xFE7C},
    {0xFE7E, 0xFE7E},   {0xFF03, 0xFF03}, {0xFF05, 0xFF05}, {0xFF0F, 0xFF0F}, {0xFF1A, 0xFF1A},
    {0xFF1C, 0xFF1C},   {0xFF1E, 0xFF20}, {0xFF3B, 0xFF3E}, {0xFF5C, 0xFF5C}, {0xFFE3, 0xFFE3},
    {0x1F100, 0x1F100},
}};

bool maps_to_delimiter(char32_t c) {
    const auto* it = std::upper_bound(
        k_maps_to_delimiter.begin(), k_maps_to_delimiter.end(), c,
        [](char32_t value, const code_point_range& range) { return value < range.first; });
    return it != k_maps_to_delimiter.begin() && c <= std::prev(it)->last;
}

// WHATWG forbidden domain code points in ASCII: the forbidden host code points, C0 controls and
// DEL.
bool is_forbidden_ascii(char32_t c) {
    constexpr std::string_view k_forbidden = " #%/:<>?@[\\]^|";
    return c < 0x20 || c == 0x7F ||
           (c < 0x80 && k_forbidden.find(static_cast<char>(c)) != std::string_view::npos);
}

bool is_forbidden_host_code_point(char32_t c) {
    if (c < 0x80) {
        return is_forbidden_ascii(c);
    }
    return c <= 0x9F ||                     // C1 controls
           c == 0x2028 || c == 0x2029 ||    // line and paragraph separators
           (c >= 0xFDD0 && c <= 0xFDEF) ||  // noncharacters
           (c & 0xFFFE) == 0xFFFE ||        // U+xFFFE, U+xFFFF
           c == 0xFFFD ||                   // a replacement character
           maps_to_delimiter(c);
}

// WHATWG's IPv4 number parser: "0x"/"0X" hex, a leading "0" octal, else decimal. nullopt for
// an empty part, a digit outside the base or a value past 2^32.
std::optional<std::uint64_t> parse_ipv4_number(std::string_view part) {
    if (part.empty()) {
        return std::nullopt;
    }
    unsigned base = 10;
    if (part.size() >= 2 && part[0] == '0' && (part[1] == 'x' || part[1] == 'X')) {
        base = 16;
        part.remove_prefix(2);
    } else if (part.size() >= 2 && part[0] == '0') {
        base = 8;
        part.remove_prefix(1);
    }
    std::uint64_t value = 0;
    for (const char c : part) {
        const int value_of_c = hex_value(c);
        if (value_of_c < 0) {
            return std::nullopt;
        }
        const auto digit = static_cast<unsigned>(value_of_c);
        if (digit >= base) {
            return std::nullopt;
        }
        value = value * base + digit;
        if (value > 0xFFFFFFFFULL) {
            return std::nullopt;
        }
    }
    return value;
}

// WHATWG "ends in a number": the last label (a trailing dot aside) is all digits, or "0x"
// followed by hex digits.
bool ends_in_number(std::string_view host) {
    if (host.ends_with('.')) {
        host.remove_suffix(1);
    }
    const std::size_t dot = host.rfind('.');
    const std::string_view last = dot == std::string_view::npos ? host : host.substr(dot + 1);
    if (last.empty()) {
        return false;
    }
    if (std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return true;
    }
    return (last.starts_with("0x") || last.starts_with("0X")) &&
           std::all_of(last.begin() + 2, last.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
           });
}

// WHATWG's IPv4 parser, as a check: at most four parts, every one a number, the leading ones
// below 256 and the last one below 256^(5 - parts).
bool is_valid_ipv4_host(std::string_view host) {
    if (host.ends_with('.')) {
        host.remove_suffix(1);
    }
    std::vector<std::uint64_t> numbers;
    std::size_t pos = 0;
    while (true) {
        const std::size_t dot = host.find('.', pos);
        const std::string_view part =
            host.substr(pos, dot == std::string_view::npos ? host.npos : dot - pos);
        const auto number = parse_ipv4_number(part);
        if (!number || numbers.size() == 4) {
            return false;
        }
        numbers.push_back(*number);
        if (dot == std::string_view::npos) {
            break;
        }
        pos = dot + 1;
    }
    for (std::size_t i = 0; i + 1 < numbers.size(); ++i) {
        if (numbers[i] > 255) {
            return false;
        }
    }
    const std::uint64_t limit = 1ULL << (8 * (5 - numbers.size()));
    return numbers.back() < limit;
}

}  // namespace

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

}  // namespace harvest::core

namespace harvest::core {

result<std::string> host_to_ascii(std::string_view host) {
    if (is_ascii(host) && host.find('%') == std::string_view::npos) {
        // The common case: nothing to decode or map.
        if (std::any_of(host.begin(), host.end(),
                        [](char c) { return is_forbidden_ascii(static_cast<unsigned char>(c)); })) {
            return invalid_url();
        }
        std::string out = ascii_lowered(host);
        if (ends_in_number(out) && !is_valid_ipv4_host(out)) {
            return invalid_url();
        }
        return out;
    }
    // Escapes decoded first (WHATWG): "%2F" is as much a '/' as '/' is.
    std::string decoded;
    decoded.reserve(host.size());
    for (std::size_t i = 0; i < host.size(); ++i) {
        if (const int b = detail::escaped_byte_at(host, i); b >= 0) {
            decoded += static_cast<char>(b);
            i += 2;
        } else {
            decoded += host[i];
        }
    }
    if (!is_valid_utf8(decoded)) {
        return invalid_url();
    }
    for (char& c : decoded) {
        c = ascii_lower(c);
    }
    bool ascii = true;
    for (const char32_t c : to_code_points(decoded)) {
        if (is_forbidden_host_code_point(c)) {
            return invalid_url();
        }
        ascii = ascii && c < 0x80;
    }
    std::string out = decoded;
    if (!ascii) {
        auto mapped = idna_to_ascii(decoded);
        if (mapped) {
            out = std::move(*mapped);
        }
        // What the mapping made must be as clean as what was written.
        if (std::any_of(out.begin(), out.end(),
                        [](char c) { return is_forbidden_ascii(static_cast<unsigned char>(c)); })) {
            return invalid_url();
        }
    }
    if (ends_in_number(out) && !is_valid_ipv4_host(out)) {
        return invalid_url();
    }
    return out;
}

}  // namespace harvest::core
