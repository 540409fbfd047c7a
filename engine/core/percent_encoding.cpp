// Percent-encoding (w3lib's _quote, _unquote and quote_plus) and the text-to-bytes step before
// it: UTF-8, Latin-1 and Windows-1251, and the sanitizing of raw input. See
// engine/core/detail/percent_encoding.hpp.

#include "engine/core/detail/percent_encoding.hpp"

#include "engine/core/text.hpp"
#include "engine/core/url_canonical.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace harvest::core {

namespace detail {

namespace {

constexpr char k_hex_upper[] = "0123456789ABCDEF";

}  // namespace

// ---------------------------------------------------------------------------------------------
// Escapes

int escaped_byte_at(std::string_view s, std::size_t i) {
    if (s[i] == '%' && i + 2 < s.size()) {
        const int h1 = hex_value(s[i + 1]);
        const int h2 = hex_value(s[i + 2]);
        if (h1 >= 0 && h2 >= 0) {
            return (h1 << 4) | h2;
        }
    }
    return -1;
}

void append_escaped(std::string& out, unsigned char b) {
    out += '%';
    out += k_hex_upper[b >> 4];
    out += k_hex_upper[b & 0x0F];
}

void append_quoted(std::string& out, unsigned char b, const char_set& safe) {
    if (safe.contains(b)) {
        out += static_cast<char>(b);
    } else {
        append_escaped(out, b);
    }
}

std::string quote(std::string_view bytes, const char_set& safe) {
    std::string out;
    out.reserve(bytes.size());
    for (char c : bytes) {
        append_quoted(out, static_cast<unsigned char>(c), safe);
    }
    return out;
}

std::string quote_plus(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    for (char c : bytes) {
        if (c == ' ') {
            out += '+';
        } else {
            append_quoted(out, static_cast<unsigned char>(c), k_unreserved);
        }
    }
    return out;
}

std::string unquote(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (const int b = escaped_byte_at(s, i); b >= 0) {
            out += static_cast<char>(b);
            i += 2;
            continue;
        }
        out += s[i];
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// UTF-8 and the query encodings

namespace {

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

}  // namespace

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

namespace {

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

}  // namespace

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
    const std::string_view trimmed = core::trim_c0_control_or_space(text);
    std::string out;
    out.reserve(trimmed.size());
    for (const char c : trimmed) {
        if (c != '\t' && c != '\r' && c != '\n') {
            out += c;
        }
    }
    return out;
}

}  // namespace detail

std::string latin1_to_utf8(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    for (char c : bytes) {
        core::append_utf8(out, static_cast<unsigned char>(c));
    }
    return out;
}

}  // namespace harvest::core
