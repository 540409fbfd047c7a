// URL-valued html fields (issue: extraction on real shops): href, src, srcset and the other URL
// attributes come back absolute, resolved against the page URL and its first <base href>, on
// both the libxml2 path and the tree-less one; `raw: true` keeps the value as written.
#include "pipelines/html/html.hpp"
#include "tests/unit/html/both_paths.hpp"

#include <boost/json/serialize.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace harvest::pipelines;
using html_test::extract_both;

namespace {

field_rule attribute_rule(std::string name, std::string css, std::string attribute) {
    field_rule rule;
    rule.name = std::move(name);
    rule.css = std::move(css);
    rule.attribute = std::move(attribute);
    return rule;
}

}  // namespace

TEST_CASE("url attributes are resolved against the page URL by default", "[unit]") {
    const std::string page =
        "<html><body><a class=next href='../page-2.html?x=1#top'>next</a>"
        "<img id=main src='../../media/cache/ab/x.jpg'>"
        "<a class=abs href='https://cdn.test/a b.png'>cdn</a>"
        "<a class=mail href='mailto:shop@example.test'>mail</a>"
        "<a class=empty href=''>empty</a></body></html>";
    const std::vector<field_rule> rules{
        attribute_rule("next", "a.next", "href"),   attribute_rule("image", "img#main", "src"),
        attribute_rule("cdn", "a.abs", "HREF"),     attribute_rule("mail", "a.mail", "href"),
        attribute_rule("empty", "a.empty", "href"),
    };
    const auto item =
        extract_both(page, "http://127.0.0.1:8080/catalogue/books/item_1/index.html", rules);
    CHECK(item.at("next") == "http://127.0.0.1:8080/catalogue/books/page-2.html?x=1#top");
    CHECK(item.at("image") == "http://127.0.0.1:8080/catalogue/media/cache/ab/x.jpg");
    CHECK(item.at("cdn") == "https://cdn.test/a%20b.png");  // what a browser would request
    CHECK(item.at("mail") == "mailto:shop@example.test");   // absolute: kept
    CHECK(item.at("empty").is_null());                      // nothing to point to
}

TEST_CASE("the first <base href> is the base of a page's url fields", "[unit]") {
    const std::string page =
        "<html><head><base href='/static/v2/'><base href='/ignored/'></head>"
        "<body><img src='img/cover.jpg'></body></html>";
    const auto item = extract_both(page, "http://127.0.0.1:8080/shop/p/1",
                                   {attribute_rule("image", "img", "src")});
    CHECK(item.at("image") == "http://127.0.0.1:8080/static/v2/img/cover.jpg");
}

TEST_CASE("raw: true keeps a url attribute as written; as: string too", "[unit]") {
    const std::string page = "<html><body><img src=' ../x.jpg '></body></html>";
    auto raw = attribute_rule("raw", "img", "src");
    raw.raw = true;
    auto text = attribute_rule("string", "img", "src");
    text.as = value_kind::string;
    const auto item = extract_both(page, "http://127.0.0.1:8080/a/b", {raw, text});
    CHECK(item.at("raw") == " ../x.jpg ");
    CHECK(item.at("string") == " ../x.jpg ");
}

TEST_CASE("srcset gives its largest candidate, resolved", "[unit]") {
    const std::string page =
        "<html><body>"
        "<img class=w srcset='s.jpg 320w, m.jpg 640w, l.jpg 1280w, xs.jpg 100w'>"
        "<img class=x srcset='a.jpg, b.jpg 2x, c.jpg 1.5x'>"
        "<img class=commas srcset='/img,v=1.jpg 1x,/img,v=2.jpg 3x'>"
        "<img class=none srcset=' , '>"
        "</body></html>";
    const std::vector<field_rule> rules{
        attribute_rule("w", "img.w", "srcset"),
        attribute_rule("x", "img.x", "srcset"),
        attribute_rule("commas", "img.commas", "srcset"),
        attribute_rule("none", "img.none", "srcset"),
    };
    std::uint64_t invalid = 0;
    const std::vector<html_field> fields(rules.begin(), rules.end());
    const auto item = extract_html_fields(html_document::parse(page, "http://127.0.0.1/p/"), fields,
                                          rules, &invalid);
    CHECK(item.at("w") == "http://127.0.0.1/p/l.jpg");
    CHECK(item.at("x") == "http://127.0.0.1/p/b.jpg");
    CHECK(item.at("commas") == "http://127.0.0.1/img,v=2.jpg");
    CHECK(item.at("none").is_null());
    CHECK(invalid == 1);
}

TEST_CASE("best_srcset_candidate follows HTML's srcset syntax", "[unit]") {
    CHECK(best_srcset_candidate("a.jpg") == "a.jpg");
    CHECK(best_srcset_candidate("a.jpg 1x, b.jpg 1x") == "a.jpg");    // a tie: the first
    CHECK(best_srcset_candidate("a.jpg 2x, b.jpg 800w") == "b.jpg");  // widths win
    CHECK(best_srcset_candidate("a.jpg 100w,b.jpg 50w") == "a.jpg");
    CHECK(best_srcset_candidate("data:image/png;base64,AAA= 1x, c.png 2x") == "c.png");
    CHECK(best_srcset_candidate("x.jpg (foo, bar) 2x, y.jpg 1x") == "x.jpg");
    CHECK(best_srcset_candidate("") == "");
    CHECK(best_srcset_candidate(" ,, ") == "");
}

TEST_CASE("as: url resolves a text value; a value that cannot resolve is null", "[unit]") {
    const std::string page =
        "<html><body><span class=u>/p/2</span><span class=bad>ht tp://x</span>"
        "</body></html>";
    field_rule u;
    u.name = "u";
    u.css = "span.u";
    u.text = true;
    u.as = value_kind::url;
    field_rule bad = u;
    bad.name = "bad";
    bad.css = "span.bad";
    const auto item = extract_both(page, "https://127.0.0.1:8443/p/1", {u, bad});
    CHECK(item.at("u") == "https://127.0.0.1:8443/p/2");
    INFO(boost::json::serialize(item));
    CHECK(item.at("bad").is_null());
}

TEST_CASE("is_url_attribute and effective_kind", "[unit]") {
    CHECK(is_url_attribute("href"));
    CHECK(is_url_attribute("SrcSet"));
    CHECK(is_url_attribute("poster"));
    CHECK_FALSE(is_url_attribute("alt"));
    CHECK_FALSE(is_url_attribute("data-src"));  // a site's own convention: ask with as: url
    auto rule = attribute_rule("a", "a", "href");
    CHECK(effective_kind(rule) == value_kind::url);
    rule.raw = true;
    CHECK(effective_kind(rule) == value_kind::raw);
    rule.raw = false;
    rule.as = value_kind::string;
    CHECK(effective_kind(rule) == value_kind::string);
    CHECK(effective_kind(attribute_rule("a", "img", "alt")) == value_kind::raw);
}
