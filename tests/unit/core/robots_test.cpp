#include "engine/core/robots.hpp"

#include "tests/unit/core/corpus_util.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <iostream>
#include <random>
#include <string>
#include <vector>

namespace {

using harvest::core::robots_escape_pattern;
using harvest::core::robots_path_of;
using harvest::core::robots_rules;
using harvest::core::robots_valid_user_agent;
using harvest::test::from_hex;
using harvest::test::load_json;
using harvest::test::printable;
using harvest::test::str;

constexpr double k_allowed_threshold = 0.95;

}  // namespace

TEST_CASE("robots: google/robotstxt allowed corpus", "[unit][robots][corpus]") {
    const auto corpus = load_json("robots_txt/robots_allowed.json");
    std::size_t total = 0;
    std::size_t passed = 0;
    std::vector<std::string> failures;
    for (const auto& item : corpus.as_array()) {
        const auto& v = item.as_object();
        ++total;
        const std::string body = str(v.at("robots_txt"));
        const std::string agent = str(v.at("user_agent"));
        const std::string url = str(v.at("url"));
        const bool expected = v.at("allowed").as_bool();
        const auto rules = robots_rules::parse(body);
        const bool got = rules.allowed(agent, robots_path_of(url));
        if (got == expected) {
            ++passed;
        } else {
            failures.push_back(str(v.at("id")) + " (" + str(v.at("name")) + "): agent " + agent +
                               " url " + printable(url) + " expected " +
                               (expected ? "allowed" : "disallowed") +
                               "\n       robots.txt: " + printable(body, 300));
        }
    }
    std::cout << "robots_allowed: " << passed << "/" << total << " vectors pass\n";
    for (const auto& f : failures) {
        std::cout << "  FAIL " << f << "\n";
    }
    REQUIRE(total >= 100);
    REQUIRE(static_cast<double>(passed) / static_cast<double>(total) >= k_allowed_threshold);
}

TEST_CASE("robots: google/robotstxt auxiliary corpus", "[unit][robots][corpus]") {
    const auto corpus = load_json("robots_txt/robots_aux.json").as_object();
    std::size_t total = 0;
    std::size_t passed = 0;
    std::vector<std::string> failures;
    auto record = [&](bool ok, const std::string& what) {
        ++total;
        if (ok) {
            ++passed;
        } else {
            failures.push_back(what);
        }
    };
    for (const auto& item : corpus.at("valid_user_agent").as_array()) {
        const auto& v = item.as_object();
        const bool got = robots_valid_user_agent(str(v.at("user_agent")));
        record(got == v.at("valid").as_bool(),
               str(v.at("id")) + " '" + str(v.at("user_agent")) + "'");
    }
    for (const auto& item : corpus.at("parse_stats").as_array()) {
        const auto& v = item.as_object();
        const auto rules = robots_rules::parse(from_hex(str(v.at("robots_txt_hex"))));
        const auto& stats = rules.stats();
        bool ok = true;
        std::string detail;
        for (const auto& [key, value] : v.at("expected").as_object()) {
            if (key == "valid_directives") {
                ok &= stats.valid_directives == static_cast<std::size_t>(value.as_int64());
                detail += " valid=" + std::to_string(stats.valid_directives);
            } else if (key == "unknown_directives") {
                ok &= stats.unknown_directives == static_cast<std::size_t>(value.as_int64());
                detail += " unknown=" + std::to_string(stats.unknown_directives);
            } else if (key == "last_line_seen") {
                ok &= stats.last_line_seen == static_cast<std::size_t>(value.as_int64());
                detail += " last_line=" + std::to_string(stats.last_line_seen);
            } else if (key == "sitemap") {
                const auto& maps = rules.sitemaps();
                ok &= !maps.empty() && maps.back() == str(value);
                detail += " sitemaps=" + std::to_string(maps.size());
            } else {
                ok = false;
                detail += " unknown expectation " + std::string(key);
            }
        }
        record(ok, str(v.at("id")) + ":" + detail);
    }
    for (const auto& item : corpus.at("path_params_query").as_array()) {
        const auto& v = item.as_object();
        const std::string got = robots_path_of(str(v.at("url")));
        record(got == str(v.at("expected_path")), str(v.at("id")) + " got " + got);
    }
    for (const auto& item : corpus.at("escape_pattern").as_array()) {
        const auto& v = item.as_object();
        const std::string got = robots_escape_pattern(str(v.at("pattern")));
        record(got == str(v.at("expected")), str(v.at("id")) + " got " + got);
    }
    std::cout << "robots_aux: " << passed << "/" << total << " vectors pass\n";
    for (const auto& f : failures) {
        std::cout << "  FAIL " << f << "\n";
    }
    REQUIRE(total >= 25);
    CHECK(passed == total);
}

