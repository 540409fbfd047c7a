// Field post-processing of html fields (docs/config.md, "Field post-processing"): `regex` keeps
// a part of the selected text, `default` stands in when nothing is selected or the regex does not
// match, and `as: number` / `as: int` read a number written with its units. Both the libxml2 path
// and the tree-less one must agree.
#include "pipelines/html/html.hpp"
#include "tests/unit/html/both_paths.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace harvest::pipelines;

constexpr const char* page_url = "http://127.0.0.1/p/1";

namespace {

field_rule text_rule(std::string name, std::string css, value_kind as = value_kind::raw) {
    field_rule rule;
    rule.name = std::move(name);
    rule.css = std::move(css);
    rule.text = true;
    rule.as = as;
    return rule;
}

}  // namespace

TEST_CASE("regex keeps the first group of the first match, default fills what is missing",
          "[unit]") {
    const std::string page =
        "<html><body><p class=stock>In stock (22 available)</p><p class=sku>SKU: AB-1234</p>"
        "<p class=out>Out of stock</p></body></html>";
    auto stock = text_rule("stock", "p.stock", value_kind::integer);
    stock.pattern = make_field_pattern(R"(\((\d+) available\))");
    auto out = text_rule("out", "p.out", value_kind::integer);
    out.pattern = make_field_pattern(R"(\((\d+) available\))");
    out.default_value = "0";
    auto sku = text_rule("sku", "p.sku");
    sku.pattern = make_field_pattern(R"([A-Z]{2}-\d+)");
    auto missing = text_rule("label", "p.label");
    missing.default_value = "none";
    auto unmatched = text_rule("unmatched", "p.sku");
    unmatched.pattern = make_field_pattern("EAN: (\\d+)");
    std::uint64_t invalid = 0;
    const auto item =
        html_test::extract_both(page, page_url, {stock, out, sku, missing, unmatched}, &invalid);
    CHECK(item.at("stock") == 22);
    CHECK(item.at("out") == 0);
    CHECK(item.at("sku") == "AB-1234");
    CHECK(item.at("label") == "none");
    CHECK(item.at("unmatched").is_null());
    CHECK(invalid == 0);  // a regex that does not match is a missing value, not an invalid one
    CHECK_THROWS_AS(make_field_pattern("("), std::invalid_argument);
}

TEST_CASE("as: number and as: int read a number written with its units", "[unit]") {
    const std::string page =
        "<html><body><p class=r>4.5 out of 5</p><p class=n>(1,234 reviews)</p>"
        "<p class=t>-3 °C</p><p class=w>Weight: 1 250 g</p><p class=h>4.5 stars</p>"
        "<p class=none>no number</p></body></html>";
    const std::vector<field_rule> rules{
        text_rule("rating", "p.r", value_kind::number),
        text_rule("reviews", "p.n", value_kind::integer),
        text_rule("temperature", "p.t", value_kind::integer),
        text_rule("weight", "p.w", value_kind::number),
        text_rule("half", "p.h", value_kind::integer),
        text_rule("none", "p.none", value_kind::number),
    };
    std::uint64_t invalid = 0;
    const auto item = html_test::extract_both(page, page_url, rules, &invalid);
    CHECK(item.at("rating") == 4.5);
    CHECK(item.at("reviews") == 1234);
    CHECK(item.at("temperature") == -3);
    CHECK(item.at("weight") == 1250.0);
    CHECK(item.at("half").is_null());  // 4.5 is no integer
    CHECK(item.at("none").is_null());
    CHECK(invalid == 2);
}

TEST_CASE("all: true gives every selected value as a list, join: one text of them", "[unit]") {
    const std::string page =
        "<html><body><ul><li>Cotton</li><li> Linen </li><li>Silk</li></ul>"
        "<p class=size>Size 38</p><p class=size>Size 40</p><p class=size>one size</p>"
        "<a class=tag href=/t/a>a</a><a class=tag href=/t/b>b</a></body></html>";
    auto materials = text_rule("materials", "li");
    materials.all = true;
    auto sizes = text_rule("sizes", "p.size", value_kind::integer);
    sizes.all = true;  // "one size" holds no number: left out, counted invalid
    auto description = text_rule("description", "li");
    description.all = true;
    description.join = ", ";
    auto tags = text_rule("tags", "a.tag");
    tags.text = false;
    tags.attribute = "href";
    tags.all = true;  // url attributes resolve, one by one
    auto none = text_rule("none", "h2");
    none.all = true;
    auto none_default = text_rule("none_default", "h2");
    none_default.all = true;
    none_default.default_value = "n/a";
    auto first = text_rule("first", "li");  // without all: the first only
    std::uint64_t invalid = 0;
    const auto item = html_test::extract_both(
        page, page_url, {materials, sizes, description, tags, none, none_default, first}, &invalid);
    CHECK(boost::json::value(item.at("materials")) ==
          boost::json::value({"Cotton", "Linen", "Silk"}));
    CHECK(boost::json::value(item.at("sizes")) == boost::json::value({38, 40}));
    CHECK(item.at("description") == "Cotton, Linen, Silk");
    CHECK(boost::json::value(item.at("tags")) ==
          boost::json::value({"http://127.0.0.1/t/a", "http://127.0.0.1/t/b"}));
    CHECK(item.at("none") == boost::json::array());
    CHECK(boost::json::value(item.at("none_default")) == boost::json::value({"n/a"}));
    CHECK(item.at("first") == "Cotton");
    CHECK(invalid == 1);
}

TEST_CASE("strip: true collapses and trims whitespace of attribute values, before regex",
          "[unit]") {
    const std::string page =
        "<html><body><img class=main alt=\" Blue\n   mug \" data-sku=\"  sku:\tAB 12  \">"
        "</body></html>";
    auto alt = text_rule("alt", "img.main");
    alt.text = false;
    alt.attribute = "alt";
    alt.strip = true;
    auto kept = alt;
    kept.name = "kept";
    kept.strip = false;
    auto sku = text_rule("sku", "img.main");
    sku.text = false;
    sku.attribute = "data-sku";
    sku.strip = true;
    sku.pattern = make_field_pattern("^sku: (.+)$");
    std::uint64_t invalid = 0;
    const auto item = html_test::extract_both(page, page_url, {alt, kept, sku}, &invalid);
    CHECK(item.at("alt") == "Blue mug");
    CHECK(item.at("kept") == " Blue\n   mug ");
    CHECK(item.at("sku") == "AB 12");
}
