// The direct matcher for common CSS selectors (pipelines/html/simple_selector.*) selects exactly
// what css_to_xpath's XPath selects: the same css rule is evaluated both ways (as css, and as
// the xpath css_to_xpath gives, which always goes through libxml2's XPath) and compared.

#include "pipelines/html/simple_selector.hpp"
#include "pipelines/html/html.hpp"
#include "tests/unit/html/html_data.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

using namespace harvest::pipelines;

namespace {

bool is_simple(const std::string& css) {
    return harvest::pipelines::html_detail::simple_selector::compile(css).has_value();
}

// Every value the css rule gives, and the same from its XPath translation.
void check_same(const html_document& document, const std::string& css) {
    for (const std::string attribute : {"", "id", "class", "href"}) {
        for (const bool text : {false, true}) {
            field_rule by_css;
            by_css.name = "f";
            by_css.css = css;
            by_css.attribute = attribute;
            by_css.text = text;
            field_rule by_xpath = by_css;
            by_xpath.css.clear();
            by_xpath.xpath = css_to_xpath(css);
            INFO("css " << css << " -> " << by_xpath.xpath << ", attribute '" << attribute
                        << "', text " << text);
            const html_field direct(by_css);
            const html_field through_xpath(by_xpath);
            CHECK(direct.all(document) == through_xpath.all(document));
            CHECK(direct.first(document) == through_xpath.first(document));
        }
    }
}

const char* const selector_tricky_page = R"(<!DOCTYPE html>
<HTML><Head><title>t</title></head>
<BODY class="  page	main
 x-y ">
<div id="a" class="box"><p class="box">one <b>bold</b></p>
  <DIV id="B" class="Box inner"><p>two<span class="price">$1</span></p>
    <ul class=list><li class="item first">i1<li class="item">i2<li class="item last">i3</ul>
  </div>
</div>
<div id="a" class="box"><a href="/x" rel="next" class="next link">next</a>
  <a href="" data-x="" class="link">empty href</a><a name="n">no href</a>
  <p>unclosed <p class="box"><span class=price>€2</span>
</div>
<section><article><div><div><span class="deep price">deep</span></div></div></article></section>
<table><tr><td class="c">cell</td></tr></table>
<svg:rect class="box" id="r"></svg:rect>
<p class="a	b">tab</p><p class="a
b">newline</p><p class="a&#12;b">formfeed</p>
</body></html>)";

}  // namespace

TEST_CASE("the common selectors are matched directly; the rest go through XPath", "[unit]") {
    CHECK(is_simple("h1#title"));
    CHECK(is_simple("span.price"));
    CHECK(is_simple("  div.a > p span[data-x]  "));
    CHECK(is_simple("A[HREF='/x y'][rel=next]"));
    CHECK(is_simple("*"));
    CHECK(is_simple("#1a"));
    CHECK_FALSE(is_simple("a, b"));
    CHECK_FALSE(is_simple("li:first-child"));
    CHECK_FALSE(is_simple("p + p"));
    CHECK_FALSE(is_simple("p ~ p"));
    CHECK_FALSE(is_simple("a[href^=http]"));
    CHECK_FALSE(is_simple("a[href=x i]"));
    CHECK_FALSE(is_simple("a[href='a\\'b']"));
    CHECK_FALSE(is_simple("-x"));
    CHECK_FALSE(is_simple("\\31 a"));
    CHECK_FALSE(is_simple("p:not(.a)"));
}

