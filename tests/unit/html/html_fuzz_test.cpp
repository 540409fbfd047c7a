// A bounded, deterministic fuzz-style loop: random HTML-ish bytes through parse + select +
// links, random CSS through css_to_xpath. Properties: no crash, no unexpected exception, every
// selector css_to_xpath accepts compiles as XPath, every value is valid for JSON.

#include "pipelines/html/html.hpp"
#include "tests/unit/html/html_data.hpp"

#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

using namespace harvest::pipelines;

namespace {

const std::vector<std::string> html_tokens = {
    "<html>",
    "<head>",
    "</head>",
    "<body>",
    "</body>",
    "<div>",
    "</div>",
    "<div class=\"a b\">",
    "<p>",
    "</p>",
    "<span class=price>",
    "</span>",
    "<a href=\"",
    "\">",
    "</a>",
    "<a href=/p/1>",
    "<br>",
    "<table>",
    "<tr>",
    "<td>",
    "</td>",
    "<li>",
    "<ul>",
    "</ul>",
    "<script>",
    "</script>",
    "<style>",
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    "<!DOCTYPE html>",
    "<?xml ?>",
    "&amp;",
    "&nbsp;",
    "&#x20AC;",
    "&#0;",
    "&#xD800;",
    "&bogus",
    "<base href=\"",
    "<meta charset=\"",
    "<meta charset=koi8-r>",
    "<meta charset=latin1>",
    "utf-16",
    "\xEF\xBB\xBF",
    "\xFF\xFE",
    "\xFE\xFF",
    "1.299,99 \xE2\x82\xAC",
    "javascript:",
    "mailto:x",
    "#frag",
    "../",
    "//",
    "?q=",
    " ",
    "\n",
    "\t",
    "=",
    "\"",
    "'",
    "<",
    ">",
    "/",
    "\\",
    "%",
    "%zz",
    "[",
    "]",
    "\xC3",
    "\xA9",
    "\xED\xA0\x80",
    "\xF4\x90",
    "text",
    "<h1 id=title>",
    "</h1>",
    "<svg>",
    "<math>",
    "<template>",
    "<noscript>",
    "<select><option>",
    "<textarea>",
    "<iframe srcdoc=\"<p>x</p>\">",
};

const std::vector<std::string> css_tokens = {
    "a",          "div",
    "p",          "li",
    "*",          "#",
    "#title",     ".",
    ".price",     "[",
    "]",          "href",
    "=",          "~=",
    "^=",         "$=",
    "*=",         "|=",
    "'x'",        "\"y\"",
    "'",          "\"",
    " ",          ">",
    "+",          "~",
    ",",          ":",
    "::",         "first-child",
    "last-child", "only-child",
    "nth-child(", "nth-last-child(",
    "not(",       ")",
    "(",          "2n+1",
    "odd",        "even",
    "-n+3",       "n",
    "-",          "3",
    "\\",         "\\31 ",
    "i",          "s",
    "|",          "$",
    "@",          "\xC3\xA9",
    "\x01",       "hover",
    "0",          "999999999999",
    "/",          "\n",
};

std::string random_from(std::mt19937& rng, const std::vector<std::string>& tokens,
                        std::size_t max_tokens) {
    std::uniform_int_distribution<std::size_t> count(0, max_tokens);
    std::uniform_int_distribution<std::size_t> pick(0, tokens.size() - 1);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<int> percent(0, 99);
    std::string out;
    const std::size_t n = count(rng);
    for (std::size_t i = 0; i < n; ++i) {
        if (percent(rng) < 8) {
            out.push_back(static_cast<char>(byte(rng)));  // any byte, NUL included
        } else {
            out += tokens[pick(rng)];
        }
    }
    return out;
}

// Mostly valid selectors, so the XPath side is exercised as much as the error paths.
std::string random_selector(std::mt19937& rng) {
    static const std::vector<std::string> types = {"a", "div", "*", "p", "li", "span", "h1", ""};
    static const std::vector<std::string> parts = {"#title",
                                                   ".price",
                                                   ".a.b",
                                                   "[href]",
                                                   "[href^='/p/']",
                                                   "[class~=b]",
                                                   "[lang|=en i]",
                                                   ":first-child",
                                                   ":last-child",
                                                   ":only-child",
                                                   ":nth-child(2n+1)",
                                                   ":nth-last-child(-n+2)",
                                                   ":not(.x)",
                                                   ":not(:first-child)",
                                                   "[data-x$=\"\xC3\xA9\"]",
                                                   "[x*='\\0']"};
    static const std::vector<std::string> combinators = {" ", " > ", " + ", " ~ ", ", "};
    std::uniform_int_distribution<std::size_t> type(0, types.size() - 1);
    std::uniform_int_distribution<std::size_t> part(0, parts.size() - 1);
    std::uniform_int_distribution<std::size_t> combinator(0, combinators.size() - 1);
    std::uniform_int_distribution<int> small(0, 3);
    std::string out;
    const int compounds = 1 + small(rng);
    for (int i = 0; i < compounds; ++i) {
        if (i > 0) {
            out += combinators[combinator(rng)];
        }
        std::string compound = types[type(rng)];
        const int extra = small(rng);
        for (int j = 0; j < extra; ++j) {
            compound += parts[part(rng)];
        }
        out += compound.empty() ? "*" : compound;
    }
    return out;
}

std::string mutate(std::mt19937& rng, std::string text) {
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<int> edits(1, 16);
    const int n = edits(rng);
    for (int i = 0; i < n && !text.empty(); ++i) {
        std::uniform_int_distribution<std::size_t> at(0, text.size() - 1);
        switch (byte(rng) % 4) {
            case 0:
                text[at(rng)] = static_cast<char>(byte(rng));
                break;
            case 1:
                text.erase(at(rng), 1 + at(rng) % 64);
                break;
            case 2:
                text.insert(at(rng), 1, static_cast<char>(byte(rng)));
                break;
            default:
                text.resize(at(rng));
                break;
        }
    }
    return text;
}

field_rule fuzz_css_rule(std::string css, bool text, std::string attribute = {}) {
    static int fields = 0;
    field_rule rule;
    rule.name = "f" + std::to_string(++fields);
    rule.css = std::move(css);
    rule.text = text;
    rule.attribute = std::move(attribute);
    return rule;
}

}  // namespace

