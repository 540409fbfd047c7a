#include "pipelines/extract/json_extractor.hpp"
#include "pipelines/extract/extractor_set.hpp"
#include "pipelines/html/html.hpp"
#include "pipelines/item.hpp"
#include "test_support.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

#include <random>
#include <stdexcept>
#include <thread>

using namespace harvest;
using namespace harvest::pipelines;
using harvest::pipelines::test::make_page;

namespace {

field_rule field(std::string name, std::string pointer, value_kind as = value_kind::raw) {
    field_rule rule;
    rule.name = std::move(name);
    rule.pointer = std::move(pointer);
    rule.as = as;
    return rule;
}

extract_rule fields_rule(std::vector<field_rule> fields, std::vector<std::string> required = {},
                         std::string match = "") {
    extract_rule rule;
    rule.match = std::move(match);
    rule.type = extract_type::json;
    rule.fields = std::move(fields);
    rule.required = std::move(required);
    return rule;
}

struct extraction {
    extract_outcome outcome;
    std::vector<item> items;
};

extraction run(const json_extractor& extractor, std::string_view body) {
    extraction result;
    const auto page = make_page("http://127.0.0.1/api/products/1", body);
    result.outcome = extractor.extract(page, result.items);
    return result;
}

// The single field `v` extracted from `body` with `as`.
boost::json::value extract_one(std::string_view body, std::string pointer, value_kind as,
                               extract_outcome* outcome = nullptr) {
    const json_extractor extractor(fields_rule({field("v", std::move(pointer), as)}));
    const auto result = run(extractor, body);
    if (outcome != nullptr) {
        *outcome = result.outcome;
    }
    REQUIRE(result.items.size() == 1);
    return result.items[0].at("v");
}

const char* const document = R"({
  "asin": "B00X",
  "title": "Caf\u00e9 \"Deluxe\" & more",
  "price": 19.99,
  "count": 42,
  "flag": true,
  "none": null,
  "nested": {"deep": {"value": "found"}},
  "list": [10, 20, {"x": "in array"}],
  "a/b": "slash key",
  "m~n": "tilde key",
  "": "empty key",
  "obj": {"k": [1, 2], "s": "t"},
  "arr": [{"a": 1}, {"a": 2}]
})";

}  // namespace

TEST_CASE("JSON Pointer parsing (RFC 6901)", "[unit][json_extractor]") {
    CHECK(json_pointer::parse("").tokens.empty());
    CHECK(json_pointer::parse("/").tokens == std::vector<std::string>{""});
    CHECK(json_pointer::parse("/a~1b/m~0n/~01").tokens ==
          std::vector<std::string>{"a/b", "m~n", "~1"});
    const auto indices = json_pointer::parse("/0/10/01/-/x").indices;
    REQUIRE(indices.size() == 5);
    CHECK(indices[0] == std::optional<std::size_t>{0});
    CHECK(indices[1] == std::optional<std::size_t>{10});
    CHECK_FALSE(indices[2]);  // leading zero: not an index
    CHECK_FALSE(indices[3]);  // "-" is past the end: never present
    CHECK_FALSE(indices[4]);
    CHECK_THROWS_AS(json_pointer::parse("a"), std::invalid_argument);
    CHECK_THROWS_AS(json_pointer::parse("/a~2"), std::invalid_argument);
    CHECK_THROWS_AS(json_pointer::parse("/a~"), std::invalid_argument);
}

TEST_CASE("JSON Pointer lookup table", "[unit][json_extractor]") {
    struct row {
        const char* pointer;
        const char* expected;  // the value as compact JSON
    };
    const row rows[] = {
        {"/asin", R"("B00X")"},
        {"/title", R"("Café \"Deluxe\" & more")"},
        {"/price", "19.99"},
        {"/count", "42"},
        {"/flag", "true"},
        {"/none", "null"},
        {"/nested/deep/value", R"("found")"},
        {"/list/0", "10"},
        {"/list/1", "20"},
        {"/list/2/x", R"("in array")"},
        {"/list/3", "null"},   // out of range
        {"/list/-", "null"},   // the end marker never names a value
        {"/list/01", "null"},  // not an index
        {"/a~1b", R"("slash key")"},
        {"/m~0n", R"("tilde key")"},
        {"/", R"("empty key")"},
        {"/missing", "null"},
        {"/nested/missing/deeper", "null"},
        {"/asin/0", "null"},                 // inside a scalar
        {"/obj", R"({"k":[1,2],"s":"t"})"},  // whole objects kept raw
        {"/obj/k", "[1,2]"},
        {"/arr/1/a", "2"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.pointer);
        const auto value = extract_one(document, r.pointer, value_kind::raw);
        std::string text;
        append_json(text, value);
        CHECK(text == r.expected);
    }
}

