// html_document + html_field + extract_html_fields on hand-written pages (tests/data/html),
// broken input, other encodings and big pages.

#include "pipelines/html/html.hpp"
#include "pipelines/normalize/price.hpp"
#include "tests/unit/html/html_data.hpp"

#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace harvest::pipelines;

namespace {

field_rule css_rule(std::string name, std::string css, bool text = false,
                    std::string attribute = {}, value_kind as = value_kind::raw) {
    field_rule rule;
    rule.name = std::move(name);
    rule.css = std::move(css);
    rule.text = text;
    rule.attribute = std::move(attribute);
    rule.as = as;
    return rule;
}

field_rule xpath_rule(std::string name, std::string xpath, bool text = false,
                      value_kind as = value_kind::raw) {
    field_rule rule;
    rule.name = std::move(name);
    rule.xpath = std::move(xpath);
    rule.text = text;
    rule.as = as;
    return rule;
}

std::optional<std::string> first(const html_document& document, const field_rule& rule) {
    return html_field(rule).first(document);
}

}  // namespace

TEST_CASE("html_field selects text and attributes on a product page", "[unit]") {
    const auto document =
        html_document::parse(html_test::read_data("product.html"), "http://127.0.0.1/p/1");
    CHECK(document.get() != nullptr);
    CHECK(document.url() == "http://127.0.0.1/p/1");
    CHECK(document.encoding() == "UTF-8");

    // Whitespace collapsed and trimmed, entities decoded, &nbsp; is whitespace.
    CHECK(first(document, css_rule("title", "h1#title", true)) == "Laptop Pro 15 \"Ultra\"");
    // Element results read as normalized text even without text: true.
    CHECK(first(document, css_rule("title", "h1#title")) == "Laptop Pro 15 \"Ultra\"");
    // <br> separates words; &amp; decoded.
    CHECK(first(document, css_rule("lead", "p.lead", true)) == "Fast & light. Ships today.");
    // Table cells are separated; the inline script and style are not text.
    CHECK(first(document, css_rule("row", "table.details tr", true)) == "Brand Acme");
    CHECK(first(document, css_rule("head", "head", true)) == "Laptop Pro 15 – Shop");
    CHECK(first(document, css_rule("price", "span.price", true)) == "1.299,99 €");
    CHECK(first(document, css_rule("stock", "div.stock", false, "data-availability")) ==
          "https://schema.org/InStock");
    // Attribute names are case-insensitive in HTML (libxml2 lowercases them).
    CHECK(first(document, css_rule("stock", "div.stock", false, "DATA-Availability")) ==
          "https://schema.org/InStock");
    CHECK(first(document, css_rule("missing", "div.stock", false, "data-nothing")) == std::nullopt);
    CHECK(first(document, css_rule("title", "input", false, "title")) == "say \"hi\" & it's");
    // An attribute value is kept as written unless text: true.
    CHECK(first(document, css_rule("sku", "span.sku", false, "data-id")) == "4711");
    CHECK(first(document, xpath_rule("sku", "//span[@class='sku']/text()")) == " 4711 ");
    CHECK(first(document, xpath_rule("sku", "//span[@class='sku']/text()", true)) == "4711");
    CHECK(first(document, css_rule("spec", "li:nth-child(3)", true)) == "SSD: 1 TB");
    CHECK(first(document, css_rule("spec", "#specs li:first-child", true)) == "CPU: 8 cores");
    CHECK(first(document, css_rule("spec", "#specs > li:last-child", true)) == "Colour: silver");
    CHECK(first(document, css_rule("spec", "li[lang|=en]", true)) == "SSD: 1 TB");
    CHECK(first(document, css_rule("nothing", "h2.none", true)) == std::nullopt);

    const html_field specs(css_rule("specs", "#specs li.spec", true));
    CHECK(specs.all(document) == std::vector<std::string>{"CPU: 8 cores", "RAM: 32 GB", "SSD: 1 TB",
                                                          "Weight: 1,6 kg", "Colour: silver"});
    CHECK(html_field(css_rule("odd", "#specs li:nth-child(odd)", true)).all(document).size() == 3);

    // XPath results that are not nodes.
    CHECK(first(document, xpath_rule("count", "count(//li)")) == "5");
    CHECK(first(document, xpath_rule("half", "count(//li) div 2")) == "2.5");
    CHECK(first(document, xpath_rule("has", "boolean(//h1)")) == "true");
    CHECK(first(document, xpath_rule("str", "string(//span[@class='rating']/@data-value)")) ==
          "4.5");
    CHECK(first(document, xpath_rule("none", "string(//nothing)")) == std::nullopt);
    CHECK(first(document, xpath_rule("nan", "number('x')")) == std::nullopt);
    CHECK(first(document, xpath_rule("attr", "//div[@class='stock']/@data-availability")) ==
          "https://schema.org/InStock");
    CHECK(first(document, xpath_rule("comment", "//comment()")) == std::nullopt);
}

