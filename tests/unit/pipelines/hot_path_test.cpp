// The per-request shortcuts of the extraction path give the same answers as the general code:
// a `match` without regex metacharacters is searched as a substring, and the fixed-width
// timestamp formatting matches snprintf's.

#include "pipelines/extract/extractor_set.hpp"
#include "pipelines/item.hpp"
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <regex>
#include <string>
#include <vector>

using namespace harvest;
using namespace harvest::pipelines;
using harvest::pipelines::test::make_page;
using namespace std::chrono;

namespace {

extract_rule hot_rule(std::string match) {
    extract_rule rule;
    rule.type = extract_type::json;
    rule.match = std::move(match);
    field_rule field;
    field.name = "id";
    field.pointer = "/id";
    rule.fields = {field};
    return rule;
}

// Items the rule `match` extracts from a JSON page at `url`: 1 when it matched, else 0.
std::size_t extracted(const std::string& match, const std::string& url) {
    const extractor_set set({hot_rule(match)});
    std::vector<item> items;
    set.extract(make_page(url, R"({"id": 7})"), items);
    return items.size();
}

std::string with_snprintf(system_clock::time_point time) {
    const auto ms = floor<milliseconds>(time);
    const auto day = floor<days>(ms);
    const year_month_day date{day};
    const hh_mm_ss<milliseconds> clock{ms - day};
    char buffer[40];
    const int n = std::snprintf(
        buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(date.year()),
        static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
        static_cast<int>(clock.hours().count()), static_cast<int>(clock.minutes().count()),
        static_cast<int>(clock.seconds().count()), static_cast<int>(clock.subseconds().count()));
    return std::string(buffer, static_cast<std::size_t>(n));
}

}  // namespace

TEST_CASE("extract match: literal patterns are substrings, others stay regexes",
          "[unit][extract_set][hot_path]") {
    struct row {
        const char* match;
        const char* url;
        std::size_t expected;
    };
    const row rows[] = {
        {"/api/products/", "http://h.test/api/products/B1.json", 1},
        {"/api/products/", "http://h.test/api/product/B1.json", 0},
        {"/API/products/", "http://h.test/api/products/B1.json", 0},  // case matters
        {"", "http://h.test/anything", 1},                            // empty finds everywhere
        {"products-2024", "http://h.test/products-2024/x", 1},        // '-' is not special
        {"a.c", "http://h.test/abc", 1},                              // '.' is a regex
        {"a.c", "http://h.test/a-c", 1},
        {"a\\.c", "http://h.test/abc", 0},
        {"^http://h\\.test/api", "http://h.test/api/x", 1},
        {"^http://h\\.test/api", "http://o.test/?u=http://h.test/api", 0},
        {"\\.json$", "http://h.test/x.json", 1},
        {"\\.json$", "http://h.test/x.json?page=2", 0},
        {"(shoes|hats)/", "http://h.test/hats/1", 1},
    };
    for (const auto& r : rows) {
        CAPTURE(r.match, r.url);
        CHECK(extracted(r.match, r.url) == r.expected);
        // The same answer as std::regex_search, which is what `match` means.
        const bool regex = std::regex_search(std::string(r.url), std::regex(r.match));
        CHECK(regex == (r.expected == 1));
    }
}