TEST_CASE("Many fields share one pass, nested inside each other", "[unit][json_extractor]") {
    const json_extractor extractor(fields_rule({
        field("obj", "/obj"),
        field("k1", "/obj/k/1"),
        field("deep", "/nested/deep/value"),
        field("whole", ""),
        field("x", "/list/2/x"),
        field("again", "/asin"),
        field("id", "/asin"),
    }));
    const auto result = run(extractor, document);
    REQUIRE(result.items.size() == 1);
    const item& it = result.items[0];
    std::vector<std::string> keys;
    for (const auto& entry : it) {
        keys.emplace_back(entry.key());
    }
    CHECK(keys == std::vector<std::string>{"url", "fetched_at", "status", "obj", "k1", "deep",
                                           "whole", "x", "again", "id"});
    CHECK(it.at("k1") == 2);
    CHECK(it.at("deep") == "found");
    CHECK(it.at("x") == "in array");
    CHECK(it.at("again") == "B00X");
    CHECK(it.at("id") == "B00X");
    CHECK(it.at("whole") == boost::json::parse(document));
    CHECK(it.at("obj") == boost::json::parse(R"({"k":[1,2],"s":"t"})"));
}

TEST_CASE("Items start with url, fetched_at and status", "[unit][json_extractor]") {
    const json_extractor extractor(fields_rule({field("id", "/id")}));
    auto page =
        make_page("http://127.0.0.1/final", R"({"id": 7})", 203,
                  std::chrono::system_clock::time_point{std::chrono::milliseconds{1795871109123}});
    page.request.http.url = "http://127.0.0.1/start";
    std::vector<item> items;
    const auto outcome = extractor.extract(page, items);
    CHECK(outcome.emitted == 1);
    REQUIRE(items.size() == 1);
    std::string line;
    append_json(line, items[0]);
    CHECK(line == R"({"url":"http://127.0.0.1/final","fetched_at":"2026-11-28T13:05:09.123Z",)"
                  R"("status":203,"id":7})");
}

TEST_CASE("as: string", "[unit][json_extractor]") {
    extract_outcome outcome;
    CHECK(extract_one(R"({"v":"text"})", "/v", value_kind::string) == "text");
    CHECK(extract_one(R"({"v":19.99})", "/v", value_kind::string) == "19.99");
    CHECK(extract_one(R"({"v":-3})", "/v", value_kind::string) == "-3");
    CHECK(extract_one(R"({"v":18446744073709551615})", "/v", value_kind::string) ==
          "18446744073709551615");
    CHECK(extract_one(R"({"v":true})", "/v", value_kind::string) == "true");
    CHECK(extract_one(R"({"v":null})", "/v", value_kind::string, &outcome).is_null());
    CHECK(outcome.values_invalid == 0);
    CHECK(extract_one(R"({"v":{"a":1}})", "/v", value_kind::string, &outcome).is_null());
    CHECK(outcome.values_invalid == 1);
    CHECK(extract_one(R"({"v":[1]})", "/v", value_kind::string, &outcome).is_null());
    CHECK(outcome.values_invalid == 1);
}

