// Durations and sizes as written in crawl configs.

#include "config/loader.hpp"

#include <array>
#include <cmath>
#include <stdexcept>
#include <string>

namespace harvest::config {

namespace {

struct unit {
    std::string_view suffix;
    double factor;
};

// A decimal number without sign or exponent ("5", "1.5", ".5" is rejected): what users write
// in configs. Returns the value and the rest of the text (the unit).
bool split_number(std::string_view text, double& value, std::string_view& rest) {
    std::size_t i = 0;
    double integer_part = 0;
    std::size_t integer_digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        integer_part = integer_part * 10 + (text[i] - '0');
        ++i;
        ++integer_digits;
    }
    if (integer_digits == 0 || integer_digits > 15) {
        return false;
    }
    double fraction = 0;
    if (i < text.size() && text[i] == '.') {
        ++i;
        double scale = 0.1;
        std::size_t fraction_digits = 0;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
            fraction += (text[i] - '0') * scale;
            scale /= 10;
            ++i;
            ++fraction_digits;
        }
        if (fraction_digits == 0 || fraction_digits > 9) {
            return false;
        }
    }
    value = integer_part + fraction;
    rest = text.substr(i);
    return true;
}

}  // namespace

std::chrono::milliseconds parse_duration(std::string_view text) {
    // Longest suffix first so "ms" is not read as "m" followed by junk.
    static constexpr std::array<unit, 4> units{
        {{"ms", 1.0}, {"s", 1000.0}, {"m", 60000.0}, {"h", 3600000.0}}};
    double value = 0;
    std::string_view rest;
    if (!split_number(text, value, rest)) {
        throw std::invalid_argument("not a duration: \"" + std::string(text) +
                                    "\"; write a number and a unit, like 250ms, 5s, 2m, 1h");
    }
    for (const auto& u : units) {
        if (rest == u.suffix) {
            const double ms = std::round(value * u.factor);
            // 2^53 ms keeps the conversion exact and is far beyond any sensible timeout.
            if (ms > 9007199254740992.0) {
                throw std::invalid_argument("duration too large: \"" + std::string(text) + "\"");
            }
            return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
        }
    }
    throw std::invalid_argument("not a duration: \"" + std::string(text) +
                                "\"; the unit must be one of ms, s, m, h (like 250ms, 5s, 2m, 1h)");
}

std::uint64_t parse_size(std::string_view text) {
    static constexpr std::array<unit, 10> units{{{"", 1.0},
                                                 {"B", 1.0},
                                                 {"KiB", 1024.0},
                                                 {"MiB", 1024.0 * 1024},
                                                 {"GiB", 1024.0 * 1024 * 1024},
                                                 {"TiB", 1024.0 * 1024 * 1024 * 1024},
                                                 {"KB", 1e3},
                                                 {"MB", 1e6},
                                                 {"GB", 1e9},
                                                 {"TB", 1e12}}};
    double value = 0;
    std::string_view rest;
    if (!split_number(text, value, rest)) {
        throw std::invalid_argument("not a size: \"" + std::string(text) +
                                    "\"; write a number of bytes or one with a unit, like "
                                    "512KiB, 8MiB, 1GiB");
    }
    for (const auto& u : units) {
        if (rest == u.suffix) {
            const double bytes = std::round(value * u.factor);
            if (u.factor == 1.0 && bytes != value) {
                throw std::invalid_argument("not a size: \"" + std::string(text) +
                                            "\"; a number of bytes must be whole");
            }
            if (bytes > 9007199254740992.0) {
                throw std::invalid_argument("size too large: \"" + std::string(text) + "\"");
            }
            return static_cast<std::uint64_t>(bytes);
        }
    }
    throw std::invalid_argument("not a size: \"" + std::string(text) +
                                "\"; the unit must be one of B, KiB, MiB, GiB, TiB, KB, MB, GB, "
                                "TB (like 512KiB, 8MiB, 1GiB)");
}

}  // namespace harvest::config