TEST_CASE("robots: groups, precedence and wildcards", "[unit][robots]") {
    const auto rules = robots_rules::parse(
        "Disallow: /before-any-agent\n"
        "User-agent: *\n"
        "Disallow: /private\n"
        "Crawl-delay: 2.5\n"
        "\n"
        "User-agent: harvest\n"
        "User-agent: otherbot\n"
        "Disallow: /tmp/\n"
        "Allow: /tmp/public\n"
        "Disallow: /*.pdf$\n"
        "Crawl-delay: 0.5\n"
        "Sitemap: https://example.com/sitemap.xml\n"
        "User-agent: strict\n"
        "Disallow: /\n"
        "Allow: /$\n");
    SECTION("a named group replaces the global one") {
        CHECK(rules.allowed("harvest", "/private"));
        CHECK_FALSE(rules.allowed("somebot", "/private"));
        CHECK(rules.allowed("somebot", "/before-any-agent"));
        CHECK(rules.allowed("HARVEST/1.2 (+https://example.com)", "/private"));
    }
    SECTION("longest match wins, allow wins ties") {
        CHECK_FALSE(rules.allowed("harvest", "/tmp/x"));
        CHECK(rules.allowed("harvest", "/tmp/public/x"));
        CHECK(rules.allowed("otherbot", "/tmp/public"));
        const auto tie = robots_rules::parse("User-agent: *\nDisallow: /a\nAllow: /a\n");
        CHECK(tie.allowed("x", "/a"));
    }
    SECTION("* and $ wildcards") {
        CHECK_FALSE(rules.allowed("harvest", "/docs/file.pdf"));
        CHECK(rules.allowed("harvest", "/docs/file.pdf?download=1"));
        CHECK(rules.allowed("strict", "/"));
        CHECK_FALSE(rules.allowed("strict", "/page"));
    }
    SECTION("robots.txt itself is always allowed") {
        CHECK(rules.allowed("strict", "/robots.txt"));
        CHECK(robots_rules::disallow_all().allowed("x", "/robots.txt"));
    }
    SECTION("crawl-delay and sitemaps") {
        CHECK(rules.crawl_delay("harvest") == 0.5);
        CHECK(rules.crawl_delay("somebot") == 2.5);
        CHECK_FALSE(rules.crawl_delay("strict").has_value());
        REQUIRE(rules.sitemaps().size() == 1);
        CHECK(rules.sitemaps()[0] == "https://example.com/sitemap.xml");
    }
    SECTION("allow_all and disallow_all") {
        CHECK(robots_rules::allow_all().allowed("x", "/anything"));
        CHECK_FALSE(robots_rules::disallow_all().allowed("x", "/anything"));
        CHECK_FALSE(robots_rules::disallow_all().allowed("x", "/"));
    }
}

TEST_CASE("robots: tolerant parsing", "[unit][robots]") {
    SECTION("CR, CRLF, BOM, garbage and missing blank lines") {
        const auto rules = robots_rules::parse(
            "\xEF\xBB\xBFUser-agent: a\r\nDisallow: /x\rthis is garbage ::: line\n"
            "User-agent b\nDisallow /y\n\x01\x02\xff\n");
        CHECK_FALSE(rules.allowed("a", "/x"));
        CHECK(rules.allowed("a", "/y"));
        CHECK_FALSE(rules.allowed("b", "/y"));
    }
    SECTION("bytes beyond 500 KiB are ignored") {
        std::string body = "User-agent: *\nDisallow: /a\n";
        body += std::string(robots_rules::max_body_bytes, '#');
        body += "\nDisallow: /b\n";
        const auto rules = robots_rules::parse(body);
        CHECK_FALSE(rules.allowed("x", "/a"));
        CHECK(rules.allowed("x", "/b"));
    }
    SECTION("invalid crawl-delay values are ignored") {
        const auto rules = robots_rules::parse(
            "User-agent: *\nCrawl-delay: soon\nUser-agent: b\nCrawl-delay: -1\n");
        CHECK_FALSE(rules.crawl_delay("a").has_value());
        CHECK_FALSE(rules.crawl_delay("b").has_value());
    }
}

TEST_CASE("robots: 20,000 random bodies and paths do not crash", "[unit][robots][fuzz]") {
    std::mt19937 rng(9309);
    // Bodies are made of lines (key, separator, value, line end) so that real groups and rules
    // occur, with random bytes mixed in.
    const std::vector<std::string> keys = {"User-agent", "user-agent", "useragent", "Disallow",
                                           "Allow",      "disallow",   "Sitemap",   "Crawl-delay",
                                           "",           "foo",        "\xEF\xBB"};
    const std::vector<std::string> separators = {":", ": ", " ", " : ", "\t", ""};
    const std::vector<std::string> values = {"*", "harvest", "foo",  "/",          "/a*",
                                             "$", "/*.php$", "/a/b", "%e3%83",     "\xe3\x83\x84",
                                             "",  "1.5",     "-3",   "index.html", "/x#c"};
    const std::vector<std::string> line_ends = {"\n", "\r", "\r\n", "\n\n", ""};
    std::size_t allowed_count = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string body;
        const int n = static_cast<int>(rng() % 12);
        for (int k = 0; k < n; ++k) {
            body += keys[rng() % keys.size()];
            body += separators[rng() % separators.size()];
            body += values[rng() % values.size()];
            if (rng() % 6 == 0) {
                body += static_cast<char>(rng() % 256);
            }
            body += line_ends[rng() % line_ends.size()];
        }
        std::string path = "/";
        const int m = static_cast<int>(rng() % 12);
        for (int k = 0; k < m; ++k) {
            static constexpr char k_path_chars[] = "ab/*$?%.x\xe3";
            path += k_path_chars[rng() % (sizeof(k_path_chars) - 1)];
        }
        const auto rules = robots_rules::parse(body);
        allowed_count += rules.allowed("harvest", path) ? 1 : 0;
        (void)rules.crawl_delay("foo");
        (void)robots_path_of(body.substr(0, 64));
    }
    // Both outcomes occur: the loop exercised real rules, not only empty files.
    CHECK(allowed_count > 0);
    CHECK(allowed_count < 20000);
}