TEST_CASE("extract_html_fields converts by `as` like the JSON extractor", "[unit]") {
    const auto document =
        html_document::parse(html_test::read_data("product.html"), "http://127.0.0.1/p/1");
    std::vector<field_rule> rules = {
        css_rule("title", "h1#title", true),
        xpath_rule("price", "//span[contains(@class, 'price')]", true, value_kind::price),
        css_rule("old_price", "span.price-old", true, {}, value_kind::price),
        css_rule("availability", "div.stock", false, "data-availability", value_kind::availability),
        css_rule("stock_text", "div.stock", true, {}, value_kind::availability),
        css_rule("sku", "span.sku", true, {}, value_kind::integer),
        css_rule("rating", "span.rating", false, "data-value", value_kind::number),
        css_rule("is_new", "span.flag", false, "data-new", value_kind::boolean),
        css_rule("units_number", "span.rating", true, {}, value_kind::number),
        css_rule("bad_number", "div.stock", true, {}, value_kind::number),
        css_rule("missing", "h2.none", true, {}, value_kind::string),
        css_rule("sku_string", "span.sku", false, "data-id", value_kind::string),
    };
    std::vector<html_field> fields;
    for (const auto& rule : rules) {
        fields.emplace_back(rule);
    }
    std::uint64_t invalid = 0;
    const boost::json::object item = extract_html_fields(document, fields, rules, &invalid);
    INFO(boost::json::serialize(item));
    CHECK(item.at("title") == "Laptop Pro 15 \"Ultra\"");
    CHECK(item.at("price").as_double() == Approx(1299.99));
    CHECK(item.at("old_price").as_double() == Approx(1499.0));
    CHECK(item.at("availability") == "in_stock");
    CHECK(item.at("stock_text") == "in_stock");
    CHECK(item.at("sku") == 4711);
    CHECK(item.at("rating").as_double() == Approx(4.5));
    CHECK(item.at("is_new") == true);
    CHECK(item.at("units_number") == 4.5);   // "4.5 of 5": its first number
    CHECK(item.at("bad_number").is_null());  // "In stock" holds no number
    CHECK(item.at("missing").is_null());
    CHECK(item.at("sku_string") == "4711");
    CHECK(item.at("currency") == "EUR");
    CHECK(invalid == 1);
    // Fields keep the rule order, then the currency.
    std::vector<std::string> keys;
    for (const auto& entry : item) {
        keys.emplace_back(entry.key());
    }
    CHECK(keys.front() == "title");
    CHECK(keys.back() == "currency");

    // An item that has its own currency keeps it.
    std::vector<field_rule> own = {
        css_rule("currency", "span.price", false, "data-currency"),
        css_rule("price", "span.price", true, {}, value_kind::price),
    };
    own[0].as = value_kind::string;
    std::vector<html_field> own_fields(own.begin(), own.end());
    const auto with_currency = extract_html_fields(document, own_fields, own);
    CHECK(with_currency.at("currency") == "EUR");
    CHECK(with_currency.size() == 2);

    // A price hint: the currency hinted when the text has none.
    field_rule hinted = css_rule("price", "span.sku", true, {}, value_kind::price);
    hinted.currency = "CHF";
    const std::vector<field_rule> hinted_rules = {hinted};
    const std::vector<html_field> hinted_fields = {html_field(hinted)};
    const auto hinted_item = extract_html_fields(document, hinted_fields, hinted_rules);
    CHECK(hinted_item.at("price").as_double() == Approx(4711));
    CHECK(hinted_item.at("currency") == "CHF");
    // ... and when the text has only an ambiguous symbol ("$ 12.50" with the hint CHF).
    const auto ambiguous = html_document::parse(R"(<p class="q">$ 12.50</p>)", "http://127.0.0.1/");
    field_rule franc = css_rule("price", "p.q", true, {}, value_kind::price);
    franc.currency = "CHF";
    const std::vector<field_rule> franc_rules = {franc};
    const std::vector<html_field> franc_fields = {html_field(franc)};
    CHECK(extract_html_fields(ambiguous, franc_fields, franc_rules).at("currency") == "CHF");

    CHECK_THROWS_AS(extract_html_fields(document, hinted_fields, rules), std::invalid_argument);
}

