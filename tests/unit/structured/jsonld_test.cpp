// find_jsonld: the byte scanner (tags, attributes, raw text) and the lenient block parser.

#include "pipelines/structured/jsonld.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <cctype>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace hp = harvest::pipelines;
namespace json = boost::json;

namespace {

// The values found, as one compact JSON array, for readable comparisons.
std::string found(std::string_view html) {
    json::array array;
    for (auto& v : hp::find_jsonld(html)) {
        array.push_back(std::move(v));
    }
    return json::serialize(array);
}

}  // namespace

TEST_CASE("find_jsonld matches script tags in their HTML spellings", "[unit]") {
    CHECK(found(R"(<script type="application/ld+json">{"a":1}</script>)") == R"([{"a":1}])");
    CHECK(found(R"(<SCRIPT TYPE="Application/LD+JSON">{"a":1}</SCRIPT>)") == R"([{"a":1}])");
    CHECK(found(R"(<script type='application/ld+json'>{"a":1}</script>)") == R"([{"a":1}])");
    CHECK(found(R"(<script type=application/ld+json>{"a":1}</script>)") == R"([{"a":1}])");
    CHECK(found("<script\n  id=x  type = \"application/ld+json\"\n>{\"a\":1}</script >") ==
          R"([{"a":1}])");
    CHECK(found(R"(<script type="application/ld+json; charset=utf-8">{"a":1}</script>)") ==
          R"([{"a":1}])");
    CHECK(found(R"(<script type=" application/ld+json ">{"a":1}</script>)") == R"([{"a":1}])");
    CHECK(found(R"(<script data-x="a>b" type="application/ld+json">{"a":1}</script>)") ==
          R"([{"a":1}])");
    // The first of duplicate attributes counts, as in HTML.
    CHECK(found(R"(<script type="text/javascript" type="application/ld+json">{}</script>)") ==
          "[]");
}

TEST_CASE("find_jsonld ignores what is not a JSON-LD script", "[unit]") {
    CHECK(found(R"(<script type="application/json">{"a":1}</script>)") == "[]");
    CHECK(found(R"(<script>{"a":1}</script>)") == "[]");
    CHECK(found(R"(<scripts type="application/ld+json">{"a":1}</scripts>)") == "[]");
    CHECK(found(R"(<!-- <script type="application/ld+json">{"a":1}</script> -->)") == "[]");
    // A JSON-LD tag written inside another script's text is not markup.
    CHECK(found(R"(<script>document.write('<script type="application/ld+json">{"a":1}');)"
                R"(</script>)") == "[]");
    CHECK(found(R"(<style>/* <script type="application/ld+json">{"a":1}</script> */</style>)") ==
          "[]");
    CHECK(found("") == "[]");
}

TEST_CASE("find_jsonld keeps document order, flattens arrays, drops falsy values", "[unit]") {
    const std::string html =
        R"(<head><script type="application/ld+json">{"n":1}</script></head><body>)"
        R"(<script type="application/ld+json">[{"n":2},{"n":3},null,{},false,[]]</script>)"
        R"(<script type="application/ld+json">   </script>)"
        R"(<script type="application/ld+json">false</script>)"
        R"(<script type="application/ld+json">{}</script>)"
        R"(<script type="application/ld+json">{"n":4}</script></body>)";
    CHECK(found(html) == R"([{"n":1},{"n":2},{"n":3},{"n":4}])");
}

TEST_CASE("find_jsonld: one broken block never loses the others", "[unit]") {
    const std::string html = R"(<script type="application/ld+json">{"n":1}</script>)"
                             R"(<script type="application/ld+json">{"n": </script>)"
                             R"(<script type="application/ld+json">not json at all</script>)"
                             R"(<script type="application/ld+json">{"n":2}</script>)";
    CHECK(found(html) == R"([{"n":1},{"n":2}])");
}