TEST_CASE("as: number", "[unit][json_extractor]") {
    extract_outcome outcome;
    CHECK(extract_one(R"({"v":19.99})", "/v", value_kind::number) == 19.99);
    const auto integer = extract_one(R"({"v":42})", "/v", value_kind::number);
    CHECK(integer.is_double());
    CHECK(integer == 42.0);
    CHECK(extract_one(R"({"v":" 12.5 "})", "/v", value_kind::number) == 12.5);
    CHECK(extract_one(R"({"v":"1e3"})", "/v", value_kind::number) == 1000.0);
    CHECK(extract_one(R"({"v":"-0.25"})", "/v", value_kind::number) == -0.25);
    for (const char* bad : {R"({"v":"abc"})", R"({"v":"12abc"})", R"({"v":""})", R"({"v":true})",
                            R"({"v":"inf"})", R"({"v":"nan"})", R"({"v":[1]})"}) {
        CAPTURE(bad);
        CHECK(extract_one(bad, "/v", value_kind::number, &outcome).is_null());
        CHECK(outcome.values_invalid == 1);
    }
    CHECK(extract_one(R"({"v":null})", "/v", value_kind::number, &outcome).is_null());
    CHECK(outcome.values_invalid == 0);
}

TEST_CASE("as: integer", "[unit][json_extractor]") {
    extract_outcome outcome;
    const auto value = extract_one(R"({"v":42})", "/v", value_kind::integer);
    CHECK(value.is_int64());
    CHECK(value == 42);
    CHECK(extract_one(R"({"v":-9223372036854775808})", "/v", value_kind::integer) ==
          std::numeric_limits<std::int64_t>::min());
    CHECK(extract_one(R"({"v":3.0})", "/v", value_kind::integer) == 3);
    CHECK(extract_one(R"({"v":"17"})", "/v", value_kind::integer) == 17);
    CHECK(extract_one(R"({"v":"5.0"})", "/v", value_kind::integer) == 5);
    for (const char* bad : {R"({"v":1.5})", R"({"v":"1.5"})", R"({"v":"x"})", R"({"v":false})",
                            R"({"v":9223372036854775808})", R"({"v":1e300})", R"({"v":{"a":1}})"}) {
        CAPTURE(bad);
        CHECK(extract_one(bad, "/v", value_kind::integer, &outcome).is_null());
        CHECK(outcome.values_invalid == 1);
    }
}

TEST_CASE("as: boolean", "[unit][json_extractor]") {
    extract_outcome outcome;
    CHECK(extract_one(R"({"v":true})", "/v", value_kind::boolean) == true);
    CHECK(extract_one(R"({"v":false})", "/v", value_kind::boolean) == false);
    CHECK(extract_one(R"({"v":"true"})", "/v", value_kind::boolean) == true);
    CHECK(extract_one(R"({"v":"FALSE"})", "/v", value_kind::boolean) == false);
    for (const char* bad : {R"({"v":"yes"})", R"({"v":1})", R"({"v":0})", R"({"v":[]})"}) {
        CAPTURE(bad);
        CHECK(extract_one(bad, "/v", value_kind::boolean, &outcome).is_null());
        CHECK(outcome.values_invalid == 1);
    }
}

TEST_CASE("as: raw keeps every JSON type", "[unit][json_extractor]") {
    CHECK(extract_one(R"({"v":"s"})", "/v", value_kind::raw) == "s");
    CHECK(extract_one(R"({"v":1.5})", "/v", value_kind::raw) == 1.5);
    CHECK(extract_one(R"({"v":-2})", "/v", value_kind::raw) == -2);
    CHECK(extract_one(R"({"v":false})", "/v", value_kind::raw) == false);
    CHECK(extract_one(R"({"v":[1,"a",null,{"b":[]}]})", "/v", value_kind::raw) ==
          boost::json::parse(R"([1,"a",null,{"b":[]}])"));
    // Beyond 64 bits: still valid JSON, kept as the nearest double.
    CHECK(extract_one(R"({"v":18446744073709551616})", "/v", value_kind::raw) ==
          18446744073709551616.0);
    // Escapes in keys and values are decoded.
    CHECK(extract_one(R"({"k\u00e9y":"\ud83d\ude00\n"})", "/k\xC3\xA9y", value_kind::raw) ==
          "\xF0\x9F\x98\x80\n");
}