TEST_CASE("html_field rejects bad selectors and rules", "[unit]") {
    CHECK_THROWS_AS(html_field(css_rule("x", "a[")), std::invalid_argument);
    CHECK_THROWS_WITH(html_field(xpath_rule("x", "//a[")), Catch::Contains("does not compile"));
    CHECK_THROWS_AS(html_field(xpath_rule("x", "")), std::invalid_argument);
    CHECK_THROWS_AS(html_field(xpath_rule("x", std::string("//a\0b", 5))), std::invalid_argument);
    // A runtime error (an unknown function) selects nothing instead of throwing.
    CHECK(html_field(xpath_rule("x", "nothing-like-this(//a)"))
              .all(html_document::parse("<a>x</a>", ""))
              .empty());
}

TEST_CASE("broken HTML yields what can be found", "[unit]") {
    const auto document =
        html_document::parse(html_test::read_data("broken.html"), "http://127.0.0.1/");
    REQUIRE(document.get() != nullptr);
    CHECK(first(document, css_rule("title", "title", true)) == "Broken");
    CHECK(first(document, css_rule("bold", "#a b", true)).has_value());
    CHECK(first(document, css_rule("price", "span.price", true, {}, value_kind::raw))
              ->rfind("EUR 12,-", 0) == 0);
    CHECK(first(document, css_rule("x", "div.unquoted", false, "data-x")) == "1");
    CHECK(html_field(css_rule("td", "td", true)).all(document).size() >= 2);

    struct row {
        const char* name;
        std::string bytes;
    };
    const std::vector<row> inputs = {
        {"empty", ""},
        {"whitespace", "   \n\t "},
        {"text only", "just text"},
        {"garbage", "<<<>>>&&&;;;</></><!<?<![CDATA[<!--"},
        {"NUL bytes", std::string("<p class=\"a\">x\0y</p>\0\0<h1>t\0</h1>", 34)},
        {"invalid UTF-8", "<h1>caf\xE9 \xFF\xFE \xC3\x28 \xED\xA0\x80 \xF4\x90\x80\x80</h1>"},
        {"truncated UTF-8", "<h1>ab\xE2\x82"},
        {"control chars", "<h1>a\x01\x02\x1B b\x7F</h1>"},
        {"unclosed everything", "<html><body><div><div><div><p><span><b><i><table><tr><td>"},
        {"only a doctype", "<!DOCTYPE html>"},
        {"binary", std::string("\x89PNG\r\n\x1A\n\0\0\0\rIHDR\0\0\x01\0", 20)},
        {"utf-16 BOM odd length", "\xFF\xFE<\0h\0"},
        {"bad meta charset", "<meta charset=\"x-no-such-thing\"><h1>t</h1>"},
        {"meta charset utf-16", "<meta charset=\"utf-16\"><h1>t\xC3\xA9</h1>"},
        {"unterminated attr", "<a href=\"/p/1><h1>t</h1>"},
    };
    const html_field h1(css_rule("h1", "h1", true));
    const html_field any(xpath_rule("any", "//*"));
    for (const auto& [name, bytes] : inputs) {
        INFO(name);
        const auto broken = html_document::parse(bytes, "http://127.0.0.1/");
        const auto title = h1.first(broken);
        CHECK(any.all(broken).size() < 100);
        if (title) {
            // Whatever came out is valid UTF-8 without NUL: JSON can carry it.
            CHECK(title->find('\0') == std::string::npos);
            CHECK_NOTHROW(boost::json::serialize(boost::json::value(*title)));
        }
    }
    CHECK(h1.first(html_document::parse("<h1>caf\xE9</h1>", "")) == "caf\xEF\xBF\xBD");
    CHECK(h1.first(html_document::parse(std::string("<h1>a\0b</h1>", 12), "")) ==
          "a\xEF\xBF\xBD"
          "b");
    CHECK(h1.first(html_document::parse("<meta charset=\"utf-16\"><h1>t\xC3\xA9</h1>", "")) ==
          "t\xC3\xA9");
    CHECK(h1.first(html_document::parse("", "")) == std::nullopt);
}