TEST_CASE("parse, select, links and css_to_xpath survive 5,000 random inputs", "[unit]") {
    std::mt19937 rng(20261129);  // fixed: a failure reproduces
    const std::string product = html_test::read_data("product.html");
    const std::vector<field_rule> rules = {
        fuzz_css_rule("h1#title", true),
        fuzz_css_rule("span.price", true),
        fuzz_css_rule("div.stock", false, "data-availability"),
        fuzz_css_rule("li:nth-child(2n+1)", true),
        fuzz_css_rule("body", false),
    };
    std::vector<html_field> fields(rules.begin(), rules.end());
    field_rule any_node;
    any_node.name = "any";
    any_node.xpath = "//node() | //@*";
    const html_field everything(any_node);
    follow_rule follow;
    follow.css = "a, base";
    follow.deny = {"^/admin"};
    const link_rule links(follow);

    std::size_t documents = 0;
    std::size_t accepted_selectors = 0;
    std::size_t values = 0;
    std::uniform_int_distribution<int> coin(0, 2);
    for (int i = 0; i < 5000; ++i) {
        const std::string bytes =
            coin(rng) == 0 ? mutate(rng, product) : random_from(rng, html_tokens, 300);
        const std::string css =
            coin(rng) == 0 ? random_from(rng, css_tokens, 8) : random_selector(rng);
        INFO("iteration " << i);
        const auto document = html_document::parse(bytes, "http://127.0.0.1/dir/page");
        documents += document.get() != nullptr ? 1 : 0;
        const auto item = extract_html_fields(document, fields, rules);
        CHECK(item.size() == rules.size() + (item.contains("currency") ? 1 : 0));
        for (const auto& value : everything.all(document)) {
            // Valid UTF-8 without NUL (boost::json::parse validates UTF-8).
            CHECK(value.find('\0') == std::string::npos);
            CHECK(!boost::json::parse(boost::json::serialize(boost::json::value(value))).is_null());
            ++values;
        }
        for (const auto& link : links.links(document, "http://127.0.0.1/dir/page")) {
            CHECK((link.rfind("http://", 0) == 0 || link.rfind("https://", 0) == 0));
            CHECK(link.find('#') == std::string::npos);
        }
        std::string xpath;
        try {
            xpath = css_to_xpath(css);
        } catch (const css_syntax_error& error) {
            CHECK(error.offset() <= css.size());
            continue;
        }
        ++accepted_selectors;
        INFO("css: " << css << " xpath: " << xpath);
        // Whatever css_to_xpath accepts must compile.
        const html_field field(fuzz_css_rule(css, coin(rng) == 0));
        (void)field.all(document);
    }
    // The generators must reach the interesting paths, or this test tests nothing.
    CHECK(documents > 4000);
    CHECK(accepted_selectors > 2500);
    CHECK(values > 50'000);
}
