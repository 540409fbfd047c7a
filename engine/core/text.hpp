#pragma once
// Small text helpers that every parser here needs: trimming, ASCII case-insensitive comparison
// and strict number parsing. Header-only and dependency-free, so the pure pipeline libraries
// (normalize, html, structured) can use them without linking the engine.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace harvest::core {

// The C locale's isspace set.
inline constexpr std::string_view ascii_space = " \t\r\n\f\v";
// HTTP's optional whitespace (RFC 9110 §5.6.3).
inline constexpr std::string_view http_ows = " \t";

// The value of a hexadecimal digit of either case, or -1 for any other character.
constexpr int hex_value(char c) noexcept {
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

constexpr bool is_ascii_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}

constexpr bool is_ascii_hex(char c) noexcept {
    return hex_value(c) >= 0;
}

// A byte of ascii_space: the C locale's isspace, without its locale or its negative-char trap.
constexpr bool is_ascii_space(char c) noexcept {
    return ascii_space.find(c) != std::string_view::npos;
}

// HTML's ASCII whitespace: space, tab, LF, FF, CR (no vertical tab, unlike ascii_space).
constexpr bool is_html_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

// `text` without the characters of `set` at either end.
constexpr std::string_view trim(std::string_view text, std::string_view set = ascii_space) {
    const std::size_t first = text.find_first_not_of(set);
    if (first == std::string_view::npos) {
        return {};
    }
    return text.substr(first, text.find_last_not_of(set) - first + 1);
}

// `text` without the URL standard's "C0 control or space" (the bytes 0x00 to 0x20) at either
// end: what a browser's URL parser strips from its input before anything else.
constexpr std::string_view trim_c0_control_or_space(std::string_view text) {
    while (!text.empty() && static_cast<unsigned char>(text.front()) <= 0x20) {
        text.remove_prefix(1);
    }
    while (!text.empty() && static_cast<unsigned char>(text.back()) <= 0x20) {
        text.remove_suffix(1);
    }
    return text;
}

// ASCII case mapping: only A-Z and a-z change, whatever the locale; every other byte (UTF-8
// included) is left as it is. Unlike std::tolower, safe for negative chars.
constexpr char ascii_lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr char ascii_upper(char c) {
    return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

// `text` with its ASCII letters lowered, in place.
constexpr void ascii_lower_in_place(std::string& text) {
    for (char& c : text) {
        c = ascii_lower(c);
    }
}

// A copy of `text` with its ASCII letters lowered.
inline std::string ascii_lowered(std::string_view text) {
    std::string out(text);
    ascii_lower_in_place(out);
    return out;
}

// Equal but for ASCII letter case.
constexpr bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        const char x = a[i];
        const char y = b[i];
        // Bytes that differ are equal only as the two cases of one letter: they differ in
        // bit 5 alone, and with it set they are a lower-case letter.
        if (x != y && ((x ^ y) != 0x20 || static_cast<unsigned char>((x | 0x20) - 'a') >= 26)) {
            return false;
        }
    }
    return true;
}