TEST_CASE("format_rfc3339_ms agrees with snprintf across five centuries",
          "[unit][item][hot_path]") {
    // libstdc++'s system_clock counts nanoseconds in 64 bits (years 1677 to 2262): a walk
    // of +-269 years around the epoch, with every field changing.
    std::vector<system_clock::time_point> times{system_clock::time_point{},
                                                system_clock::time_point{milliseconds{-1}}};
    for (long long i = -1000; i <= 1000; ++i) {
        times.push_back(
            system_clock::time_point{milliseconds{i * 8'500'000'000LL + (i * 7919) % 86'400'000}});
    }
    for (const auto time : times) {
        const std::string expected = with_snprintf(time);
        CAPTURE(expected);
        CHECK(format_rfc3339_ms(time) == expected);
    }
}

TEST_CASE("append_json_string: the word-at-a-time scan escapes what the byte scan does",
          "[unit][item][hot_path]") {
    // A byte-by-byte reference for ASCII and valid two-byte UTF-8.
    const auto reference = [](std::string_view text) {
        static constexpr char hex[] = "0123456789abcdef";
        std::string out = "\"";
        for (const char ch : text) {
            const auto c = static_cast<unsigned char>(ch);
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
                        out.push_back(ch);
                    }
            }
        }
        return out + "\"";
    };
    // Every special character at every offset of a run longer than two words.
    const std::string specials[] = {"\"",   "\\",       "\n",   "\t", "\x01",
                                    "\x1f", "\xC3\xA9", "\x7f", " ",  "~"};
    for (const auto& special : specials) {
        for (std::size_t at = 0; at <= 24; ++at) {
            std::string text(24, 'a');
            text.insert(at, special);
            CAPTURE(text);
            std::string out;
            append_json_string(out, text);
            CHECK(out == reference(text));
        }
    }
    // Random text of every length up to five words, with any number of specials, appended
    // after what the line already holds.
    std::mt19937 rng(20261207);
    const std::string alphabet = std::string("abcXYZ09 ~{}\"\\\n\t\x01\x1f\x7f", 19) + "\xC3\xA9";
    for (int round = 0; round < 5000; ++round) {
        std::string text;
        const std::size_t length = rng() % 41;
        const bool plain = rng() % 2 == 0;  // half of them plain ASCII only
        while (text.size() < length) {
            const std::size_t pick = rng() % (plain ? 9 : alphabet.size() - 1);
            text += pick + 1 == alphabet.size() - 1 ? alphabet.substr(pick, 2)
                                                    : alphabet.substr(pick, 1);
        }
        CAPTURE(text);
        std::string out = "{\"k\":";
        append_json_string(out, text);
        CHECK(out == "{\"k\":" + reference(text));
    }
}

TEST_CASE("format_double writes what std::to_chars writes, hundredths by their own path",
          "[unit][item][hot_path]") {
    const auto to_chars_text = [](double number) {
        std::array<char, 64> buffer{};
        return std::string(buffer.data(),
                           std::to_chars(buffer.data(), buffer.data() + buffer.size(), number).ptr);
    };
    std::size_t mismatches = 0;
    const auto check = [&](double number) {
        const std::string ours = format_double(number);
        if (ours != to_chars_text(number)) {
            if (++mismatches <= 5) {
                UNSCOPED_INFO(to_chars_text(number) << " written as " << ours);
            }
        }
        std::string appended = "[";
        append_double(appended, number);
        mismatches += appended != "[" + ours;
    };
    // Every whole hundredth up to 10,000 either side, then a million more across the rest of
    // the fast path's range and past it.
    for (std::int64_t cents = -1'000'000; cents <= 1'000'000; ++cents) {
        check(static_cast<double>(cents) / 100);
    }
    std::mt19937_64 rng(20261207);
    for (int i = 0; i < 1'000'000; ++i) {
        const auto cents = static_cast<std::int64_t>(rng() % 20'000'002) - 10'000'001;
        check(static_cast<double>(cents) / 100);
    }
    // Near misses and everything else: thousandths, tiny and huge numbers, random bits.
    for (int i = 0; i < 200'000; ++i) {
        const auto mills = static_cast<std::int64_t>(rng() % 200'000'000) - 100'000'000;
        check(static_cast<double>(mills) / 1000);
        double any = 0;
        const std::uint64_t bits = rng();
        std::memcpy(&any, &bits, sizeof any);
        check(any);
    }
    for (const double special : {0.0, -0.0, 1e5, -1e5, 99999.99, 1e-2, 5e-3, 0.1 + 0.2, 1e21,
                                 std::numeric_limits<double>::denorm_min()}) {
        check(special);
    }
    CHECK(mismatches == 0);
}