TEST_CASE("direct matching selects what the XPath translation selects", "[unit]") {
    const std::vector<std::string> selectors = {"div",
                                                "DIV",
                                                "p",
                                                "*",
                                                "#a",
                                                "#B",
                                                "#b",
                                                ".box",
                                                ".Box",
                                                ".inner.Box",
                                                "div.box",
                                                "div#a.box",
                                                "div#a#a",
                                                "p.box",
                                                "span.price",
                                                ".price",
                                                "div .price",
                                                "div > p",
                                                "div > p > span",
                                                "div p span.price",
                                                "body > div",
                                                "html body div div p",
                                                "* > *",
                                                "li.item",
                                                "ul > li.item.last",
                                                "[href]",
                                                "a[href]",
                                                "a[href='']",
                                                "a[href=\"/x\"]",
                                                "a[rel=next].next",
                                                "[data-x]",
                                                "[data-x='']",
                                                "td.c",
                                                "table td",
                                                "tbody > tr > td",
                                                "section div > div span",
                                                "article > div span",
                                                "rect",
                                                ".a",
                                                ".b",
                                                "p.a.b",
                                                "title",
                                                "head > title",
                                                "body.page",
                                                "body.main",
                                                ".x-y",
                                                "div#B p",
                                                "#a > #B > p",
                                                "span",
                                                "b",
                                                "p b",
                                                "ul li",
                                                "body *",
                                                "svg",
                                                "a.link",
                                                "a.link.next"};
    const std::vector<std::string> pages = {
        selector_tricky_page, html_test::read_data("product.html"),
        html_test::read_data("links.html"), html_test::read_data("broken.html")};
    for (const auto& bytes : pages) {
        const auto document = html_document::parse(bytes, "http://127.0.0.1/");
        for (const auto& css : selectors) {
            REQUIRE(is_simple(css));
            check_same(document, css);
        }
    }
}

TEST_CASE("direct matching agrees with XPath on random pages and selectors", "[unit]") {
    std::mt19937 rng(11);
    const std::vector<std::string> tags = {"div", "p", "span", "a", "li", "ul", "b"};
    const std::vector<std::string> classes = {"a", "b", "c"};
    const auto pick = [&](const std::vector<std::string>& from) {
        return from[rng() % from.size()];
    };
    for (int round = 0; round < 60; ++round) {
        std::string page = "<body>";
        for (int i = 0; i < 120; ++i) {
            const auto r = rng() % 10;
            if (r < 5) {
                page += "<" + pick(tags);
                if (rng() % 2 == 0) {
                    page +=
                        " class=\"" + pick(classes) + (rng() % 2 ? " " + pick(classes) : "") + "\"";
                }
                if (rng() % 4 == 0) {
                    page += " id=" + pick(classes);
                }
                page += ">";
            } else if (r < 8) {
                page += "</" + pick(tags) + ">";
            } else {
                page += "t" + std::to_string(i) + " ";
            }
        }
        const auto document = html_document::parse(page, "");
        for (int s = 0; s < 20; ++s) {
            std::string css;
            const int compounds = 1 + static_cast<int>(rng() % 3);
            for (int c = 0; c < compounds; ++c) {
                if (c > 0) {
                    css += rng() % 2 ? " " : " > ";
                }
                css += rng() % 3 ? pick(tags) : "*";
                if (rng() % 2 == 0) {
                    css += "." + pick(classes);
                }
                if (rng() % 5 == 0) {
                    css += "#" + pick(classes);
                }
            }
            INFO(page);
            check_same(document, css);
        }
    }
}

TEST_CASE("direct matching of a deep descendant chain on a hostile page is bounded", "[unit]") {
    // 20,000 nested divs: `div div div div span` would backtrack depth^4 times without a bound.
    std::string deep;
    for (int i = 0; i < 20'000; ++i) {
        deep += "<div>";
    }
    deep += "<span class=x>bottom</span>";
    const auto document = html_document::parse(deep, "");
    field_rule rule;
    rule.name = "d";
    rule.css = "div span.x";
    CHECK(html_field(rule).first(document) == "bottom");
    rule.css = "div > div > span";
    CHECK(html_field(rule).first(document) == "bottom");
    rule.css = "p div div div span";  // no <p>: every ancestor combination is tried
    const auto start = std::chrono::steady_clock::now();
    CHECK(html_field(rule).first(document) == std::nullopt);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(60));
}
