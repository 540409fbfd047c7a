// css_to_xpath: the XPath text of simple constructs, what each construct selects on a small
// page, and errors with their offsets.

#include "pipelines/html/html.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace harvest::pipelines;

namespace {

// The ids (or text, when an element has none) of what `css` selects, in document order.
std::vector<std::string> select_ids(const html_document& document, const std::string& css) {
    field_rule rule;
    rule.name = "probe";
    rule.css = css;
    rule.attribute = "id";
    return html_field(rule).all(document);
}

const char* const page = R"(<!DOCTYPE html>
<html><body>
<div id="d1" class="box  main" lang="en-US" data-x="foo bar" title="a'b&quot;c">
  <p id="p1" class="intro">one</p>
  <p id="p2">two</p>
  <span id="s1" class="x">three</span>
  <p id="p3" class="intro last">four</p>
</div>
<div id="d2" class="boxed" lang="en" data-x="foobar">
  <ul id="u1">
    <li id="l1">1</li><li id="l2">2</li><li id="l3">3</li><li id="l4">4</li><li id="l5">5</li>
  </ul>
  <em id="only">only child</em>
</div>
<div id="d3" lang="de" data-x="">
  <section id="sec"><p id="p4">deep</p></section>
</div>
</body></html>)";

}  // namespace

TEST_CASE("css_to_xpath writes simple constructs as expected", "[unit]") {
    struct row {
        const char* css;
        const char* xpath;
    };
    const std::vector<row> table = {
        {"h1", "//h1"},
        {"H1", "//h1"},
        {"*", "//*"},
        {"#title", "//*[@id = 'title']"},
        {"h1#title", "//h1[@id = 'title']"},
        {".price", "//*[contains(concat(' ', normalize-space(@class), ' '), ' price ')]"},
        {"[href]", "//*[@href]"},
        {"a[href='x']", "//a[@href and @href = 'x']"},
        {"div > p", "//p[parent::div]"},
        {"div p", "//p[ancestor::div]"},
        {"h1 + p", "//p[preceding-sibling::*[1]/self::h1]"},
        {"h1 ~ p", "//p[preceding-sibling::h1]"},
        {"li:first-child", "//*[position() = 1][self::li]"},
        {"li:last-child", "//*[position() = last()][self::li]"},
        {"a, b", "//a | //b"},
        {"ul.x > li:first-child a",
         "//a[ancestor::li[(not(preceding-sibling::*[1])) and (parent::ul[contains(concat(' ', "
         "normalize-space(@class), ' '), ' x ')])][1]]"},
        {"p.a ~ p",
         "//p[preceding-sibling::p[contains(concat(' ', normalize-space(@class), "
         "' '), ' a ')][1]]"},
        {"  a  ,b  ", "//a | //b"},
        {"[data-x=\"it's\"]", "//*[@data-x and @data-x = \"it's\"]"},
        {"[title='a\\'b\"c']", "//*[@title and @title = concat('a', \"'\", 'b\"c', '')]"},
        {"#\\31 23", "//*[@id = '123']"},
        {".a\\.b", "//*[contains(concat(' ', normalize-space(@class), ' '), ' a.b ')]"},
    };
    for (const auto& [css, xpath] : table) {
        INFO(css);
        CHECK(css_to_xpath(css) == xpath);
    }
}

TEST_CASE("css_to_xpath selects what each construct means", "[unit]") {
    const auto document = html_document::parse(page, "http://127.0.0.1/");
    using ids = std::vector<std::string>;
    struct row {
        const char* css;
        ids expected;
    };
    const std::vector<row> table = {
        {"p", {"p1", "p2", "p3", "p4"}},
        {"div", {"d1", "d2", "d3"}},
        {"#p2", {"p2"}},
        {"p#p2", {"p2"}},
        {"span#p2", {}},
        {".box", {"d1"}},  // token match: "boxed" is not "box"
        {".main.box", {"d1"}},
        {"p.intro", {"p1", "p3"}},
        {"p.intro.last", {"p3"}},
        {"[class]", {"d1", "p1", "s1", "p3", "d2"}},
        {"div[lang=en]", {"d2"}},
        {"div[lang=\"en-US\"]", {"d1"}},
        {"div[lang|=en]", {"d1", "d2"}},
        {"div[data-x~=bar]", {"d1"}},
        {"div[data-x~=foo]", {"d1"}},
        {"div[data-x^=foo]", {"d1", "d2"}},
        {"div[data-x$=bar]", {"d1", "d2"}},
        {"div[data-x$=' bar']", {"d1"}},
        {"div[data-x*='o b']", {"d1"}},
        {"div[data-x^='']", {}},  // empty values match nothing (Selectors 3)
        {"div[data-x='']", {"d3"}},
        {"div[LANG=DE i]", {"d3"}},
        {"div[lang=DE]", {}},
        {"div[title=\"a'b\\\"c\"]", {"d1"}},
        {"div > p", {"p1", "p2", "p3"}},
        {"div p", {"p1", "p2", "p3", "p4"}},
        {"body > div > section > p", {"p4"}},
        {"div > p.intro", {"p1", "p3"}},
        {"p + p", {"p2"}},
        {"p + span", {"s1"}},
        {"span + p", {"p3"}},
        {"p ~ p", {"p2", "p3"}},
        {"p ~ *", {"p2", "s1", "p3"}},
        {"#p1 ~ .intro", {"p3"}},
        {"li:first-child", {"l1"}},
        {"li:last-child", {"l5"}},
        {"p:first-child", {"p1", "p4"}},
        {"p:last-child", {"p3", "p4"}},
        {":only-child", {"sec", "p4"}},
        {"li:nth-child(2)", {"l2"}},
        {"li:nth-child(odd)", {"l1", "l3", "l5"}},
        {"li:nth-child(even)", {"l2", "l4"}},
        {"li:nth-child(2n+1)", {"l1", "l3", "l5"}},
        {"li:nth-child(3n)", {"l3"}},
        {"li:nth-child(n+4)", {"l4", "l5"}},
        {"li:nth-child(-n+2)", {"l1", "l2"}},
        {"li:nth-child(-2n+5)", {"l1", "l3", "l5"}},
        {"li:nth-child( 2n - 1 )", {"l1", "l3", "l5"}},
        {"li:nth-child(0)", {}},
        {"li:nth-last-child(1)", {"l5"}},
        {"li:nth-last-child(-n+2)", {"l4", "l5"}},
        {"#u1 > :nth-child(2)", {"l2"}},
        {"li:not(:first-child):not(:last-child)", {"l2", "l3", "l4"}},
        {"div:not(.box)", {"d2", "d3"}},
        {"p:not(.intro)", {"p2", "p4"}},
        {"p.intro:first-child", {"p1"}},
        {"li:first-child + li", {"l2"}},
        {"li + li:nth-child(3)", {"l3"}},  // counted positions after a sibling combinator
        {"li ~ li:last-child", {"l5"}},
        {"#l2 ~ :not(:last-child)", {"l3", "l4"}},
        {"#p4, #p1, #l1", {"p1", "l1", "p4"}},    // a union comes back in document order
        {"p, .intro", {"p1", "p2", "p3", "p4"}},  // and without duplicates
        {"nav, p#nothing", {}},
    };
    for (const auto& [css, expected] : table) {
        INFO(css << " -> " << css_to_xpath(css));
        CHECK(select_ids(document, css) == expected);
    }
}

