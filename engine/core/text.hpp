#pragma once
// Small text helpers that every parser here needs: trimming, ASCII case-insensitive comparison
// and strict number parsing. Header-only and dependency-free, so the pure pipeline libraries
// (normalize, html, structured) can use them without linking the engine.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string_view>
#include <system_error>

namespace harvest::core {

// The C locale's isspace set.
inline constexpr std::string_view ascii_space = " \t\r\n\f\v";
// HTTP's optional whitespace (RFC 9110 §5.6.3).
inline constexpr std::string_view http_ows = " \t";

// `text` without the characters of `set` at either end.
constexpr std::string_view trim(std::string_view text, std::string_view set = ascii_space) {
    const std::size_t first = text.find_first_not_of(set);
    if (first == std::string_view::npos) {
        return {};
    }
    return text.substr(first, text.find_last_not_of(set) - first + 1);
}

constexpr char ascii_lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// Equal but for ASCII letter case.
constexpr bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return ascii_lower(x) == ascii_lower(y);
           });
}

// The whole of `text` (surrounding whitespace aside) as a finite number, or nothing: "12.5"
// is 12.5, "12.5 EUR", "", "nan" and "1e999" are nothing.
inline std::optional<double> parse_double(std::string_view text) {
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
inline std::optional<std::int64_t> integral_double(double number) {
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
inline std::optional<std::int64_t> parse_int64(std::string_view text) {
    text = trim(text);
    std::int64_t integer = 0;
    const auto result = std::from_chars(text.data(), text.data() + text.size(), integer);
    if (!text.empty() && result.ec == std::errc{} && result.ptr == text.data() + text.size()) {
        return integer;
    }
    const auto number = parse_double(text);
    return number ? integral_double(*number) : std::nullopt;
}

}  // namespace harvest::core