TEST_CASE("html_document decodes declared and marked encodings", "[unit]") {
    const auto latin1 = html_document::parse(html_test::read_data("latin1.html"), "");
    CHECK(latin1.encoding() == "WINDOWS-1252");
    // ISO-8859-1 means windows-1252 (0x80 is the euro sign), as browsers read it.
    CHECK(first(latin1, css_rule("t", "#title", true)) == "Caf\xC3\xA9 \xE2\x82\xAC M\xC3\xBCller");
    const auto price = parse_price(*first(latin1, css_rule("p", ".price", true)));
    CHECK(price.currency == "GBP");

    const auto meta_charset =
        html_document::parse("<html><head><meta charset='KOI8-R'></head><h1>\xF0\xD2\xC9</h1>", "");
    CHECK(meta_charset.encoding() == "koi8-r");
    CHECK(first(meta_charset, css_rule("t", "h1")) == "\xD0\x9F\xD1\x80\xD0\xB8");  // При

    // A UTF-8 byte order mark wins over the meta tag.
    const auto bom = html_document::parse("\xEF\xBB\xBF<meta charset=latin1><h1>\xC3\xA9</h1>", "");
    CHECK(bom.encoding() == "UTF-8");
    CHECK(first(bom, css_rule("t", "h1")) == "\xC3\xA9");

    // UTF-16LE with its byte order mark.
    std::string utf16 = "\xFF\xFE";
    for (const char c : std::string("<h1>hi</h1>")) {
        utf16.push_back(c);
        utf16.push_back('\0');
    }
    const auto wide = html_document::parse(utf16, "");
    CHECK(wide.encoding() == "UTF-16LE");
    CHECK(first(wide, css_rule("t", "h1")) == "hi");

    // A meta tag inside a comment does not count.
    const auto commented =
        html_document::parse("<!-- <meta charset=koi8-r> --><h1>\xC3\xA9</h1>", "");
    CHECK(commented.encoding() == "UTF-8");
}

