// render: on extract and follow rules, and the top-level render: pool (docs/config.md,
// "Rendering").

#include "config_test_util.hpp"

#include <catch2/catch.hpp>

using config_test::check_error;
using config_test::minimal;  // 3 lines: an appended line is line 4
using harvest::crawl::render_options;

namespace {

// An html rule on lines 4-7; its render: (when given) on line 8.
std::string html_rule(const std::string& render_line) {
    return minimal +
           "extract:\n"
           "  - match: /spa/\n"
           "    type: html\n"
           "    fields: {t: {css: h1, text: true}}\n" +
           render_line;
}

// Like check_error, for errors whose column depends on how a value is quoted: the line and the
// message only.
void check_error_on_line(const std::string& yaml, int line, const std::string& fragment) {
    INFO("config:\n" << yaml);
    try {
        config_test::parse(yaml);
        FAIL("no error");
    } catch (const harvest::config::config_error& e) {
        INFO("error: " << e.what());
        CHECK(e.line() == line);
        CHECK_THAT(std::string(e.what()), Catch::Contains(fragment));
    }
}

}  // namespace

TEST_CASE("render: true renders a rule's pages with the defaults", "[unit][render]") {
    const auto config = config_test::parse(html_rule("    render: true\n"));
    REQUIRE(config.crawl.render_rules.size() == 1);
    const auto& rule = config.crawl.render_rules[0];
    CHECK(rule.match == "/spa/");
    CHECK(rule.options.wait_for == render_options::wait::load);
    CHECK(rule.options.timeout == std::chrono::seconds(15));
    CHECK(rule.options.block == std::vector<std::string>{"image", "font", "media"});
    CHECK_FALSE(rule.options.scroll);
    CHECK(config.crawl.render.chromium == "/usr/bin/chromium");
    CHECK(config.crawl.render.browsers == 1);
    CHECK(config.crawl.render.tabs_per_browser == 4);

    CHECK(config_test::parse(html_rule("    render: false\n")).crawl.render_rules.empty());
    CHECK(config_test::parse(html_rule("")).crawl.render_rules.empty());
}

TEST_CASE("render: as a map, a follow rule that renders, and the pool", "[unit][render]") {
    const auto config = config_test::parse(
        html_rule("    render: {wait_for: \"#app .product\", timeout: 3s, block: [stylesheet], "
                  "scroll: true}\n") +
        "  - match: /list/\n"
        "    type: jsonld\n"
        "    render: {wait_for: network_idle, block: []}\n"
        "follow:\n"
        "  - css: a.p\n"
        "    render: {wait_for: load}\n"
        "render: {chromium: /opt/chromium/chrome, browsers: 2, tabs_per_browser: 3, "
        "pages_per_tab: 10, max_rss: 1GiB, start_timeout: 5s, command_timeout: 2s, "
        "max_attempts: 2}\n");
    const auto& rules = config.crawl.render_rules;
    REQUIRE(rules.size() == 3);
    CHECK(rules[0].options.wait_for == render_options::wait::selector);
    CHECK(rules[0].options.selector == "#app .product");
    CHECK(rules[0].options.timeout == std::chrono::seconds(3));
    CHECK(rules[0].options.block == std::vector<std::string>{"stylesheet"});
    CHECK(rules[0].options.scroll);
    CHECK(rules[1].match == "/list/");
    CHECK(rules[1].options.wait_for == render_options::wait::network_idle);
    CHECK(rules[1].options.block.empty());
    // The follow rule's: every page no extract rule renders.
    CHECK(rules[2].match.empty());
    CHECK(rules[2].options.wait_for == render_options::wait::load);
    const auto& pool = config.crawl.render;
    CHECK(pool.chromium == "/opt/chromium/chrome");
    CHECK(pool.browsers == 2);
    CHECK(pool.tabs_per_browser == 3);
    CHECK(pool.pages_per_tab == 10);
    CHECK(pool.max_rss == (1ull << 30));
    CHECK(pool.start_timeout == std::chrono::seconds(5));
    CHECK(pool.command_timeout == std::chrono::seconds(2));
    CHECK(pool.max_attempts == 2);
}

TEST_CASE("bad render: values say what would be right, at their place", "[unit][render]") {
    check_error(html_rule("    render: maybe\n"), 8, 13,
                "'extract.0.render' must be true or false (got \"maybe\")");
    check_error(html_rule("    render: [true]\n"), 8, 13,
                "'extract.0.render' must be true, false or a map");
    check_error(html_rule("    render: {block: [video]}\n"), 8, 22,
                "'extract.0.render.block.0' must be one of image, font, media, stylesheet");
    check_error(html_rule("    render: {wait_fr: load}\n"), 8, 14,
                "unknown key 'wait_fr' in 'extract.0.render'; did you mean 'wait_for'?");
    check_error(html_rule("    render: {timeout: 0s}\n"), 8, 23,
                "'extract.0.render.timeout' must be a positive duration");
    check_error_on_line(html_rule("    render: {wait_for: \"div[\"}\n"), 8,
                        "'extract.0.render.wait_for' must be a CSS selector");
    // JSON documents are not rendered.
    check_error(minimal +
                    "extract:\n  - match: /api/\n    type: json\n    fields: {t: /t}\n"
                    "    render: true\n",
                8, 5, "unknown key 'render' in 'extract.0'");
    check_error(minimal + "render: {tabs_per_browser: 0}\n", 4, 28,
                "'render.tabs_per_browser' must be");
    check_error(minimal + "render: {browser: 2}\n", 4, 10,
                "unknown key 'browser' in 'render'; did you mean 'browsers'?");
}
