#include "engine/resilience/retry_after.hpp"

#include "engine/core/text.hpp"

#include <algorithm>
#include <array>
#include <limits>

namespace harvest::resilience {

namespace {

using core::iequals;

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// `s` is not empty and every character of it is one `is_kind` accepts.
bool all_of_kind(std::string_view s, bool (*is_kind)(char)) {
    return !s.empty() && std::all_of(s.begin(), s.end(), is_kind);
}

bool all_digits(std::string_view s) {
    return all_of_kind(s, core::is_ascii_digit);
}

bool all_alpha(std::string_view s) {
    return all_of_kind(s, is_alpha);
}

// Small numbers only (date fields): at most 4 digits, checked by the callers.
int to_int(std::string_view s) {
    int v = 0;
    for (char c : s) {
        v = v * 10 + (c - '0');
    }
    return v;
}

constexpr std::array<std::string_view, 7> day_short{"mon", "tue", "wed", "thu",
                                                    "fri", "sat", "sun"};
constexpr std::array<std::string_view, 7> day_long{"monday", "tuesday",  "wednesday", "thursday",
                                                   "friday", "saturday", "sunday"};
constexpr std::array<std::string_view, 12> month_short{"jan", "feb", "mar", "apr", "may", "jun",
                                                       "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 12> month_long{
    "january", "february", "march",     "april",   "may",      "june",
    "july",    "august",   "september", "october", "november", "december"};

bool is_day_name(std::string_view s) {
    for (std::size_t i = 0; i < day_short.size(); ++i) {
        if (iequals(s, day_short[i]) || iequals(s, day_long[i])) {
            return true;
        }
    }
    return false;
}

// 1..12, or 0 when not a month name.
unsigned month_number(std::string_view s) {
    for (std::size_t i = 0; i < month_short.size(); ++i) {
        if (iequals(s, month_short[i]) || iequals(s, month_long[i])) {
            return static_cast<unsigned>(i + 1);
        }
    }
    return 0;
}

// Named zones Python's email.utils knows (RFC 822), as minutes east of UTC.
std::optional<int> zone_offset_minutes(std::string_view s) {
    struct named_zone {
        std::string_view name;
        int minutes;
    };
    static constexpr std::array<named_zone, 12> zones{{{"gmt", 0},
                                                       {"ut", 0},
                                                       {"utc", 0},
                                                       {"z", 0},
                                                       {"est", -5 * 60},
                                                       {"edt", -4 * 60},
                                                       {"cst", -6 * 60},
                                                       {"cdt", -5 * 60},
                                                       {"mst", -7 * 60},
                                                       {"mdt", -6 * 60},
                                                       {"pst", -8 * 60},
                                                       {"pdt", -7 * 60}}};
    for (const auto& z : zones) {
        if (iequals(s, z.name)) {
            return z.minutes;
        }
    }
    if (s.size() == 5 && (s[0] == '+' || s[0] == '-') && all_digits(s.substr(1))) {
        const int hours = to_int(s.substr(1, 2));
        const int minutes = to_int(s.substr(3, 2));
        if (hours > 23 || minutes > 59) {
            return std::nullopt;
        }
        const int total = hours * 60 + minutes;
        return s[0] == '-' ? -total : total;
    }
    return std::nullopt;
}

bool is_leap(std::int64_t y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in_month(std::int64_t y, unsigned m) {
    static constexpr std::array<unsigned, 12> days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return (m == 2 && is_leap(y)) ? 29 : days[m - 1];
}

// Year of a day count since 1970-01-01 (inverse of days_from_civil, year part only).
std::int64_t year_from_days(std::int64_t z) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    return static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    std::int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) {
        --q;
    }
    return q;
}

struct time_of_day {
    int hour = 0;
    int minute = 0;
    int second = 0;
};

// h:mm or h:mm:ss, each part one or two digits.
std::optional<time_of_day> parse_time(std::string_view s) {
    std::array<int, 3> parts{0, 0, 0};
    std::size_t count = 0;
    while (true) {
        const auto colon = s.find(':');
        const std::string_view part = s.substr(0, colon);
        if (count >= parts.size() || !all_digits(part) || part.size() > 2) {
            return std::nullopt;
        }
        parts[count++] = to_int(part);
        if (colon == std::string_view::npos) {
            break;
        }
        s.remove_prefix(colon + 1);
    }
    if (count < 2 || parts[0] > 23 || parts[1] > 59 || parts[2] > 60) {
        return std::nullopt;
    }
    return time_of_day{parts[0], parts[1], parts[2]};
}

}  // namespace

