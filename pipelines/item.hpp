#pragma once
// Items: what extractors emit and outputs write (docs/items.md).
//
// An item is a boost::json::object, which keeps insertion order: `url`, `fetched_at`, `status`
// first, then the extracted fields in config order. Outputs serialize it with append_json()
// below rather than boost::json::serialize(), so numbers read the way people write them
// ("19.99", not "1.999E1") and the bytes written are always valid UTF-8.

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace harvest::pipelines {

using item = boost::json::object;

// "2026-11-28T13:05:09.123Z": UTC, milliseconds, truncated (not rounded) toward the past.
// Pure arithmetic on the civil calendar: no time zone database, no locale, thread-safe.
std::string format_rfc3339_ms(std::chrono::system_clock::time_point time);

// The same text in a buffer of its own, for a caller that copies it on at once (an item's
// fetched_at): no allocation.
struct rfc3339_text {
    std::array<char, 40> bytes{};
    std::size_t size = 0;
    [[nodiscard]] std::string_view view() const noexcept { return {bytes.data(), size}; }
};
rfc3339_text rfc3339_ms(std::chrono::system_clock::time_point time);

// Appends `value` as compact JSON. Keys keep their order. Doubles use the shortest text that
// reads back to the same double (NaN and infinities, which JSON lacks, become null). Strings
// escape `"`, `\` and control characters; invalid UTF-8 bytes become U+FFFD.
void append_json(std::string& out, const boost::json::value& value);
void append_json(std::string& out, const item& object);

// Appends `text` as a JSON string literal, quotes included (the escaping of append_json).
void append_json_string(std::string& out, std::string_view text);

// The shortest decimal text for `number` that reads back to it ("19.99", "1e+21"), as
// std::to_chars writes it; append_double appends the same text.
std::string format_double(double number);
void append_double(std::string& out, double number);

// Appends `number` in decimal, as JSON, CSV and SQLite keys write it.
void append_integer(std::string& out, std::int64_t number);
void append_integer(std::string& out, std::uint64_t number);

}  // namespace harvest::pipelines