TEST_CASE("css_to_xpath reports bad selectors with their offset", "[unit]") {
    struct row {
        const char* css;
        std::size_t offset;
        const char* expected;  // part of the message
    };
    const std::vector<row> table = {
        {"", 0, "expected a selector"},
        {"   ", 3, "expected a selector"},
        {"a,", 2, "expected a type selector"},
        {"a,,b", 2, "expected a type selector"},
        {",a", 0, "expected a type selector"},
        {"a >", 3, "expected a selector after the combinator"},
        {"a > > b", 4, "expected a selector after the combinator"},
        {"> a", 0, "relative selectors are not supported"},
        {"a[", 2, "expected an attribute name"},
        {"a[href", 6, "expected ']' or an operator"},
        {"a[href=]", 7, "expected an attribute value"},
        {"a[href='x]", 7, "closing '"},
        {"a[href=x y]", 9, "case flag"},
        {"a[href!=x]", 6, "operator"},
        {"a:hover", 2, "supported pseudo-class"},
        {"p::before", 1, "pseudo-elements"},
        {"li:nth-child(", 13, "an+b"},
        {"li:nth-child(2n+)", 16, "a digit"},
        {"li:nth-child(x)", 13, "an+b"},
        {"li:nth-child(2", 14, "')' closing an+b"},
        {"li:nth-child", 12, "'(' after :nth-child"},
        {"a:not(b c)", 8, "')' closing :not("},
        {"a:not()", 6, "expected a type selector"},
        {"#", 1, "an id after '#'"},
        {".", 1, "a class name after '.'"},
        {".1a", 1, "a class name"},
        {"a$b", 1, "a combinator, ',' or the end"},
        {"ns|a", 2, "namespace"},
        {"a)", 1, "a combinator"},
        {"a\\", 1, "an escaped character"},
        {"a\x01", 1, "found byte 0x01"},
        {"a.\xC3(", 2, "valid UTF-8"},
        {"a[x='\xFF']", 5, "valid UTF-8"},
    };
    for (const auto& [css, offset, expected] : table) {
        INFO("selector: " << css);
        try {
            const std::string xpath = css_to_xpath(css);
            FAIL("no error; got " << xpath);
        } catch (const css_syntax_error& error) {
            CHECK(error.offset() == offset);
            CHECK_THAT(error.what(), Catch::Contains(expected));
            CHECK_THAT(error.what(), Catch::Contains("offset " + std::to_string(offset)));
        }
    }
    // css_syntax_error is what config validation catches as std::invalid_argument.
    CHECK_THROWS_AS(css_to_xpath("a["), std::invalid_argument);
}

TEST_CASE("css_to_xpath output always compiles as XPath", "[unit]") {
    const std::vector<std::string> selectors = {
        "a[title='it\\'s \"quoted\"']",
        "[data-\\31 x]",
        "\\@weird",
        "p:not(:not(:not(a)))",
        "*:nth-child(-3n-2)",
        "*:nth-last-child(+7)",
        "[x|=\"\"]",
        "[x~='a b']",
        "é.ü#ß",
        std::string("[x='\x01\0\xEF\xBF\xBF']", 11),
        "[x=\\0]",
        "\\\\",
        "#\\7f",
    };
    for (const auto& css : selectors) {
        INFO(css);
        field_rule rule;
        rule.name = "probe";
        rule.css = css;
        CHECK_NOTHROW(html_field(rule));
    }
}
