#include "pipelines/item.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <limits>

using namespace harvest::pipelines;
using namespace std::chrono;

TEST_CASE("format_rfc3339_ms formats UTC with milliseconds", "[unit][item]") {
    struct row {
        system_clock::time_point time;
        const char* expected;
    };
    const row rows[] = {
        {system_clock::time_point{}, "1970-01-01T00:00:00.000Z"},
        {system_clock::time_point{milliseconds{1795871109123}}, "2026-11-28T13:05:09.123Z"},
        // Sub-millisecond parts are truncated, not rounded.
        {system_clock::time_point{microseconds{1795871109123999}}, "2026-11-28T13:05:09.123Z"},
        {system_clock::time_point{sys_days{year{2000} / February / 29} + hours{23} + minutes{59} +
                                  seconds{59} + milliseconds{999}},
         "2000-02-29T23:59:59.999Z"},
        {system_clock::time_point{sys_days{year{2024} / December / 31}},
         "2024-12-31T00:00:00.000Z"},
        // Before the epoch: floor keeps the date and the clock right.
        {system_clock::time_point{milliseconds{-1}}, "1969-12-31T23:59:59.999Z"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.expected);
        CHECK(format_rfc3339_ms(r.time) == r.expected);
    }
}

TEST_CASE("append_json writes compact JSON in insertion order", "[unit][item]") {
    item value;
    value.emplace("z", 1);
    value.emplace("a", "text");
    value.emplace("m", nullptr);
    value.emplace("price", 19.99);
    value.emplace("whole", 20.0);
    value.emplace("neg", -7);
    value.emplace("big", std::numeric_limits<std::uint64_t>::max());
    value.emplace("flag", false);
    value.emplace("nested", boost::json::parse(R"({"b":[1,{"c":true}],"a":{}})"));
    value.emplace("nan", std::numeric_limits<double>::quiet_NaN());
    std::string out;
    append_json(out, value);
    CHECK(out == R"({"z":1,"a":"text","m":null,"price":19.99,"whole":20,"neg":-7,)"
                 R"("big":18446744073709551615,"flag":false,"nested":{"b":[1,{"c":true}],"a":{}},)"
                 R"("nan":null})");
}

TEST_CASE("append_json_string escapes and keeps UTF-8", "[unit][item]") {
    struct row {
        std::string input;
        std::string expected;
    };
    const row rows[] = {
        {"plain", R"("plain")"},
        {"a & b < c > d", R"("a & b < c > d")"},
        {"say \"hi\"", R"("say \"hi\"")"},
        {"back\\slash", R"("back\\slash")"},
        {"tab\tnew\nline\rcr\bbs\fff", R"("tab\tnew\nline\rcr\bbs\fff")"},
        {std::string("nul\0x\x01\x1f", 7), R"("nul\u0000x\u0001\u001f")"},
        {"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80",
         "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\""},
        {"\x7f", "\"\x7f\""},
        // Invalid UTF-8 becomes U+FFFD, one per bad byte: lone continuation, truncated
        // sequence, overlong encoding, surrogate.
        {"a\x80z", "\"a\xEF\xBF\xBDz\""},
        {"a\xE2\x82", "\"a\xEF\xBF\xBD\xEF\xBF\xBD\""},
        {"\xC0\xAF", "\"\xEF\xBF\xBD\xEF\xBF\xBD\""},
        {"\xED\xA0\x80", "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""},
    };
    for (const auto& r : rows) {
        CAPTURE(r.input);
        std::string out;
        append_json_string(out, r.input);
        CHECK(out == r.expected);
        // Whatever went in, what comes out parses as JSON.
        CHECK_NOTHROW(boost::json::parse(out));
    }
}

TEST_CASE("append_json round-trips strings through a JSON parser", "[unit][item]") {
    const std::string text = std::string("\"&\\ \n\t\x01 caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC ") +
                             "\xF0\x9F\x9B\x92 </script>";
    item value;
    value.emplace("text", text);
    std::string out;
    append_json(out, value);
    const auto parsed = boost::json::parse(out);
    CHECK(parsed.at("text").as_string() == text);
}

TEST_CASE("format_double gives the shortest round-trip text", "[unit][item]") {
    CHECK(format_double(19.99) == "19.99");
    CHECK(format_double(0.1) == "0.1");
    CHECK(format_double(1299.99) == "1299.99");
    CHECK(format_double(3.0) == "3");
    CHECK(format_double(-0.5) == "-0.5");
    CHECK(format_double(1e21) == "1e+21");
}
