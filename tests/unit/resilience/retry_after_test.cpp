#include "engine/resilience/retry_after.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <ctime>
#include <string>

namespace {

using harvest::resilience::days_from_civil;
using harvest::resilience::parse_http_date;
using harvest::resilience::parse_retry_after;
using harvest::resilience::retry_after_saturation;
using std::chrono::seconds;

std::chrono::system_clock::time_point at(std::int64_t epoch_seconds) {
    return std::chrono::system_clock::time_point(seconds(epoch_seconds));
}

// 2019-06-03T11:00:00Z, the "now" of urllib3's test_respect_retry_after_header_sleep.
const auto now = at(1559559600);

}  // namespace

TEST_CASE("days_from_civil matches known dates", "[unit][retry_after]") {
    CHECK(days_from_civil(1970, 1, 1) == 0);
    CHECK(days_from_civil(1969, 12, 31) == -1);
    CHECK(days_from_civil(2000, 3, 1) == 11017);
    CHECK(days_from_civil(2019, 6, 3) * 86400 + 11 * 3600 == 1559559600);
    CHECK(days_from_civil(2038, 1, 19) * 86400 + 3 * 3600 + 14 * 60 + 7 == 2147483647);
    CHECK(days_from_civil(1600, 1, 1) == -135140);
}

TEST_CASE("Retry-After delta-seconds", "[unit][retry_after]") {
    CHECK(parse_retry_after("0", now) == seconds(0));
    CHECK(parse_retry_after("120", now) == seconds(120));
    CHECK(parse_retry_after("\t42 ", now) == seconds(42));
    CHECK(parse_retry_after("  007  ", now) == seconds(7));
    CHECK(parse_retry_after("1000", now) == seconds(1000));
    SECTION("huge values saturate instead of overflowing") {
        CHECK(parse_retry_after("99999999999999999999999999999999", now) == retry_after_saturation);
        CHECK(parse_retry_after("18446744073709551616", now) == retry_after_saturation);
        CHECK(parse_retry_after("3155759999", now) == seconds(3155759999));
    }
}

TEST_CASE("Retry-After garbage is rejected", "[unit][retry_after]") {
    for (const char* bad : {"",
                            "   ",
                            "-1",
                            "+1",
                            "1.0",
                            "1e3",
                            "0x10",
                            "\xc2\xb2",
                            "12 34",
                            "soon",
                            "Mon, 03 Jun 2019",
                            "Mon, 32 Jun 2019 11:30:12 GMT",
                            "Mon, 30 Feb 2019 11:30:12 GMT",
                            "Mon, 03 Foo 2019 11:30:12 GMT",
                            "Mon, 03 Jun 2019 24:00:00 GMT",
                            "Mon, 03 Jun 2019 11:60:00 GMT",
                            "Mon, 03 Jun 2019 11:30:12 XYZ",
                            "Mon, 03 Jun 219 11:30:12 GMT",
                            "Mon, 03 Jun 2019 11:30:12 GMT extra",
                            "Mon,, 03--Jun-19 11:30:12",
                            "1 2 3 4 5 6 7 8 9 10 11 12 13 14"}) {
        INFO("value: " << bad);
        CHECK_FALSE(parse_retry_after(bad, now).has_value());
    }
}

TEST_CASE("Retry-After HTTP-date in the three RFC 9110 forms", "[unit][retry_after]") {
    // 11:30:12 is 1812 s after now.
    CHECK(parse_retry_after("Mon, 03 Jun 2019 11:30:12 GMT", now) == seconds(1812));   // IMF
    CHECK(parse_retry_after("Monday, 03-Jun-19 11:30:12 GMT", now) == seconds(1812));  // RFC 850
    CHECK(parse_retry_after("Mon Jun  3 11:30:12 2019", now) == seconds(1812));        // asctime
    // Lenient forms urllib3 accepts.
    CHECK(parse_retry_after("Mon, 3 Jun 2019 12:00:00 UTC", now) == seconds(3600));
    CHECK(parse_retry_after("3 Jun 2019 12:00:00 GMT", now) == seconds(3600));
    CHECK(parse_retry_after("mon, 03 jun 2019 11:30:12 gmt", now) == seconds(1812));
    SECTION("numeric and named zones") {
        CHECK(parse_retry_after("Mon, 03 Jun 2019 13:00:00 +0100", now) == seconds(3600));
        CHECK(parse_retry_after("Mon, 03 Jun 2019 07:00:00 -0500", now) == seconds(3600));
        CHECK(parse_retry_after("Mon, 03 Jun 2019 07:00:00 EST", now) == seconds(3600));
        CHECK(parse_retry_after("Mon, 03 Jun 2019 05:00:00 PDT", now) == seconds(3600));
    }
    SECTION("a date in the past or now waits 0 s") {
        CHECK(parse_retry_after("Mon, 03 Jun 2019 11:00:00 GMT", now) == seconds(0));
        CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now) == seconds(0));
    }
    SECTION("a fractional now rounds the wait up") {
        const auto later = now + std::chrono::milliseconds(500);
        CHECK(parse_retry_after("Mon, 03 Jun 2019 11:00:10 GMT", later) == seconds(10));
    }
    SECTION("leap day and year boundaries") {
        CHECK(parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT", now) ==
              days_from_civil(2024, 2, 29) * 86400);
        CHECK_FALSE(parse_http_date("Fri, 29 Feb 2019 00:00:00 GMT", now).has_value());
        CHECK(parse_http_date("Fri, 31 Dec 1999 23:59:59 GMT", now) == 946684799);
        CHECK(parse_http_date("Sat, 01 Jan 2000 00:00:00 GMT", now) == 946684800);
        // RFC 9110's own example.
        CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", now) == 784111777);
        CHECK(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", now) == 784111777);
        CHECK(parse_http_date("Sun Nov  6 08:49:37 1994", now) == 784111777);
    }
    SECTION("two-digit years: at most 50 years ahead of now, else the previous century") {
        CHECK(parse_http_date("Wednesday, 01-Jan-69 00:00:00 GMT", now) ==
              days_from_civil(2069, 1, 1) * 86400);
        CHECK(parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT", now) == 0);
        const auto in_2090 = at(days_from_civil(2090, 6, 1) * 86400);
        CHECK(parse_http_date("Monday, 01-Jan-05 00:00:00 GMT", in_2090) ==
              days_from_civil(2105, 1, 1) * 86400);
    }
}

TEST_CASE("Retry-After does not depend on the local time zone", "[unit][retry_after]") {
    const char* saved = std::getenv("TZ");
    const std::string saved_tz = saved ? saved : "";
    for (const char* tz : {"UTC", "Asia/Kolkata", "America/Los_Angeles", "Pacific/Chatham"}) {
        ::setenv("TZ", tz, 1);
        ::tzset();
        INFO("TZ=" << tz);
        CHECK(parse_retry_after("Mon Jun  3 11:30:12 2019", now) == seconds(1812));
        CHECK(parse_retry_after("Mon, 03 Jun 2019 11:30:12 GMT", now) == seconds(1812));
    }
    if (saved) {
        ::setenv("TZ", saved_tz.c_str(), 1);
    } else {
        ::unsetenv("TZ");
    }
    ::tzset();
}
