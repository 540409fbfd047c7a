#pragma once
// Retry-After (RFC 9110 §10.2.3): delta-seconds or an HTTP-date (§5.6.7: IMF-fixdate, the
// obsolete RFC 850 and asctime forms). Independent of the local time zone: dates are turned
// into seconds with plain calendar arithmetic, never mktime/timegm.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace harvest::resilience {

// Delta-seconds larger than this saturate to it (about 100 years; still representable in
// nanoseconds when added to any steady_clock time).
inline constexpr std::chrono::seconds retry_after_saturation{3'155'760'000};

// `value` is the header value. Delta-seconds: ^\s*[0-9]+\s*$ (no sign, no fraction). An
// HTTP-date gives max(0, date - now), rounded down to whole seconds. Anything else (garbage,
// negative, fractional, out-of-range date fields) = nullopt: the caller falls back to backoff.
[[nodiscard]] std::optional<std::chrono::seconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now);

// The HTTP-date alone, as seconds since 1970-01-01T00:00:00Z (negative before). Accepts the
// three RFC 9110 forms, leniently as urllib3 (Python's email.utils) does: day of month with one
// or two digits, optional day name, zone GMT/UT/UTC/Z, a numeric offset (+hhmm) or US zone
// names, no zone = UTC. A two-digit year (RFC 850) is the year with those digits at most 50
// years after `now`'s year.
[[nodiscard]] std::optional<std::int64_t> parse_http_date(
    std::string_view value, std::chrono::system_clock::time_point now);

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

}  // namespace harvest::resilience