TEST_CASE("as: price", "[unit][json_extractor]") {
    extract_outcome outcome;
    SECTION("a number stays a number") {
        CHECK(extract_one(R"({"v":12.5})", "/v", value_kind::price) == 12.5);
    }
    SECTION("a string is parsed, its currency fills the item's currency") {
        const json_extractor extractor(fields_rule({field("price", "/p", value_kind::price)}));
        const auto result = run(extractor, R"({"p":"1.299,99 \u20ac"})");
        REQUIRE(result.items.size() == 1);
        CHECK(result.items[0].at("price") == 1299.99);
        CHECK(result.items[0].at("currency") == "EUR");
    }
    SECTION("an existing non-null currency is kept; a null one is filled in place") {
        const json_extractor keep(
            fields_rule({field("price", "/p", value_kind::price), field("currency", "/c")}));
        auto result = run(keep, R"({"p":"EUR 12.50","c":"USD"})");
        REQUIRE(result.items.size() == 1);
        CHECK(result.items[0].at("currency") == "USD");
        result = run(keep, R"({"p":"EUR 12.50","c":null})");
        REQUIRE(result.items.size() == 1);
        CHECK(result.items[0].at("price") == 12.5);
        CHECK(result.items[0].at("currency") == "EUR");
        std::string line;
        append_json(line, result.items[0]);
        CHECK(line.find(R"("price":12.5,"currency":"EUR")") != std::string::npos);
    }
    SECTION("hints: decimal separator and currency") {
        field_rule rule = field("eu", "/p", value_kind::price);
        rule.decimal_separator = ',';
        rule.currency = "EUR";
        const json_extractor extractor(fields_rule({rule}));
        const auto result = run(extractor, R"({"p":"12,50"})");
        REQUIRE(result.items.size() == 1);
        CHECK(result.items[0].at("eu") == 12.5);
        CHECK(result.items[0].at("currency") == "EUR");
    }
    SECTION("a currency hint names an ambiguous symbol, never a code the text determines") {
        field_rule rule = field("usd", "/p", value_kind::price);
        rule.currency = "USD";
        const json_extractor extractor(fields_rule({rule}));
        for (const auto& [text, currency] :
             std::vector<std::pair<std::string, std::string>>{{"$1,299.00", "USD"},
                                                              {"1 299 kr", "USD"},
                                                              {"£12", "GBP"},
                                                              {"EUR 4,50", "EUR"},
                                                              {"12.00", "USD"}}) {
            CAPTURE(text);
            const auto result = run(extractor, R"({"p":")" + text + R"("})");
            REQUIRE(result.items.size() == 1);
            CHECK(result.items[0].at("currency") == currency.c_str());
        }
    }
    SECTION("no number in the text is an invalid value") {
        CHECK(extract_one(R"({"v":"call us"})", "/v", value_kind::price, &outcome).is_null());
        CHECK(outcome.values_invalid == 1);
        CHECK(extract_one(R"({"v":true})", "/v", value_kind::price, &outcome).is_null());
        CHECK(outcome.values_invalid == 1);
    }
}

