// parse_duration / parse_size: the unit tables of docs/config.md.

#include "config/loader.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

using harvest::config::parse_duration;
using harvest::config::parse_size;
using std::chrono::milliseconds;

TEST_CASE("parse_duration accepts ms, s, m, h and fractions", "[unit]") {
    struct row {
        const char* text;
        long long ms;
    };
    const row rows[] = {
        {"250ms", 250},     {"0ms", 0},       {"5s", 5000},   {"0s", 0},       {"2m", 120000},
        {"1h", 3600000},    {"1.5s", 1500},   {"0.25s", 250}, {"1.5m", 90000}, {"0.5h", 1800000},
        {"10m", 600000},    {"120s", 120000}, {"1.5ms", 2},  // rounded to the nearest millisecond
        {"30000ms", 30000},
    };
    for (const auto& r : rows) {
        INFO(r.text);
        CHECK(parse_duration(r.text) == milliseconds(r.ms));
    }
}

TEST_CASE("parse_duration rejects what is not a duration", "[unit]") {
    const char* bad[] = {"",    "5",     "5 s",   "5 seconds", "s",
                         "-5s", "+5s",   "5sec",  "5S",        "1.s",
                         ".5s", "1e3ms", "5d",    "5us",       " 5s",
                         "5s ", "1m30s", "0x10s", "nan",       "99999999999999999h"};
    for (const auto* text : bad) {
        INFO(text);
        CHECK_THROWS_AS(parse_duration(text), std::invalid_argument);
    }
}

TEST_CASE("parse_size accepts bytes, binary and decimal units", "[unit]") {
    struct row {
        const char* text;
        std::uint64_t bytes;
    };
    const row rows[] = {
        {"1024", 1024},
        {"0", 0},
        {"1B", 1},
        {"512KiB", 512ull * 1024},
        {"8MiB", 8ull << 20},
        {"256MiB", 256ull << 20},
        {"1GiB", 1ull << 30},
        {"2TiB", 2ull << 40},
        {"1.5KiB", 1536},
        {"1KB", 1000},
        {"5MB", 5000000},
        {"1GB", 1000000000},
        {"1TB", 1000000000000ull},
    };
    for (const auto& r : rows) {
        INFO(r.text);
        CHECK(parse_size(r.text) == r.bytes);
    }
}

TEST_CASE("parse_size rejects what is not a size", "[unit]") {
    const char* bad[] = {"",    "MiB", "8 MiB", "8mib",  "8Mi",  "-1",    "1.5",
                         "8XB", "1e6", "8M",    " 8MiB", "0x10", "8MiBs", "99999999999999TiB"};
    for (const auto* text : bad) {
        INFO(text);
        CHECK_THROWS_AS(parse_size(text), std::invalid_argument);
    }
}