std::optional<std::int64_t> parse_http_date(std::string_view value,
                                            std::chrono::system_clock::time_point now) {
    // Split on spaces and commas; "03-Jun-19" (RFC 850) splits further on '-'.
    std::array<std::string_view, 12> tokens{};
    std::size_t count = 0;
    auto push = [&](std::string_view t) {
        if (count == tokens.size()) {
            return false;
        }
        tokens[count++] = t;
        return true;
    };
    std::size_t i = 0;
    while (i < value.size()) {
        if (core::is_ascii_space(value[i]) || value[i] == ',') {
            ++i;
            continue;
        }
        std::size_t j = i;
        while (j < value.size() && !core::is_ascii_space(value[j]) && value[j] != ',') {
            ++j;
        }
        const std::string_view token = value.substr(i, j - i);
        i = j;
        const bool numeric_zone = token.front() == '+' || token.front() == '-';
        if (!numeric_zone && token.find('-') != std::string_view::npos) {
            std::string_view rest = token;
            while (true) {
                const auto dash = rest.find('-');
                if (!push(rest.substr(0, dash))) {
                    return std::nullopt;
                }
                if (dash == std::string_view::npos) {
                    break;
                }
                rest.remove_prefix(dash + 1);
            }
        } else if (!push(token)) {
            return std::nullopt;
        }
    }

    unsigned month = 0;
    std::optional<time_of_day> time;
    std::optional<int> zone;
    std::array<std::string_view, 2> numbers{};
    std::size_t number_count = 0;
    for (std::size_t k = 0; k < count; ++k) {
        const std::string_view t = tokens[k];
        if (t.empty()) {
            return std::nullopt;  // "03--Jun" and the like
        }
        if (k == 0 && is_day_name(t)) {
            continue;
        }
        if (all_digits(t)) {
            if (number_count == numbers.size() || t.size() > 4) {
                return std::nullopt;
            }
            numbers[number_count++] = t;
            continue;
        }
        if (t.find(':') != std::string_view::npos) {
            if (time) {
                return std::nullopt;
            }
            time = parse_time(t);
            if (!time) {
                return std::nullopt;
            }
            continue;
        }
        if (all_alpha(t) && month == 0) {
            if (const unsigned m = month_number(t); m != 0) {
                month = m;
                continue;
            }
        }
        if (!zone && time) {  // a zone follows the time
            zone = zone_offset_minutes(t);
            if (zone) {
                continue;
            }
        }
        return std::nullopt;
    }
    if (month == 0 || !time || number_count != 2) {
        return std::nullopt;
    }
    const std::string_view day_text = numbers[0];
    const std::string_view year_text = numbers[1];
    if (day_text.size() > 2 || (year_text.size() != 2 && year_text.size() != 4)) {
        return std::nullopt;
    }
    std::int64_t year = to_int(year_text);
    if (year_text.size() == 2) {
        const auto now_s =
            std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
        const std::int64_t now_year = year_from_days(floor_div(now_s, 86400));
        year += now_year - now_year % 100;
        if (year + 100 <= now_year + 50) {
            year += 100;
        }
        if (year > now_year + 50) {
            year -= 100;
        }
    }
    const int day = to_int(day_text);
    if (day < 1 || static_cast<unsigned>(day) > days_in_month(year, month)) {
        return std::nullopt;
    }
    const std::int64_t days = days_from_civil(year, month, static_cast<unsigned>(day));
    const std::int64_t local = days * 86400 + time->hour * 3600 + time->minute * 60 + time->second;
    return local - static_cast<std::int64_t>(zone.value_or(0)) * 60;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now) {
    value = core::trim(value);
    if (value.empty()) {
        return std::nullopt;
    }
    if (all_digits(value)) {
        // Saturate instead of overflowing: a server asking for centuries gets "very long",
        // which the policy then refuses (retry_after_too_long) or clamps.
        std::int64_t v = 0;
        for (char c : value) {
            v = v * 10 + (c - '0');
            if (v >= retry_after_saturation.count()) {
                return retry_after_saturation;
            }
        }
        return std::chrono::seconds(v);
    }
    const auto date = parse_http_date(value, now);
    if (!date) {
        return std::nullopt;
    }
    // Whole seconds, rounded up: coming back a fraction early would only earn another refusal.
    // date is whole seconds, so ceil(date - now) = date - floor(now).
    const auto now_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    const std::int64_t wait = *date - floor_div(now_ns, 1'000'000'000);
    if (wait <= 0) {
        return std::chrono::seconds(0);
    }
    return std::chrono::seconds(std::min(wait, retry_after_saturation.count()));
}

}  // namespace harvest::resilience
