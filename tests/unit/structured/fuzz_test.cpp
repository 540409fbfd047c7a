// Robustness: a bounded, seeded fuzz-style loop over untrusted page bytes. Every extractor must
// return (no crash, no hang, no exception) and give well-formed results.

#include "pipelines/structured/jsonld.hpp"
#include "pipelines/structured/microdata.hpp"
#include "pipelines/structured/product.hpp"
#include "structured_test_data.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

namespace hp = harvest::pipelines;
namespace json = boost::json;

namespace {

// Fragments that steer random inputs into the scanners' and parsers' interesting states.
const std::vector<std::string>& tokens() {
    static const std::vector<std::string> list = {"<script",
                                                  "<SCRIPT ",
                                                  " type=",
                                                  "\"application/ld+json\"",
                                                  "'application/ld+json'",
                                                  "application/ld+json; charset=utf-8",
                                                  ">",
                                                  "</script>",
                                                  "</script",
                                                  "<style>",
                                                  "</style>",
                                                  "<!--",
                                                  "-->",
                                                  "<![CDATA[",
                                                  "]]>",
                                                  "{",
                                                  "}",
                                                  "[",
                                                  "]",
                                                  "\"",
                                                  "'",
                                                  "\\",
                                                  "\\u12",
                                                  "\\x4",
                                                  ":",
                                                  ",",
                                                  "//",
                                                  "/*",
                                                  "*/",
                                                  "\n",
                                                  "\t",
                                                  "\x01",
                                                  "\xff",
                                                  "\xc3\xa9",
                                                  "null",
                                                  "true",
                                                  "1e999",
                                                  "-0",
                                                  "18446744073709551616",
                                                  "\"@type\":\"Product\"",
                                                  "\"@graph\":[",
                                                  "\"offers\":",
                                                  "\"price\":\"1,299.99\"",
                                                  "<div",
                                                  " itemscope",
                                                  " itemtype=\"http://schema.org/Product\"",
                                                  " itemprop=\"name\"",
                                                  " itemprop=\"offers\"",
                                                  " itemref=\"a b\"",
                                                  " id=\"a\"",
                                                  " itemid=\"x\"",
                                                  "<meta content=\"c\"",
                                                  "<a href=\"../",
                                                  "<img src=\"",
                                                  "<time datetime=\"",
                                                  "<data value=\"",
                                                  "</div>",
                                                  "<p>",
                                                  "&amp;",
                                                  "&#",
                                                  "<",
                                                  "=",
                                                  " "};
    return list;
}

std::vector<std::string> corpus_pages() {
    const std::string dir = hp::test::structured_data_dir();
    const json::value manifest = hp::test::read_json(dir + "/manifest.json");
    std::vector<std::string> pages;
    for (const auto& page : manifest.as_array()) {
        pages.push_back(hp::test::read_file(dir + "/" + std::string(page.at("html").as_string())));
    }
    return pages;
}

struct exercised {
    std::size_t jsonld_values = 0;
    std::size_t microdata_items = 0;
    std::size_t products = 0;
};

// Runs every extractor on one input and checks the shapes of what comes back.
void exercise(std::string_view input, exercised& totals) {
    const std::vector<json::value> values = hp::find_jsonld(input);
    for (const auto& v : values) {
        REQUIRE((v.is_object() || v.is_array() || v.is_string() || v.is_number() || v.is_bool()));
    }
    const std::vector<json::value> items = hp::find_microdata(input, "http://example.com/a/b");
    for (const auto& item : items) {
        REQUIRE(item.is_object());
    }
    const auto from_jsonld = hp::products_from_jsonld(values);
    REQUIRE(hp::jsonld_products(input) == from_jsonld);
    const auto from_microdata = hp::products_from_microdata(items);
    for (const auto* list : {&from_jsonld, &from_microdata}) {
        for (const auto& product : *list) {
            REQUIRE(product.size() == 9);
        }
    }
    totals.jsonld_values += values.size();
    totals.microdata_items += items.size();
    totals.products += from_jsonld.size() + from_microdata.size();
}

}  // namespace