TEST_CASE("as: availability", "[unit][json_extractor]") {
    extract_outcome outcome;
    CHECK(extract_one(R"({"v":"https://schema.org/InStock"})", "/v", value_kind::availability) ==
          "in_stock");
    CHECK(extract_one(R"({"v":"http://schema.org/OutOfStock"})", "/v", value_kind::availability) ==
          "out_of_stock");
    // An unknown phrase is null (not the original text), counted as an invalid value.
    CHECK(extract_one(R"({"v":"ask the shopkeeper"})", "/v", value_kind::availability, &outcome)
              .is_null());
    CHECK(outcome.values_invalid == 1);
    CHECK(extract_one(R"({"v":3})", "/v", value_kind::availability, &outcome).is_null());
    CHECK(outcome.values_invalid == 1);
}

TEST_CASE("required fields: null, missing or invalid make the item invalid",
          "[unit][json_extractor]") {
    const json_extractor extractor(fields_rule(
        {field("id", "/id"), field("price", "/price", value_kind::number), field("name", "/n")},
        {"id", "price"}));
    CHECK(run(extractor, R"({"id":"a","price":1})").outcome.emitted == 1);
    CHECK(run(extractor, R"({"id":"a","price":1})").items.size() == 1);
    for (const char* body : {R"({"price":1})", R"({"id":null,"price":1})", R"({"id":"a"})",
                             R"({"id":"a","price":"not a number"})"}) {
        CAPTURE(body);
        const auto result = run(extractor, body);
        CHECK(result.items.empty());
        CHECK(result.outcome.emitted == 0);
        CHECK(result.outcome.invalid == 1);
        CHECK(result.outcome.error == 0);
    }
    // An optional field may be missing.
    const auto optional = run(extractor, R"({"id":"a","price":2})");
    REQUIRE(optional.items.size() == 1);
    CHECK(optional.items[0].at("name").is_null());
}

TEST_CASE("Bodies that are not valid JSON are errors, never crashes", "[unit][json_extractor]") {
    const json_extractor extractor(fields_rule({field("id", "/id")}));
    const std::string bodies[] = {
        "",
        "   \n",
        "not json",
        R"({"id":1)",
        R"({"id":1,})",
        R"({"id":1}})",
        R"({"id":1} trailing)",
        R"({"id":"unterminated})",
        R"({"id": tru})",
        R"({"id": nul})",
        R"({"other": [1, 2,]  , "id": 1})",  // the bad part is off the pointer's path
        R"([1]])",
        "123 456",
        "{\"id\":\"\xff\xfe\"}",  // invalid UTF-8
        std::string("\x00\x01\x02\xff\xfe\x80\x81", 7),
        std::string(1000, '['),
        "<html><body>nope</body></html>",
    };
    for (const auto& body : bodies) {
        CAPTURE(body);
        const auto result = run(extractor, body);
        CHECK(result.items.empty());
        CHECK(result.outcome.error == 1);
        CHECK(result.outcome.emitted == 0);
    }
}

TEST_CASE("Scalar documents and the whole-document pointer", "[unit][json_extractor]") {
    CHECK(extract_one("42", "", value_kind::raw) == 42);
    CHECK(extract_one(R"("s")", "", value_kind::raw) == "s");
    CHECK(extract_one("null", "", value_kind::raw).is_null());
    CHECK(extract_one("[1,2]", "/1", value_kind::raw) == 2);
    CHECK(extract_one("42", "/a", value_kind::raw).is_null());
}

TEST_CASE("A body without spare capacity is copied, not read past its end",
          "[unit][json_extractor]") {
    const json_extractor extractor(fields_rule({field("id", "/id")}));
    auto page = make_page("http://127.0.0.1/x", "");
    page.response.body = std::string(R"({"id":"short"})");
    page.response.body.shrink_to_fit();
    std::vector<item> items;
    const auto outcome = extractor.extract(page, items);
    CHECK(outcome.emitted == 1);
    REQUIRE(items.size() == 1);
    CHECK(items[0].at("id") == "short");
}

TEST_CASE("extractor_set picks the first matching rule", "[unit][extractor_set]") {
    const extractor_set set({
        fields_rule({field("first", "/a")}, {}, "/api/products/"),
        fields_rule({field("second", "/a")}, {}, "/api/"),
        fields_rule({field("third", "/a")}, {}, "^https?://127\\.0\\.0\\.1/other"),
    });
    std::vector<item> items;
    auto outcome = set.extract(make_page("http://127.0.0.1/api/products/9", R"({"a":1})"), items);
    CHECK(outcome.emitted == 1);
    REQUIRE(items.size() == 1);
    CHECK(items[0].contains("first"));
    CHECK_FALSE(items[0].contains("second"));

    items.clear();
    outcome = set.extract(make_page("http://127.0.0.1/api/users/1", R"({"a":1})"), items);
    REQUIRE(items.size() == 1);
    CHECK(items[0].contains("second"));

    items.clear();
    outcome = set.extract(make_page("http://127.0.0.1/other/1", R"({"a":1})"), items);
    REQUIRE(items.size() == 1);
    CHECK(items[0].contains("third"));

    items.clear();
    outcome = set.extract(make_page("http://127.0.0.1/nothing", R"({"a":1})"), items);
    CHECK(items.empty());
    CHECK(outcome.emitted == 0);
    CHECK(outcome.error == 0);
}

