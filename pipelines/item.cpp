#include "pipelines/item.hpp"

#include "engine/core/text.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace harvest::pipelines {

std::string format_rfc3339_ms(std::chrono::system_clock::time_point time) {
    using namespace std::chrono;
    // floor, not duration_cast: a time before 1970 must still land in the right second.
    const auto ms = floor<milliseconds>(time);
    const auto day = floor<days>(ms);
    const year_month_day date{day};
    const hh_mm_ss<milliseconds> clock{ms - day};
    const int year = static_cast<int>(date.year());
    if (year < 0 || year > 9999) {
        // Outside what four digits hold: the general (and slower) formatting.
        std::array<char, 40> buffer{};
        const int written = std::snprintf(
            buffer.data(), buffer.size(), "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", year,
            static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
            static_cast<int>(clock.hours().count()), static_cast<int>(clock.minutes().count()),
            static_cast<int>(clock.seconds().count()),
            static_cast<int>(clock.subseconds().count()));
        return std::string(buffer.data(), written > 0 ? static_cast<std::size_t>(written) : 0);
    }
    // Every item carries this stamp: fixed-width digits by hand, not snprintf's parser.
    std::string out = "0000-00-00T00:00:00.000Z";
    const auto put = [&out](std::size_t at, std::size_t width, unsigned value) {
        for (std::size_t i = width; i-- > 0;) {
            out[at + i] = static_cast<char>('0' + value % 10);
            value /= 10;
        }
    };
    put(0, 4, static_cast<unsigned>(year));
    put(5, 2, static_cast<unsigned>(date.month()));
    put(8, 2, static_cast<unsigned>(date.day()));
    put(11, 2, static_cast<unsigned>(clock.hours().count()));
    put(14, 2, static_cast<unsigned>(clock.minutes().count()));
    put(17, 2, static_cast<unsigned>(clock.seconds().count()));
    put(20, 3, static_cast<unsigned>(clock.subseconds().count()));
    return out;
}

std::string format_double(double number) {
    std::array<char, 32> buffer{};
    // std::to_chars without a format gives the shortest round-trip text.
    const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), number);
    return std::string(buffer.data(), result.ptr);
}

void append_json_string(std::string& out, std::string_view text) {
    static constexpr char hex[] = "0123456789abcdef";
    out.push_back('"');
    std::size_t i = 0;
    while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            // Copy the run of plain ASCII at once: most text is nothing but that.
            std::size_t end = i + 1;
            // Eight bytes at a time while none is a control, non-ASCII, '"' or '\\' (exact
            // "has a byte less than n / equal to c" word tests): items are mostly such text.
            constexpr std::uint64_t ones = 0x0101010101010101ull;
            constexpr std::uint64_t highs = 0x8080808080808080ull;
            const auto has_zero = [](std::uint64_t v) { return (v - ones) & ~v & highs; };
            while (end + 8 <= text.size()) {
                std::uint64_t word = 0;
                std::memcpy(&word, text.data() + end, sizeof word);
                const std::uint64_t special = ((word - ones * 0x20) & ~word & highs) |
                                              (word & highs) | has_zero(word ^ (ones * '"')) |
                                              has_zero(word ^ (ones * '\\'));
                if (special != 0) {
                    break;
                }
                end += 8;
            }
            while (end < text.size()) {
                const auto next = static_cast<unsigned char>(text[end]);
                if (next < 0x20 || next >= 0x80 || next == '"' || next == '\\') {
                    break;
                }
                ++end;
            }
            out.append(text.substr(i, end - i));
            i = end;
            continue;
        }
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out.push_back(hex[c >> 4]);
                    out.push_back(hex[c & 0x0F]);
                } else {
                    i = core::append_utf8_at(out, text, i);
                    continue;
                }
        }
        ++i;
    }
    out.push_back('"');
}

void append_json(std::string& out, const item& object) {
    out.push_back('{');
    bool first = true;
    for (const auto& entry : object) {
        if (!first) {
            out.push_back(',');
        }
        first = false;
        append_json_string(out, entry.key());
        out.push_back(':');
        append_json(out, entry.value());
    }
    out.push_back('}');
}

namespace {

// 20 characters at the most, a sign included.
template <class Integer>
void append_decimal(std::string& out, Integer number) {
    std::array<char, 24> buffer{};
    const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), number);
    out.append(buffer.data(), result.ptr);
}

}  // namespace

void append_integer(std::string& out, std::int64_t number) {
    append_decimal(out, number);
}

void append_integer(std::string& out, std::uint64_t number) {
    append_decimal(out, number);
}

void append_json(std::string& out, const boost::json::value& value) {
    switch (value.kind()) {
        case boost::json::kind::null:
            out += "null";
            break;
        case boost::json::kind::bool_:
            out += value.get_bool() ? "true" : "false";
            break;
        case boost::json::kind::int64:
            append_integer(out, value.get_int64());
            break;
        case boost::json::kind::uint64:
            append_integer(out, value.get_uint64());
            break;
        case boost::json::kind::double_:
            if (std::isfinite(value.get_double())) {
                out += format_double(value.get_double());
            } else {
                out += "null";
            }
            break;
        case boost::json::kind::string:
            append_json_string(out, value.get_string());
            break;
        case boost::json::kind::array: {
            out.push_back('[');
            bool first = true;
            for (const auto& element : value.get_array()) {
                if (!first) {
                    out.push_back(',');
                }
                first = false;
                append_json(out, element);
            }
            out.push_back(']');
            break;
        }
        case boost::json::kind::object:
            append_json(out, value.get_object());
            break;
    }
}

}  // namespace harvest::pipelines