TEST_CASE("structured extractors survive 10000 hostile inputs", "[unit]") {
    std::mt19937_64 rng(20261129);  // fixed seed: failures reproduce
    const auto pages = corpus_pages();
    REQUIRE(!pages.empty());
    const auto& toks = tokens();
    const auto pick = [&](std::size_t n) {
        return static_cast<std::size_t>(std::uniform_int_distribution<std::size_t>(0, n - 1)(rng));
    };
    exercised totals;
    int inputs = 0;

    // 1. Random bytes.
    for (int k = 0; k < 2000; ++k, ++inputs) {
        std::string input(pick(2048), '\0');
        for (char& c : input) {
            c = static_cast<char>(pick(256));
        }
        exercise(input, totals);
    }
    // 2. Token soup: random sequences of markup and JSON fragments.
    for (int k = 0; k < 3000; ++k, ++inputs) {
        std::string input;
        const std::size_t count = pick(200);
        for (std::size_t t = 0; t < count; ++t) {
            input += toks[pick(toks.size())];
            if (pick(4) == 0) {
                input += static_cast<char>('a' + pick(26));
            }
        }
        exercise(input, totals);
    }
    // 3. Truncated real pages (cut anywhere: inside tags, scripts, strings, UTF-8 sequences).
    for (int k = 0; k < 2500; ++k, ++inputs) {
        const std::string& page = pages[pick(pages.size())];
        exercise(std::string_view(page).substr(0, pick(page.size() + 1)), totals);
    }
    // 4. Mutated real pages: a few bytes replaced, tokens spliced in.
    for (int k = 0; k < 2493; ++k, ++inputs) {
        std::string page = pages[pick(pages.size())];
        const std::size_t edits = 1 + pick(8);
        for (std::size_t e = 0; e < edits && !page.empty(); ++e) {
            const std::size_t at = pick(page.size());
            if (pick(2) == 0) {
                page[at] = static_cast<char>(pick(256));
            } else {
                page.insert(at, toks[pick(toks.size())]);
            }
        }
        exercise(page, totals);
    }
    // 5. Shapes that stress depth and length.
    {
        std::vector<std::string> special;
        special.push_back("<script type=\"application/ld+json\">" + std::string(200000, '['));
        special.push_back("<script type=\"application/ld+json\">" + std::string(5000, '{'));
        special.push_back("<script type=\"application/ld+json\">{\"a\":\"" +
                          std::string(100000, 'x'));
        special.push_back(std::string(50000, '<') + "script type=application/ld+json>{}");
        std::string deep;
        for (int d = 0; d < 3000; ++d) {
            deep += "<div itemscope itemprop=\"p\" itemref=\"r\" id=\"r\">";
        }
        special.push_back(deep);
        std::string items;
        for (int d = 0; d < 2000; ++d) {
            items += "<span itemscope itemprop=\"a\" itemref=\"x\"><b itemprop=\"n\">v</b></span>";
        }
        special.push_back("<div id=\"x\" itemscope>" + items + "</div>");
        // A 1 MB page on a single line: products in JSON-LD and microdata, no newline at all.
        std::string line;
        while (line.size() < (1u << 20)) {
            line += R"(<script type="application/ld+json">{"@type":"Product","sku":"s","offers":)"
                    R"({"price":"1,299.99"}}</script><div itemscope itemtype="http://schema.org/)"
                    R"(Product"><span itemprop="name">n</span><meta itemprop="sku" content="m">)"
                    R"(</div>)";
        }
        special.push_back(line);
        for (const auto& input : special) {
            exercise(input, totals);
            ++inputs;
        }
    }
    CHECK(inputs == 10000);
    // The loop must have reached the parsers, not only bounced off garbage.
    CHECK(totals.jsonld_values > 1000);
    CHECK(totals.microdata_items > 1000);
    CHECK(totals.products > 1000);
}