TEST_CASE("html_document handles a 10 MB single-line page and deep nesting", "[unit]") {
    std::string big = "<html><body>";
    big.reserve(10'500'000);
    int items = 0;
    while (big.size() < 10'000'000) {
        big += "<div class=\"item\"><span class=\"price\">$" + std::to_string(items) +
               ".99</span><a href=\"/p/" + std::to_string(items) + "\">x</a></div>";
        ++items;
    }
    big += "<h1 id=\"end\">the end</h1></body></html>";
    const auto document = html_document::parse(big, "http://127.0.0.1/");
    CHECK(first(document, css_rule("end", "h1#end", true)) == "the end");
    CHECK(html_field(css_rule("prices", "div.item > span.price")).all(document).size() ==
          static_cast<std::size_t>(items));
    CHECK(html_field(css_rule("n", "div.item:nth-child(1000)")).first(document).has_value());

    follow_rule follow;
    follow.css = "div.item a";
    follow.allow = {"^/p/1"};
    const auto links = link_rule(follow).links(document, "http://127.0.0.1/");
    CHECK(!links.empty());
    CHECK(links.front() == "http://127.0.0.1/p/1");

    // One text node of 12 MB (libxml2 cuts text at 10 MB without XML_PARSE_HUGE).
    const std::string text(12'000'000, 'a');
    const auto one_text = html_document::parse("<p id=x>" + text + "</p>", "");
    const auto value = first(one_text, css_rule("p", "#x"));
    REQUIRE(value.has_value());
    CHECK(value->size() == text.size());

    // 100,000 nested elements: nothing here may recurse per level.
    std::string deep;
    for (int i = 0; i < 100'000; ++i) {
        deep += "<div>";
    }
    deep += "<span class=deep>bottom</span>";
    const auto nested = html_document::parse(deep, "");
    // Without XML_PARSE_HUGE libxml2 stops at depth 256 and drops the rest of the page.
    CHECK(first(nested, css_rule("deep", "div > span.deep", true)) == "bottom");
    CHECK(first(nested, css_rule("all", "body", true)) == "bottom");
    CHECK(first(nested, css_rule("nth", "div:first-child:last-child > div span")) == "bottom");
}

TEST_CASE("a quadratic selection on a hostile page gives up instead of hanging", "[unit]") {
    std::string siblings = "<body>";
    for (int i = 0; i < 39'999; ++i) {
        siblings += "<p class=a>x</p>";
    }
    siblings += "<p class=b>x</p><p class=a>last</p>";
    const auto document = html_document::parse(siblings, "");
    // Right to left, each candidate scans all its preceding siblings: 40,000^2 / 2 steps before
    // the last one, which matches. Past the work bound (200 million steps) the selection gives
    // up and selects nothing: had it run to the end, it would have found "last".
    const html_field quadratic(css_rule("q", "p.b ~ p.a"));
    CHECK(quadratic.first(document) == std::nullopt);
    // The same page with linear selectors is fine.
    CHECK(html_field(css_rule("n", "p.a:nth-child(40001)")).first(document) == "last");
    CHECK(html_field(css_rule("n", "p.a + p.a")).all(document).size() == 39'998);
    CHECK(html_field(css_rule("n", "p.b + p.a")).first(document) == "last");
}

TEST_CASE("html_field evaluates on many threads at once", "[unit]") {
    const auto document =
        html_document::parse(html_test::read_data("product.html"), "http://127.0.0.1/p/1");
    const html_field title(css_rule("title", "h1#title:not(.x)", true));
    const html_field specs(css_rule("specs", "li:nth-child(odd)", true));
    std::vector<std::thread> threads;
    std::vector<int> failures(4, 0);
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 300; ++i) {
                if (title.first(document) != "Laptop Pro 15 \"Ultra\"" ||
                    specs.all(document).size() != 3) {
                    ++failures[static_cast<std::size_t>(t)];
                }
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    CHECK(failures == std::vector<int>(4, 0));
}

TEST_CASE("normalize_space collapses whitespace and no-break spaces", "[unit]") {
    CHECK(normalize_space("") == "");
    CHECK(normalize_space(" \t\n ") == "");
    CHECK(normalize_space("  a \n\t b  ") == "a b");
    CHECK(normalize_space("1\xC2\xA0"
                          "299,99\xC2\xA0\xE2\x82\xAC") == "1 299,99 \xE2\x82\xAC");
    CHECK(normalize_space("caf\xC3\xA9") == "caf\xC3\xA9");
}
