#include "pipelines/item.hpp"

#include "engine/core/text.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace harvest::pipelines {

rfc3339_text rfc3339_ms(std::chrono::system_clock::time_point time) {
    using namespace std::chrono;
    // floor, not duration_cast: a time before 1970 must still land in the right second.
    const auto ms = floor<milliseconds>(time);
    const auto day = floor<days>(ms);
    const year_month_day date{day};
    const hh_mm_ss<milliseconds> clock{ms - day};
    const int year = static_cast<int>(date.year());
    rfc3339_text out;
    if (year < 0 || year > 9999) {
        // Outside what four digits hold: the general (and slower) formatting.
        const int written = std::snprintf(
            out.bytes.data(), out.bytes.size(), "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", year,
            static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
            static_cast<int>(clock.hours().count()), static_cast<int>(clock.minutes().count()),
            static_cast<int>(clock.seconds().count()),
            static_cast<int>(clock.subseconds().count()));
        out.size =
            written > 0 ? std::min(static_cast<std::size_t>(written), out.bytes.size() - 1) : 0;
        return out;
    }
    // Every item carries this stamp: fixed-width digits by hand, not snprintf's parser.
    constexpr std::string_view pattern = "0000-00-00T00:00:00.000Z";
    std::memcpy(out.bytes.data(), pattern.data(), pattern.size());
    out.size = pattern.size();
    const auto put = [&out](std::size_t at, std::size_t width, unsigned value) {
        for (std::size_t i = width; i-- > 0;) {
            out.bytes[at + i] = static_cast<char>('0' + value % 10);
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

std::string format_rfc3339_ms(std::chrono::system_clock::time_point time) {
    return std::string(rfc3339_ms(time).view());
}

namespace {

// format_double's text, written at `first` (room for 32 bytes); returns its end. Prices and
// ratings, most of the doubles items carry, are whole hundredths below 100,000: such a number's
// shortest text is its hundredths' decimal digits (any other decimal of no more digits lies
// at least 1e-8 away, and the double's spacing there is below 2e-11), written here without the
// general algorithm. A test checks every such number against std::to_chars.
char* write_double(char* first, double number) {
    if (number != 0 && std::abs(number) < 1e5) {
        const auto cents = static_cast<std::int64_t>(std::nearbyint(number * 100));
        if (static_cast<double>(cents) / 100 == number) {
            char* p = first;
            const auto magnitude = static_cast<std::uint64_t>(cents < 0 ? -cents : cents);
            if (cents < 0) {
                *p++ = '-';
            }
            p = std::to_chars(p, first + 32, magnitude / 100).ptr;
            const auto hundredths = static_cast<unsigned>(magnitude % 100);
            if (hundredths != 0) {
                *p++ = '.';
                *p++ = static_cast<char>('0' + hundredths / 10);
                if (hundredths % 10 != 0) {
                    *p++ = static_cast<char>('0' + hundredths % 10);
                }
            }
            return p;
        }
    }
    // std::to_chars without a format gives the shortest round-trip text.
    return std::to_chars(first, first + 32, number).ptr;
}

}  // namespace

std::string format_double(double number) {
    std::array<char, 32> buffer{};
    return {buffer.data(), write_double(buffer.data(), number)};
}

void append_double(std::string& out, double number) {
    std::array<char, 32> buffer{};
    out.append(buffer.data(), write_double(buffer.data(), number));
}

namespace {

// The bytes from text[at] on that go out as they are (printable ASCII other than '"' and '\\'):
// sixteen at a time with SSE2, then eight at a time by exact "has a byte less than n / equal to
// c" word tests (the lowest flagged byte is the first special one; higher flags may be false),
// then one at a time.
std::size_t plain_json_run(std::string_view text, std::size_t at) noexcept {
#if defined(__SSE2__)
    const __m128i space = _mm_set1_epi8(0x20);
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    for (; at + 16 <= text.size(); at += 16) {
        const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(text.data() + at));
        // Signed bytes: from 0x80 up they are negative, so "less than ' '" finds them too.
        const __m128i special = _mm_or_si128(
            _mm_cmplt_epi8(bytes, space),
            _mm_or_si128(_mm_cmpeq_epi8(bytes, quote), _mm_cmpeq_epi8(bytes, backslash)));
        if (const int mask = _mm_movemask_epi8(special); mask != 0) {
            return at + static_cast<std::size_t>(std::countr_zero(static_cast<unsigned>(mask)));
        }
    }
#endif
    static_assert(std::endian::native == std::endian::little, "the first byte is the lowest");
    constexpr std::uint64_t ones = 0x0101010101010101ull;
    constexpr std::uint64_t highs = 0x8080808080808080ull;
    const auto has_zero = [](std::uint64_t v) { return (v - ones) & ~v & highs; };
    for (; at + 8 <= text.size(); at += 8) {
        std::uint64_t word = 0;
        std::memcpy(&word, text.data() + at, 8);
        const std::uint64_t flags = ((word - ones * 0x20) & ~word & highs) | (word & highs) |
                                    has_zero(word ^ (ones * '"')) | has_zero(word ^ (ones * '\\'));
        if (flags != 0) {
            return at + static_cast<std::size_t>(std::countr_zero(flags) / 8);
        }
    }
    for (; at < text.size(); ++at) {
        const auto c = static_cast<unsigned char>(text[at]);
        if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') {
            break;
        }
    }
    return at;
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
    static constexpr char hex[] = "0123456789abcdef";
    std::size_t i = plain_json_run(text, 0);
    if (i == text.size()) {
        // Most text has nothing to escape: the quotes and the bytes in one write.
        const std::size_t at = out.size();
        out.resize(at + text.size() + 2);
        char* p = out.data() + at;
        *p = '"';
        std::memcpy(p + 1, text.data(), text.size());
        p[text.size() + 1] = '"';
        return;
    }
    out.push_back('"');
    out.append(text.substr(0, i));
    while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
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
                if (c >= 0x20 && c < 0x80) {
                    // The start of a plain run: copied at once.
                    const std::size_t end = plain_json_run(text, i);
                    out.append(text.substr(i, end - i));
                    i = end;
                    continue;
                }
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
                append_double(out, value.get_double());
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