// `text` begins with `prefix`, but for ASCII letter case.
constexpr bool istarts_with(std::string_view text, std::string_view prefix) {
    return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

// The whole of `text` (surrounding whitespace aside) as a finite number, or nothing: "12.5"
// is 12.5, "12.5 EUR", "", "nan" and "1e999" are nothing.
[[nodiscard]] inline std::optional<double> parse_double(std::string_view text) {
    text = trim(text);
    double number = 0;
    const auto result = std::from_chars(text.data(), text.data() + text.size(), number);
    if (text.empty() || result.ec != std::errc{} || result.ptr != text.data() + text.size() ||
        !std::isfinite(number)) {
        return std::nullopt;
    }
    return number;
}

// `number` as an int64 when it is a whole number in range: 3.0 is 3, 3.5 and 2^63 are nothing.
[[nodiscard]] inline std::optional<std::int64_t> integral_double(double number) {
    // 2^63 is exactly representable; the range check must exclude it.
    constexpr double limit = 9223372036854775808.0;
    if (!std::isfinite(number) || std::trunc(number) != number || number < -limit ||
        number >= limit) {
        return std::nullopt;
    }
    return static_cast<std::int64_t>(number);
}

// The whole of `text` (surrounding whitespace aside) as an int64: "42" and "3.0" are numbers,
// "3.5", "" and "9223372036854775808" are nothing.
[[nodiscard]] inline std::optional<std::int64_t> parse_int64(std::string_view text) {
    text = trim(text);
    std::int64_t integer = 0;
    const auto result = std::from_chars(text.data(), text.data() + text.size(), integer);
    if (!text.empty() && result.ec == std::errc{} && result.ptr == text.data() + text.size()) {
        return integer;
    }
    const auto number = parse_double(text);
    return number ? integral_double(*number) : std::nullopt;
}

// The first number written in free text, for numbers given with their units or words around
// them: "12 in stock" is 12, "4.5 out of 5" is 4.5, "(1,234 reviews)" is 1234, "-3 °C" is -3.
// A ',' (or a space, or a no-break space) followed by exactly three digits groups thousands;
// a '.' followed by digits starts the fraction. Nothing when the text has no digit.
[[nodiscard]] inline std::optional<double> first_number(std::string_view text) {
    const auto digit = [&](std::size_t i) {
        return i < text.size() && text[i] >= '0' && text[i] <= '9';
    };
    std::size_t i = 0;
    while (i < text.size() && !digit(i)) {
        ++i;
    }
    if (i == text.size()) {
        return std::nullopt;
    }
    const bool negative = i > 0 && text[i - 1] == '-';
    std::string number = negative ? "-" : "";
    while (true) {
        while (digit(i)) {
            number += text[i++];
        }
        // A thousands separator: ',' or ' ' (or U+00A0, two bytes) before exactly 3 digits.
        std::size_t width = 0;
        if (i < text.size() && (text[i] == ',' || text[i] == ' ')) {
            width = 1;
        } else if (text.substr(i, 2) == "\xC2\xA0") {
            width = 2;
        }
        if (width != 0 && digit(i + width) && digit(i + width + 1) && digit(i + width + 2) &&
            !digit(i + width + 3)) {
            i += width;
            continue;
        }
        break;
    }
    if (i + 1 < text.size() && text[i] == '.' && digit(i + 1)) {
        number += text[i++];
        while (digit(i)) {
            number += text[i++];
        }
    }
    return parse_double(number);
}

// Length of the well-formed UTF-8 sequence at text[pos] (1-4), or 0 when the bytes there are
// not one: a stray continuation byte, an overlong form, a surrogate, a code point above
// U+10FFFF or a sequence cut short by the end of `text` (Unicode 15 table 3-7).
constexpr std::size_t utf8_sequence_length(std::string_view text, std::size_t pos) {
    const auto b0 = static_cast<unsigned char>(text[pos]);
    if (b0 < 0x80) {
        return 1;
    }
    std::size_t length = 0;
    unsigned char low = 0x80;  // the range of the second byte; the later ones are 80..BF
    unsigned char high = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        length = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        length = 3;
        low = b0 == 0xE0 ? 0xA0 : 0x80;
        high = b0 == 0xED ? 0x9F : 0xBF;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        length = 4;
        low = b0 == 0xF0 ? 0x90 : 0x80;
        high = b0 == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (text.size() - pos < length) {
        return 0;
    }
    const auto b1 = static_cast<unsigned char>(text[pos + 1]);
    if (b1 < low || b1 > high) {
        return 0;
    }
    for (std::size_t i = 2; i < length; ++i) {
        const auto b = static_cast<unsigned char>(text[pos + i]);
        if (b < 0x80 || b > 0xBF) {
            return 0;
        }
    }
    return length;
}

// True when all of `text` is well-formed UTF-8.
constexpr bool is_valid_utf8(std::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
        const std::size_t length = utf8_sequence_length(text, i);
        if (length == 0) {
            return false;
        }
        i += length;
    }
    return true;
}

// Appends code point `cp` as UTF-8: the one encoder of the HTML entity and CSS escape readers
// and of the legacy-encoding decoders. `cp` must be a Unicode scalar value (at most U+10FFFF,
// not a surrogate); a caller reading code points from untrusted text replaces the others first.
inline void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

// Appends the well-formed UTF-8 sequence that starts at text[i], or U+FFFD when the byte at i
// starts none, and returns the index after what it read: one step of append_valid_utf8, for the
// writers that escape some bytes themselves (JSON, CSV).
inline std::size_t append_utf8_at(std::string& out, std::string_view text, std::size_t i) {
    const std::size_t length = utf8_sequence_length(text, i);
    if (length == 0) {
        out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
        return i + 1;
    }
    out.append(text.substr(i, length));
    return i + length;
}

// Appends `text` with each byte that does not belong to a well-formed UTF-8 sequence replaced by
// U+FFFD: the one rule every writer uses (JSON Lines, CSV, SQLite, label values in /metrics), so
// the outputs of one crawl hold the same text.
inline void append_valid_utf8(std::string& out, std::string_view text) {
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t end = i;
        while (end < text.size() && static_cast<unsigned char>(text[end]) < 0x80) {
            ++end;
        }
        out.append(text.substr(i, end - i));  // runs of ASCII at once: most text is only that
        i = end;
        if (i == text.size()) {
            break;
        }
        i = append_utf8_at(out, text, i);
    }
}

}  // namespace harvest::core