TEST_CASE("find_jsonld reads lenient blocks as far as they are JSON", "[unit]") {
    const auto block = [](std::string_view text) {
        return found("<script type=\"application/ld+json\">" + std::string(text) + "</script>");
    };
    CHECK(block("<!-- note -->\n{\"a\":1}") == R"([{"a":1}])");
    CHECK(block("<!--\n{\"a\":1}\n-->") == R"([{"a":1}])");
    CHECK(block("// note\n{\"a\":1, // trailing\n \"b\":2}") == R"([{"a":1,"b":2}])");
    CHECK(block("/* note */{\"a\":1}") == R"([{"a":1}])");
    CHECK(block("{\"url\":\"http://x/y\"}") == R"([{"url":"http://x/y"}])");
    CHECK(block("{\"a\":\"<!-- kept -->\"}") == R"([{"a":"<!-- kept -->"}])");
    CHECK(block("{\"a\":\"// kept\"}") == R"([{"a":"// kept"}])");
    CHECK(block("{\"a\":\"line 1\nline 2\t\"}") == R"([{"a":"line 1\nline 2\t"}])");
    CHECK(block("{\"a\":1,}") == R"([{"a":1}])");
    CHECK(block("[{\"a\":1},]") == R"([{"a":1}])");
    CHECK(block("{\"a\":1};") == R"([{"a":1}])");
    CHECK(block("{\"a\":1}}") == R"([{"a":1}])");
    CHECK(block("{\"a\":1}{\"b\":2}") == R"([{"a":1},{"b":2}])");
    CHECK(block("{\"a\":\"it\\'s\"}") == R"([{"a":"it's"}])");
    CHECK(block("{\"a\":\"\\x41\"}") == R"([{"a":"A"}])");
    CHECK(block("{\"a\":\"C:\\dir\"}") == R"([{"a":"C:\\dir"}])");
    CHECK(block("//<![CDATA[\n{\"a\":1}\n//]]>") == R"([{"a":1}])");
    CHECK(block("<![CDATA[{\"a\":[[1]]}]]>") == R"([{"a":[[1]]}])");
    CHECK(block("{\"a\":1") == "[]");  // truncated: nothing complete
}

TEST_CASE("find_jsonld: an unclosed script runs to the end of the page", "[unit]") {
    CHECK(found(R"(<p>x</p><script type="application/ld+json">{"a":1})") == R"([{"a":1}])");
    CHECK(found(R"(<script type="application/ld+json">{"a":1}</script><script )") ==
          R"([{"a":1}])");
    CHECK(found(R"(<script type="application/ld+json)") == "[]");
}

TEST_CASE("find_jsonld keeps number kinds, unicode and duplicate keys as Python does", "[unit]") {
    CHECK(found(R"(<script type="application/ld+json">{"i":5,"d":4.5,"u":18446744073709551615})"
                R"(</script>)") == R"([{"i":5,"d":4.5E0,"u":18446744073709551615}])");
    CHECK(found(R"(<script type="application/ld+json">{"s":"\u00e9 é"}</script>)") ==
          "[{\"s\":\"\xC3\xA9 \xC3\xA9\"}]");
    CHECK(found(R"(<script type="application/ld+json">{"k":1,"j":0,"k":2}</script>)") ==
          R"([{"k":2,"j":0}])");
}

TEST_CASE("a block is read the same whether its page goes on past it or ends with it", "[unit]") {
    // A block followed by SIMDJSON_PADDING bytes of its page is parsed where it is, and simdjson
    // reads past its end; one at the page's end is copied first. Whatever follows must not
    // change what is read: digits after a root number, quotes, backslashes, brackets.
    const std::vector<std::string> blocks = {
        R"({"@type":"Product","name":"Mug","offers":{"@type":"Offer","price":"5.50","priceCurrency":"EUR"}})",
        R"([{"@type":"Product","name":"A \"quoted\" \u00e9","sku":"1"},{"@type":"Thing"}])",
        R"({"@graph":[{"@type":"Product","name":"In a graph","offers":[{"price":7},{"price":3}]}]})",
        "12",
        "-0.5e3",
        "true",
        "null",
        R"("a string")",
        "[1,2,[3]]",
        R"({"a":{"b":{"c":[]}}})",
    };
    std::mt19937 rng(20261208);
    static constexpr char tail_alphabet[] = "0123456789\"\\{}[],:.eE-+ tfn</>";
    for (int round = 0; round < 400; ++round) {
        const std::string& block = blocks[rng() % blocks.size()];
        std::string tail(rng() % 200, ' ');
        for (char& c : tail) {
            c = tail_alphabet[rng() % (sizeof(tail_alphabet) - 1)];
        }
        const std::string open = R"(<script type="application/ld+json">)";
        const std::string followed = open + block + "</script>" + tail;
        const std::string at_end = open + block;  // unclosed: the block runs to the page's end
        CAPTURE(block, tail);
        json::array alone;
        for (auto& v : hp::parse_jsonld_block(block)) {
            alone.push_back(std::move(v));
        }
        CHECK(found(followed) == json::serialize(alone));  // the tail spells no other script
        CHECK(found(at_end) == json::serialize(alone));
        const auto products_followed = hp::jsonld_products(followed + "<p>" + std::string(80, 'x'));
        const auto products_at_end = hp::jsonld_products(at_end);
        REQUIRE(products_followed.size() == products_at_end.size());
        for (std::size_t i = 0; i < products_followed.size(); ++i) {
            CHECK(json::serialize(products_followed[i]) == json::serialize(products_at_end[i]));
        }
    }
}

TEST_CASE("find_raw_text_open: the AVX2 and SSE2 scans agree with the rule at every offset",
          "[unit]") {
    using harvest::pipelines::detail::find_raw_text_open;
    // The rule, written plainly: "<!", or '<' then "scr" or "sty" in either case.
    const auto reference = [](const std::string& html, std::size_t from) {
        for (std::size_t i = from; i < html.size(); ++i) {
            std::string next = html.substr(i, 4);
            for (char& c : next) {
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            }
            if (next.starts_with("<!") || next == "<scr" || next == "<sty") {
                return i;
            }
        }
        return std::string::npos;
    };
    std::mt19937 rng(9);
    static constexpr char alphabet[] = "<<<!sSsScCtTrRyYxa -/>\n";
    for (int round = 0; round < 2000; ++round) {
        std::string html(rng() % 200, ' ');
        for (char& c : html) {
            c = alphabet[rng() % (sizeof(alphabet) - 1)];
        }
        for (std::size_t from = 0; from <= html.size(); ++from) {
            CAPTURE(html, from);
            const std::size_t expected = reference(html, from);
            REQUIRE(find_raw_text_open(html, from, true) == expected);
            REQUIRE(find_raw_text_open(html, from, false) == expected);
        }
    }
    CHECK(find_raw_text_open(std::string(100, 'a') + "<script", 0) == 100);
    CHECK(find_raw_text_open(std::string(100, 'a') + "<b<STy", 0) == 102);
    CHECK(find_raw_text_open(std::string(100, 'a') + "<b", 0) == std::string::npos);
    // The tags a product page is made of do not stop the scan; the three that matter do.
    const std::string tags = "<span><section><select><strong><small><svg><s><sc><st>";
    for (const char* wanted :
         {"<!-- x -->", "<!DOCTYPE html>", "<script>", "<SCRIPT>", "<style>", "<StYlE>", "<scr"}) {
        CAPTURE(wanted);
        for (bool avx2 : {true, false}) {
            CHECK(find_raw_text_open(tags + std::string(50, 'a') + std::string(wanted), 0, avx2) ==
                  tags.size() + 50);
            CHECK(find_raw_text_open(tags + std::string(wanted), 0, avx2) == tags.size());
        }
    }
    CHECK(find_raw_text_open(tags + std::string(50, 'a'), 0) == std::string::npos);
}

TEST_CASE("find_base_href: the first <base> with an href before <body>", "[unit]") {
    CHECK(hp::find_base_href(R"(<html><head><BASE target=_top><base HREF=" /a/ "></head>)") ==
          std::optional<std::string_view>("/a/"));
    CHECK(hp::find_base_href(R"(<!-- <base href="/c/"> --><script>"<base href='/s/'>"</script>
<style>b{}</style><base href='https://x.test/b/'>)") ==
          std::optional<std::string_view>("https://x.test/b/"));
    CHECK_FALSE(hp::find_base_href("<html><body><base href=/late/></body>"));
    CHECK_FALSE(hp::find_base_href("<html><head><basefont href=/x/><base"));
    CHECK_FALSE(hp::find_base_href(""));
}