TEST_CASE("extractor_set matches the final URL", "[unit][extractor_set]") {
    const extractor_set set({fields_rule({field("a", "/a")}, {}, "/final")});
    auto page = make_page("http://127.0.0.1/final", R"({"a":1})");
    page.request.http.url = "http://127.0.0.1/start";
    std::vector<item> items;
    CHECK(set.extract(page, items).emitted == 1);
    REQUIRE(items.size() == 1);
    CHECK(items[0].at("url") == "http://127.0.0.1/final");
}

TEST_CASE("extractor_set rejects what it cannot do", "[unit][extractor_set]") {
    extract_rule html = fields_rule({});
    html.type = extract_type::html;
    CHECK_THROWS_WITH(extractor_set({html}), Catch::Contains("at least one field"));
    extract_rule jsonld = fields_rule({});
    jsonld.type = extract_type::jsonld;
    jsonld.schema = "Recipe";
    CHECK_THROWS_WITH(extractor_set({jsonld}), Catch::Contains("not supported"));
    CHECK_THROWS_AS(extractor_set({fields_rule({}, {}, "([unclosed")}), std::invalid_argument);
    CHECK_THROWS_AS(extractor_set({fields_rule({field("a", "no-slash")})}), std::invalid_argument);
}

TEST_CASE("extractor_set is safe from many threads at once", "[unit][extractor_set]") {
    const extractor_set set({fields_rule(
        {field("id", "/id", value_kind::integer), field("name", "/name", value_kind::string)},
        {"id"}, "/p/")});
    constexpr int threads = 4;
    constexpr int pages = 2000;
    std::vector<std::thread> workers;
    std::atomic<int> wrong{0};
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            for (int i = 0; i < pages; ++i) {
                const int id = t * pages + i;
                std::vector<item> items;
                const std::string body =
                    R"({"id":)" + std::to_string(id) + R"(,"name":"n)" + std::to_string(id) + "\"}";
                set.extract(make_page("http://127.0.0.1/p/" + std::to_string(id), body), items);
                if (items.size() != 1 || items[0].at("id") != id ||
                    items[0].at("name").as_string() != "n" + std::to_string(id)) {
                    ++wrong;
                }
            }
        });
    }
    for (auto& worker : workers) {
        worker.join();
    }
    CHECK(wrong.load() == 0);
}

namespace {

// A random JSON text over the cases the two paths could read differently: duplicate keys
// (the first one without the rest of a pointer's path), integers at and beyond 64 bits,
// exponents, escapes, nesting.
void random_json(std::mt19937& rng, int depth, std::string& out) {
    static const char* const keys[] = {"a", "b", "dup", "x", "0", "1", "k\\u00e9y", "a/b"};
    static const char* const scalars[] = {"0",
                                          "-0",
                                          "1",
                                          "-1",
                                          "1.0",
                                          "1e2",
                                          "-2.5E-3",
                                          "9223372036854775807",
                                          "9223372036854775808",
                                          "-9223372036854775808",
                                          "-9223372036854775809",
                                          "18446744073709551615",
                                          "18446744073709551616",
                                          "1e400",
                                          "true",
                                          "false",
                                          "null",
                                          R"("s")",
                                          R"("")",
                                          R"("\ud83d\ude00\n")",
                                          R"("caf\u00e9")",
                                          R"("\"q\"")"};
    const unsigned pick = rng() % 10;
    if (depth < 4 && pick < 3) {
        out += '{';
        const int n = static_cast<int>(rng() % 4);
        for (int i = 0; i < n; ++i) {
            out += i > 0 ? ",\"" : "\"";
            out += keys[rng() % std::size(keys)];
            out += "\":";
            random_json(rng, depth + 1, out);
        }
        out += '}';
    } else if (depth < 4 && pick < 5) {
        out += '[';
        const int n = static_cast<int>(rng() % 4);
        for (int i = 0; i < n; ++i) {
            out += i > 0 ? "," : "";
            random_json(rng, depth + 1, out);
        }
        out += ']';
    } else {
        out += scalars[rng() % std::size(scalars)];
    }
}

}  // namespace

TEST_CASE("The DOM path finds what the On-Demand walk finds, in valid and broken documents",
          "[unit][json_extractor]") {
    using detail::find_json_fields;
    using detail::json_path;
    std::vector<json_pointer> pointers;
    for (const char* text : {"", "/a", "/b", "/dup", "/dup/x", "/dup/0", "/a/a", "/x/1/a", "/0",
                             "/1", "/0/dup", "/k\xC3\xA9y", "/a~1b", "/dup/dup/x", "/b/2"}) {
        pointers.push_back(json_pointer::parse(text));
    }
    // Duplicate keys: the first counts, whatever other fields the rule has.
    for (const auto path : {json_path::on_demand, json_path::dom, json_path::automatic}) {
        const std::string body = R"({"a":{"x":1},"a":{"y":2}})";
        const auto alone = find_json_fields(body, {json_pointer::parse("/a/y")}, path);
        REQUIRE(alone);
        CHECK_FALSE((*alone)[0].has_value());
        const auto with_whole =
            find_json_fields(body, {json_pointer::parse("/a/y"), json_pointer::parse("")}, path);
        REQUIRE(with_whole);
        CHECK_FALSE((*with_whole)[0].has_value());
        CHECK(*(*with_whole)[1] == boost::json::parse(R"({"a":{"x":1}})"));
    }

    std::mt19937 rng(3);
    std::size_t valid = 0;
    std::size_t by_dom = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string body;
        random_json(rng, 0, body);
        if (i % 4 == 3 && !body.empty()) {  // a broken variant: one byte changed or cut
            const std::size_t at = rng() % body.size();
            if (rng() % 2 == 0) {
                body[at] = "{}[],:\"x1 "[rng() % 10];
            } else {
                body.resize(at);
            }
        }
        CAPTURE(body);
        const auto reference = find_json_fields(body, pointers, json_path::on_demand);
        const auto automatic = find_json_fields(body, pointers, json_path::automatic);
        REQUIRE(automatic.has_value() == reference.has_value());
        if (!reference) {
            continue;
        }
        ++valid;
        by_dom += find_json_fields(body, pointers, json_path::dom).has_value() ? 1 : 0;
        for (std::size_t k = 0; k < pointers.size(); ++k) {
            CAPTURE(pointers[k].text);
            REQUIRE((*automatic)[k].has_value() == (*reference)[k].has_value());
            if ((*reference)[k]) {
                CHECK(*(*automatic)[k] == *(*reference)[k]);
            }
        }
    }
    // Both kinds of document are exercised: most through the DOM, some (integers beyond 64
    // bits) through the fallback.
    CHECK(valid > 12000);
    CHECK(by_dom > valid / 2);
    CHECK(by_dom < valid);
}

TEST_CASE("json: a string field reads as boolean, price and availability as an html text does",
          "[unit][json]") {
    // The two extractors share these readings (pipelines/field_value.hpp): the same text gives
    // the same value, the same currency and the same invalid count, in both.
    const std::vector<std::string> texts{
        "true",     " FALSE ",  "yes",     "",          "  ",         "$19.99",
        "19,99 €",  "1.234,56", "EUR 5",   "free",      "In stock",   "out of stock",
        "preorder", "sold out", "unknown", "£1,000.00", "12 in stock"};
    for (const auto as : {value_kind::boolean, value_kind::price, value_kind::availability}) {
        for (const auto& text : texts) {
            INFO("as " << static_cast<int>(as) << ", text \"" << text << "\"");
            auto rule = field("v", "/v", as);
            rule.currency = as == value_kind::price ? "USD" : "";
            extract_rule json = fields_rule({rule});
            const json_extractor extractor(json);
            const auto body = boost::json::serialize(boost::json::object{{"v", text}});
            const auto from_json = run(extractor, body);
            REQUIRE(from_json.items.size() == 1);

            std::uint64_t html_invalid = 0;
            const auto from_html = convert_html_fields({{text}}, {rule}, &html_invalid);
            CHECK(from_json.items[0].at("v") == from_html.at("v"));
            CHECK(from_json.outcome.values_invalid == html_invalid);
            const auto* json_currency = from_json.items[0].if_contains("currency");
            const auto* html_currency = from_html.if_contains("currency");
            CHECK((json_currency == nullptr) == (html_currency == nullptr));
            if (json_currency != nullptr && html_currency != nullptr) {
                CHECK(*json_currency == *html_currency);
            }
        }
    }
}
