// extractor_set with every extract type, per-type rule choice and counters, the HTML guard, and
// link discovery (follow rules, max_depth); pipeline_sink handing the links to the crawl.

#include "pipelines/extract/extractor_set.hpp"
#include "pipelines/pipeline_sink.hpp"
#include "test_support.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

using namespace harvest;
using namespace harvest::pipelines;
using harvest::pipelines::test::make_page;
namespace json = boost::json;

namespace {

// A page as nginx serves it: with its Content-Type.
crawl::fetched_page html_page(std::string url, std::string_view body, unsigned depth = 0,
                              std::string content_type = "text/html; charset=utf-8") {
    auto page = make_page(std::move(url), body);
    if (!content_type.empty()) {
        page.response.headers.emplace_back("Content-Type", std::move(content_type));
    }
    page.request.depth = depth;
    return page;
}

extract_rule structured_rule(extract_type type, std::string match, std::string schema = "Product",
                             std::vector<std::string> required = {}) {
    extract_rule rule;
    rule.type = type;
    rule.match = std::move(match);
    rule.schema = std::move(schema);
    rule.required = std::move(required);
    return rule;
}

field_rule css_field(std::string name, std::string css, value_kind as = value_kind::raw) {
    field_rule field;
    field.name = std::move(name);
    field.css = std::move(css);
    field.text = true;
    field.as = as;
    return field;
}

field_rule xpath_field(std::string name, std::string xpath, std::string attribute = {}) {
    field_rule field;
    field.name = std::move(name);
    field.xpath = std::move(xpath);
    field.attribute = std::move(attribute);
    return field;
}

extract_rule html_rule(std::string match, std::vector<field_rule> fields,
                       std::vector<std::string> required = {}) {
    extract_rule rule;
    rule.type = extract_type::html;
    rule.match = std::move(match);
    rule.fields = std::move(fields);
    rule.required = std::move(required);
    return rule;
}

extract_rule json_rule(std::string match, std::string name, std::string pointer) {
    extract_rule rule;
    rule.type = extract_type::json;
    rule.match = std::move(match);
    field_rule field;
    field.name = std::move(name);
    field.pointer = std::move(pointer);
    rule.fields = {field};
    return rule;
}

follow_rule follow_css(std::string css, std::vector<std::string> allow = {},
                       unsigned max_depth = 0) {
    follow_rule rule;
    rule.css = std::move(css);
    rule.allow = std::move(allow);
    rule.max_depth = max_depth;
    return rule;
}

std::vector<std::string> keys_of(const item& value) {
    std::vector<std::string> keys;
    for (const auto& entry : value) {
        keys.emplace_back(entry.key());
    }
    return keys;
}

std::string read_data(const std::string& relative) {
    std::ifstream in(std::string(HARVEST_TEST_DATA_DIR) + "/" + relative, std::ios::binary);
    REQUIRE(in.good());
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

const extract_counts& counts(const extract_outcome& outcome, extract_type type) {
    return outcome.per_type[static_cast<std::size_t>(type)];
}

// Two products in JSON-LD (one in an @graph), plus a non-product object.
constexpr std::string_view two_products_page = R"(<!DOCTYPE html>
<html><head>
<script type="application/ld+json">
{"@context": "https://schema.org", "@type": "WebSite", "name": "Shop"}
</script>
<script type="application/ld+json">
{"@context": "https://schema.org", "@graph": [
  {"@type": "Product", "sku": "A1", "name": "Anvil", "brand": {"@type": "Brand", "name": "ACME"},
   "offers": {"@type": "Offer", "price": "1,299.99", "priceCurrency": "USD",
              "availability": "https://schema.org/InStock"},
   "aggregateRating": {"ratingValue": 4.5, "reviewCount": 12}, "image": ["a.jpg", "b.jpg"]},
  {"@type": "Product", "name": "No id, no price"}
]}
</script>
</head><body><h1 id="title">  Anvil
  deluxe </h1><span class="price">1.299,99 €</span>
<a class="product-link" href="/p/2.html#reviews">two</a>
<a class="product-link" href="p/3.html">three</a>
<a class="product-link" href="/p/2.html">two again</a>
<a class="other" href="/help.html">help</a>
<a rel="next" href="/catalog/page-2.html">next</a>
<a class="product-link" href="mailto:x@example.com">mail</a>
</body></html>
)";

}  // namespace

TEST_CASE("extract jsonld schema Product: one item per product, items.md field order",
          "[unit][extract_set]") {
    const extractor_set set({structured_rule(extract_type::jsonld, "/p/")});
    std::vector<item> items;
    const auto outcome =
        set.extract(html_page("http://127.0.0.1/p/1.html", two_products_page), items);
    CHECK(outcome.emitted == 2);
    CHECK(outcome.error == 0);
    CHECK(counts(outcome, extract_type::jsonld).emitted == 2);
    CHECK(counts(outcome, extract_type::json).emitted == 0);
    REQUIRE(items.size() == 2);
    CHECK(keys_of(items[0]) ==
          std::vector<std::string>{"url", "fetched_at", "status", "id", "name", "brand", "price",
                                   "currency", "availability", "rating", "review_count", "image"});
    CHECK(items[0].at("url") == "http://127.0.0.1/p/1.html");
    CHECK(items[0].at("fetched_at") == "1970-01-01T00:00:00.000Z");
    CHECK(items[0].at("status") == 200);
    CHECK(items[0].at("id") == "A1");
    CHECK(items[0].at("name") == "Anvil");
    CHECK(items[0].at("brand") == "ACME");
    CHECK(items[0].at("price").to_number<double>() == Approx(1299.99));
    CHECK(items[0].at("currency") == "USD");
    CHECK(items[0].at("availability") == "in_stock");
    CHECK(items[0].at("rating").to_number<double>() == Approx(4.5));
    CHECK(items[0].at("review_count") == 12);
    CHECK(items[0].at("image") == "http://127.0.0.1/p/a.jpg");  // "a.jpg" on the page
    CHECK(items[1].at("name") == "No id, no price");
    CHECK(items[1].at("id").is_null());
}

TEST_CASE("extract jsonld and microdata: a relative image resolves against the page's <base href>",
          "[unit][extract_set]") {
    const std::string page = R"(<html><head><!-- <base href="/wrong/"> -->
<base href="/static/shop/"><title>t</title>
<script type="application/ld+json">{"@type":"Product","name":"Pen",
  "image":"../media/pen.jpg"}</script></head>
<body><div itemscope itemtype="https://schema.org/Product"><span itemprop="name">Pen</span>
<img itemprop="image" src="media/pen-2.jpg"></div>
<script type="application/ld+json">{"@type":"Product","name":"Cap",
  "image":"https://cdn.test/cap.jpg"}</script></body></html>)";
    const extractor_set set({structured_rule(extract_type::jsonld, "/p/"),
                             structured_rule(extract_type::microdata, "/p/")});
    std::vector<item> items;
    set.extract(html_page("http://127.0.0.1/p/1.html", page), items);
    REQUIRE(items.size() == 3);
    CHECK(items[0].at("image") == "http://127.0.0.1/static/media/pen.jpg");
    CHECK(items[1].at("image") == "https://cdn.test/cap.jpg");
    CHECK(items[2].at("image") == "http://127.0.0.1/static/shop/media/pen-2.jpg");
}

TEST_CASE("extract jsonld: required drops the products missing a field", "[unit][extract_set]") {
    const extractor_set set(
        {structured_rule(extract_type::jsonld, "/p/", "Product", {"id", "price"})});
    std::vector<item> items;
    const auto outcome =
        set.extract(html_page("http://127.0.0.1/p/1.html", two_products_page), items);
    CHECK(outcome.emitted == 1);
    CHECK(outcome.invalid == 1);
    CHECK(counts(outcome, extract_type::jsonld).invalid == 1);
    REQUIRE(items.size() == 1);
    CHECK(items[0].at("id") == "A1");
}

TEST_CASE("extract jsonld without schema: one item per page with the raw list",
          "[unit][extract_set]") {
    const extractor_set set({structured_rule(extract_type::jsonld, "/raw/", "")});
    std::vector<item> items;
    auto outcome = set.extract(html_page("http://127.0.0.1/raw/1", two_products_page), items);
    CHECK(outcome.emitted == 1);
    REQUIRE(items.size() == 1);
    CHECK(keys_of(items[0]) == std::vector<std::string>{"url", "fetched_at", "status", "jsonld"});
    const auto& list = items[0].at("jsonld").as_array();
    REQUIRE(list.size() == 2);
    CHECK(list[0].as_object().at("@type") == "WebSite");
    CHECK(list[1].as_object().contains("@graph"));

    // A page without JSON-LD still gives its item, with an empty list...
    items.clear();
    outcome = set.extract(html_page("http://127.0.0.1/raw/2", "<html><p>none</p></html>"), items);
    CHECK(outcome.emitted == 1);
    REQUIRE(items.size() == 1);
    CHECK(items[0].at("jsonld").as_array().empty());

    // ...unless the list is required: an empty list counts as missing.
    const extractor_set strict({structured_rule(extract_type::jsonld, "/raw/", "", {"jsonld"})});
    items.clear();
    outcome =
        strict.extract(html_page("http://127.0.0.1/raw/2", "<html><p>none</p></html>"), items);
    CHECK(outcome.emitted == 0);
    CHECK(outcome.invalid == 1);
    CHECK(items.empty());
}

TEST_CASE("extract microdata schema Product (structured_data corpus page)", "[unit][extract_set]") {
    const std::string page = read_data("structured_data/pages/misc__product_microdata.html");
    const extractor_set set(
        {structured_rule(extract_type::microdata, "/p/", "Product", {"id", "price"})});
    std::vector<item> items;
    const auto outcome = set.extract(html_page("http://127.0.0.1/p/anvil.html", page), items);
    CHECK(outcome.emitted == 1);
    CHECK(counts(outcome, extract_type::microdata).emitted == 1);
    REQUIRE(items.size() == 1);
    const item& product = items[0];
    CHECK(keys_of(product) == std::vector<std::string>{"url", "fetched_at", "status", "id", "name",
                                                       "brand", "price", "currency", "availability",
                                                       "rating", "review_count", "image"});
    CHECK(product.at("id") == "925872");  // mpn: no sku, productID or gtin
    CHECK(product.at("name") == "Executive Anvil");
    CHECK(product.at("brand") == "ACME");
    CHECK(product.at("price").to_number<double>() == Approx(119.99));
    CHECK(product.at("currency") == "USD");
    CHECK(product.at("availability") == "in_stock");
    CHECK(product.at("rating").to_number<double>() == Approx(4.4));
    CHECK(product.at("review_count") == 89);
    // Resolved against the page URL, as microdata URL values are.
    CHECK(product.at("image") == "http://127.0.0.1/p/anvil_executive.jpg");

    // Without a schema: the raw items.
    const extractor_set raw({structured_rule(extract_type::microdata, "/p/", "")});
    items.clear();
    CHECK(raw.extract(html_page("http://127.0.0.1/p/anvil.html", page), items).emitted == 1);
    REQUIRE(items.size() == 1);
    REQUIRE(items[0].at("microdata").as_array().size() == 1);
    CHECK(items[0].at("microdata").as_array()[0].as_object().at("type") ==
          "http://schema.org/Product");
}

TEST_CASE("extract html fields: css and xpath, text and attribute, as price",
          "[unit][extract_set]") {
    const extractor_set set({html_rule(
        "/p/",
        {css_field("title", "h1#title"), css_field("price", "span.price", value_kind::price),
         xpath_field("next", "//a[@rel='next']", "href"),
         xpath_field("missing", "//div[@id='nope']")},
        {"title", "price"})});
    std::vector<item> items;
    const auto outcome =
        set.extract(html_page("http://127.0.0.1/p/1.html", two_products_page), items);
    CHECK(outcome.emitted == 1);
    CHECK(counts(outcome, extract_type::html).emitted == 1);
    REQUIRE(items.size() == 1);
    CHECK(keys_of(items[0]) == std::vector<std::string>{"url", "fetched_at", "status", "title",
                                                        "price", "next", "missing", "currency"});
    CHECK(items[0].at("title") == "Anvil deluxe");
    CHECK(items[0].at("price").to_number<double>() == Approx(1299.99));
    CHECK(items[0].at("currency") == "EUR");
    CHECK(items[0].at("next") == "http://127.0.0.1/catalog/page-2.html");  // href: as: url
    CHECK(items[0].at("missing").is_null());

    // A page without the required price gives no item.
    items.clear();
    const auto dropped = set.extract(
        html_page("http://127.0.0.1/p/2.html", "<html><h1 id=title>Only a title</h1></html>"),
        items);
    CHECK(dropped.emitted == 0);
    CHECK(dropped.invalid == 1);
    CHECK(counts(dropped, extract_type::html).invalid == 1);
    CHECK(items.empty());
}

TEST_CASE("extract: the first matching rule per type, types independent", "[unit][extract_set]") {
    const extractor_set set({
        html_rule("/p/", {css_field("first_html", "h1")}),
        structured_rule(extract_type::jsonld, "/p/1", "Product"),
        html_rule("/p/1", {css_field("second_html", "h1")}),  // shadowed by the first html rule
        structured_rule(extract_type::jsonld, "/p/", ""),     // only where the first misses
        json_rule("/api/", "a", "/a"),
    });
    std::vector<item> items;
    auto outcome = set.extract(html_page("http://127.0.0.1/p/1.html", two_products_page), items);
    // jsonld (2 products, the Product rule) + html (1 item, the first html rule).
    CHECK(outcome.emitted == 3);
    CHECK(counts(outcome, extract_type::jsonld).emitted == 2);
    CHECK(counts(outcome, extract_type::html).emitted == 1);
    REQUIRE(items.size() == 3);
    std::size_t html_items = 0;
    for (const auto& value : items) {
        CHECK_FALSE(value.contains("second_html"));
        CHECK_FALSE(value.contains("jsonld"));
        html_items += value.contains("first_html") ? 1 : 0;
    }
    CHECK(html_items == 1);

    items.clear();
    outcome = set.extract(html_page("http://127.0.0.1/p/22.html", two_products_page), items);
    CHECK(counts(outcome, extract_type::jsonld).emitted == 1);  // the raw rule: one per page
    CHECK(counts(outcome, extract_type::html).emitted == 1);
    REQUIRE(items.size() == 2);

    items.clear();
    outcome = set.extract(make_page("http://127.0.0.1/api/x", R"({"a": 7})"), items);
    CHECK(outcome.emitted == 1);
    CHECK(counts(outcome, extract_type::json).emitted == 1);
    REQUIRE(items.size() == 1);
    CHECK(items[0].at("a") == 7);
}

TEST_CASE("extract: structured and html rules read only HTML bodies", "[unit][extract_set]") {
    const extractor_set set({
        json_rule("/x/", "a", "/a"),
        structured_rule(extract_type::jsonld, "/x/"),
        structured_rule(extract_type::microdata, "/x/"),
        html_rule("/x/", {css_field("title", "h1")}),
    });
    std::vector<item> items;
    // JSON served as JSON: the json rule reads it, the others count an error each.
    auto outcome =
        set.extract(html_page("http://127.0.0.1/x/1", R"({"a": 1, "h": "<html><h1>t</h1></html>"})",
                              0, "application/json"),
                    items);
    CHECK(outcome.emitted == 1);
    CHECK(outcome.error == 3);
    CHECK(counts(outcome, extract_type::json).emitted == 1);
    CHECK(counts(outcome, extract_type::jsonld).error == 1);
    CHECK(counts(outcome, extract_type::microdata).error == 1);
    CHECK(counts(outcome, extract_type::html).error == 1);
    REQUIRE(items.size() == 1);

    // An HTML page: the json rule counts its error, the html rule emits.
    items.clear();
    outcome = set.extract(
        html_page("http://127.0.0.1/x/2", "<html><h1>t</h1></html>", 0, "Application/XHTML+XML"),
        items);
    CHECK(counts(outcome, extract_type::json).error == 1);
    CHECK(counts(outcome, extract_type::html).emitted == 1);
    CHECK(counts(outcome, extract_type::jsonld).error == 0);

    // No Content-Type: sniffed.
    items.clear();
    outcome =
        set.extract(html_page("http://127.0.0.1/x/3", "\n<!DOCTYPE HTML><h1>t</h1>", 0, ""), items);
    CHECK(counts(outcome, extract_type::html).emitted == 1);
    items.clear();
    outcome = set.extract(html_page("http://127.0.0.1/x/4", "<h1>t</h1> plain text", 0, ""), items);
    CHECK(counts(outcome, extract_type::html).error == 1);
    CHECK(items.empty());
}

TEST_CASE("looks_like_html", "[unit][extract_set]") {
    net::http_response response;
    response.headers = {{"content-type", " text/html ;charset=latin1"}};
    CHECK(looks_like_html(response));
    response.headers = {{"Content-Type", "text/plain"}};
    response.body = "<html></html>";
    CHECK_FALSE(looks_like_html(response));  // the header wins over the bytes
    response.headers.clear();
    CHECK(looks_like_html(response));
    response.body = std::string(2000, ' ') + "<html>";
    CHECK_FALSE(looks_like_html(response));  // only the first KiB is sniffed
    response.body.clear();
    CHECK_FALSE(looks_like_html(response));
}

TEST_CASE("follow: links resolved, filtered, deduplicated, fragments dropped",
          "[unit][extract_set]") {
    follow_rule next;
    next.xpath = "//a[@rel='next']/@href";
    const extractor_set set(
        {}, {follow_css("a.product-link", {"^/p/"}), next, follow_css("a.product-link")});
    std::vector<item> items;
    std::vector<std::string> links;
    const auto outcome =
        set.extract(html_page("http://127.0.0.1/p/1.html", two_products_page), items, links);
    CHECK(items.empty());
    CHECK(links == std::vector<std::string>{"http://127.0.0.1/p/2.html",
                                            "http://127.0.0.1/p/p/3.html",
                                            "http://127.0.0.1/catalog/page-2.html"});
    CHECK(outcome.links == 3);

    // Each link's rule: the first (1-based) that found it, with or without the tree.
    std::vector<std::string> again;
    std::vector<std::uint32_t> rules;
    set.extract(html_page("http://127.0.0.1/p/1.html", two_products_page), items, again, rules);
    CHECK(again == links);
    CHECK(rules == std::vector<std::uint32_t>{1, 1, 2});
    follow_rule xpath_product;
    xpath_product.xpath = "//a[@class='product-link']/@href";
    const extractor_set tree({}, {next, xpath_product});
    std::vector<std::string> tree_links;
    rules.clear();
    tree.extract(html_page("http://127.0.0.1/p/1.html", two_products_page), items, tree_links,
                 rules);
    REQUIRE(rules.size() == tree_links.size());
    CHECK(rules.front() == 1);
    CHECK(rules.back() == 2);
}

TEST_CASE("follow: a rule's max_depth against the page depth + 1", "[unit][extract_set]") {
    const extractor_set set(
        {}, {follow_css("a.product-link", {}, 2), follow_css("a[rel=next]", {}, 0)});
    const auto links_at = [&](unsigned depth) {
        std::vector<item> items;
        std::vector<std::string> links;
        set.extract(html_page("http://127.0.0.1/catalog/page-1.html", two_products_page, depth),
                    items, links);
        return links;
    };
    // Depth 0 and 1: product links (depth 1, 2 <= 2) and the next page.
    CHECK(links_at(0).size() == 3);
    CHECK(links_at(1).size() == 3);
    // Depth 2: product links would be depth 3 > 2; the unlimited rule still gives its link.
    CHECK(links_at(2) == std::vector<std::string>{"http://127.0.0.1/catalog/page-2.html"});

    const extractor_set limited({}, {follow_css("a", {}, 1)});
    std::vector<item> items;
    std::vector<std::string> links;
    limited.extract(html_page("http://127.0.0.1/", two_products_page, 1), items, links);
    CHECK(links.empty());
}

TEST_CASE("follow: no links from bodies that are not HTML", "[unit][extract_set]") {
    const extractor_set set({}, {follow_css("a")});
    std::vector<item> items;
    std::vector<std::string> links;
    set.extract(html_page("http://127.0.0.1/a.json", R"({"x": "<a href='/y'>y</a>"})", 0,
                          "application/json"),
                items, links);
    CHECK(links.empty());
    set.extract(html_page("http://127.0.0.1/a.html", "<html><a href='/y'>y</a></html>"), items,
                links);
    CHECK(links == std::vector<std::string>{"http://127.0.0.1/y"});
}

TEST_CASE("extractor_set rejects bad rules", "[unit][extract_set]") {
    CHECK_THROWS_AS(extractor_set({html_rule("/p/", {css_field("t", "h1[")})}),
                    std::invalid_argument);
    CHECK_THROWS_AS(extractor_set({html_rule("/p/", {xpath_field("t", "//h1[")})}),
                    std::invalid_argument);
    CHECK_THROWS_WITH(extractor_set({structured_rule(extract_type::microdata, "", "Recipe")}),
                      Catch::Contains("schema `Recipe`"));
    CHECK_THROWS_WITH(
        extractor_set({structured_rule(extract_type::jsonld, "", "Product", {"title"})}),
        Catch::Contains("required field `title`"));
    CHECK_THROWS_AS(extractor_set({structured_rule(extract_type::jsonld, "", "", {"id"})}),
                    std::invalid_argument);
    CHECK_NOTHROW(extractor_set({structured_rule(extract_type::jsonld, "", "", {"jsonld"})}));
    CHECK_THROWS_AS(extractor_set({}, {follow_css("a:hover")}), std::invalid_argument);
    CHECK_THROWS_AS(extractor_set({}, {follow_css("a", {"([unclosed"})}), std::invalid_argument);
}

TEST_CASE("extractor_set with html and follow is safe from many threads", "[unit][extract_set]") {
    const extractor_set set(
        {html_rule("/p/", {css_field("title", "h1#title"),
                           css_field("price", "span.price", value_kind::price)}),
         structured_rule(extract_type::jsonld, "/p/")},
        {follow_css("a.product-link", {"^/p/"})});
    constexpr int threads = 4;
    constexpr int pages = 300;
    std::atomic<int> wrong{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&] {
            for (int i = 0; i < pages; ++i) {
                std::vector<item> items;
                std::vector<std::string> links;
                const auto outcome =
                    set.extract(html_page("http://127.0.0.1/p/" + std::to_string(i) + ".html",
                                          two_products_page),
                                items, links);
                if (outcome.emitted != 3 || links.size() != 2 || items.size() != 3 ||
                    items[2].at("title") != "Anvil deluxe") {
                    wrong.fetch_add(1);
                }
            }
        });
    }
    for (auto& worker : workers) {
        worker.join();
    }
    CHECK(wrong.load() == 0);
}

TEST_CASE("pipeline_sink returns the links and counts items per extract type",
          "[unit][extract_set][pipeline_sink]") {
    boost::asio::io_context io;
    pipeline_sink sink(
        io.get_executor(),
        {structured_rule(extract_type::jsonld, "/p/", "Product", {"id"}),
         html_rule("/p/", {css_field("title", "h1#title")}), json_rule("/api/", "a", "/a")},
        {follow_css("a.product-link", {"^/p/"})}, {});
    sink.open();
    std::vector<std::string> links;
    std::exception_ptr failure;
    bool done = false;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
            auto result =
                co_await sink.on_success(html_page("http://127.0.0.1/p/1.html", two_products_page));
            links = std::move(result.links);
            co_await sink.on_success(make_page("http://127.0.0.1/api/1", R"({"a":1})"));
            co_await sink.on_success(make_page("http://127.0.0.1/api/2", R"({"a":)"));
            co_await sink.close();
        },
        [&](std::exception_ptr error) {
            failure = error;
            done = true;
        });
    io.run_for(std::chrono::seconds(30));
    REQUIRE(done);
    if (failure) {
        std::rethrow_exception(failure);
    }
    CHECK(links ==
          std::vector<std::string>{"http://127.0.0.1/p/2.html", "http://127.0.0.1/p/p/3.html"});
    const pipeline_stats& stats = sink.stats();
    const auto& jsonld = stats.extractors[static_cast<std::size_t>(extract_type::jsonld)];
    const auto& html = stats.extractors[static_cast<std::size_t>(extract_type::html)];
    const auto& json_counts = stats.extractors[static_cast<std::size_t>(extract_type::json)];
    CHECK(jsonld.emitted.load() == 1);
    CHECK(jsonld.invalid.load() == 1);
    CHECK(html.emitted.load() == 1);
    CHECK(json_counts.emitted.load() == 1);
    CHECK(json_counts.error.load() == 1);
    CHECK(stats.items_emitted.load() == 3);
    CHECK(stats.items_invalid.load() == 1);
    CHECK(stats.items_error.load() == 1);
    CHECK(stats.links_found.load() == 2);
}

TEST_CASE("extract: html URL attributes come back absolute, with or without the tree",
          "[unit][extract_set]") {
    field_rule css_src;
    css_src.name = "image";
    css_src.css = "img.main";  // simple css: the tree-less path
    css_src.attribute = "src";
    const auto xpath_href = xpath_field("next", "//a[@rel='next']", "href");  // the libxml2 path
    const extractor_set set({html_rule("/p/", {css_src, xpath_href})});
    const std::string page =
        "<html><head><base href='/catalogue/'></head><body>"
        "<img class=main src='media/1.jpg'><a rel=next href='p/2.html'>next</a></body></html>";
    std::vector<item> items;
    const auto outcome = set.extract(html_page("http://127.0.0.1:8080/p/1.html", page), items);
    CHECK(counts(outcome, extract_type::html).emitted == 1);
    REQUIRE(items.size() == 1);
    CHECK(items[0].at("image") == "http://127.0.0.1:8080/catalogue/media/1.jpg");
    CHECK(items[0].at("next") == "http://127.0.0.1:8080/catalogue/p/2.html");
}

namespace {

extract_rule product_rule(std::vector<extract_type> sources, std::vector<field_rule> fields,
                          std::vector<std::string> required = {}) {
    extract_rule rule;
    rule.type = extract_type::product;
    rule.match = "/p/";
    rule.sources = std::move(sources);
    rule.fields = std::move(fields);
    rule.required = std::move(required);
    return rule;
}

// A page with each source giving part of the product: JSON-LD without an image or rating,
// microdata with a rating and another price, the HTML with the SKU table and the stock count.
const std::string mixed_product_page = R"(<html><head>
<script type="application/ld+json">{"@type":"Product","name":"Tea pot","sku":"TP-1",
 "offers":{"@type":"Offer","price":"24.00","priceCurrency":"EUR","availability":"InStock"}}
</script></head><body>
<div itemscope itemtype="https://schema.org/Product"><h1 itemprop="name">Tea Pot (1 l)</h1>
<img itemprop="image" src="/img/tp.jpg">
<div itemprop="aggregateRating" itemscope itemtype="https://schema.org/AggregateRating">
 <span itemprop="ratingValue">4.5</span> (<span itemprop="reviewCount">8</span>)</div>
<div itemprop="offers" itemscope itemtype="https://schema.org/Offer">
 <span itemprop="price" content="19.00">$19</span><meta itemprop="priceCurrency" content="USD">
</div></div>
<table><tr><th>UPC</th><td>a8e2f7</td></tr></table><p class=stock>In stock (7 available)</p>
<p class=price>£21.00</p></body></html>)";

}  // namespace

TEST_CASE(
    "extract product: one item per page, the first non-null value per field in the "
    "sources' order",
    "[unit][extract_set]") {
    auto stock = css_field("stock", "p.stock", value_kind::integer);
    stock.pattern = make_field_pattern(R"(\((\d+) available\))");
    const std::vector<field_rule> fields = {css_field("upc", "table td"), stock,
                                            css_field("price", "p.price", value_kind::price)};
    SECTION("jsonld first: its price and currency, microdata fills image and rating") {
        const extractor_set set({product_rule(
            {extract_type::jsonld, extract_type::microdata, extract_type::html}, fields)});
        std::vector<item> items;
        const auto outcome =
            set.extract(html_page("http://127.0.0.1/p/tea.html", mixed_product_page), items);
        REQUIRE(items.size() == 1);
        CHECK(outcome.emitted == 1);
        CHECK(counts(outcome, extract_type::product).emitted == 1);
        CHECK(keys_of(items[0]) ==
              std::vector<std::string>{"url", "fetched_at", "status", "id", "name", "brand",
                                       "price", "currency", "availability", "rating",
                                       "review_count", "image", "upc", "stock"});
        CHECK(items[0].at("id") == "TP-1");
        CHECK(items[0].at("name") == "Tea pot");
        CHECK(items[0].at("brand").is_null());
        CHECK(items[0].at("price") == 24.0);
        CHECK(items[0].at("currency") == "EUR");
        CHECK(items[0].at("availability") == "in_stock");
        CHECK(items[0].at("rating") == 4.5);
        CHECK(items[0].at("review_count") == 8);
        CHECK(items[0].at("image") == "http://127.0.0.1/img/tp.jpg");
        CHECK(items[0].at("upc") == "a8e2f7");
        CHECK(items[0].at("stock") == 7);
    }
    SECTION("html first: its price and the currency of that price, then the others") {
        const extractor_set set({product_rule(
            {extract_type::html, extract_type::microdata, extract_type::jsonld}, fields)});
        std::vector<item> items;
        set.extract(html_page("http://127.0.0.1/p/tea.html", mixed_product_page), items);
        REQUIRE(items.size() == 1);
        CHECK(items[0].at("price") == 21.0);
        CHECK(items[0].at("currency") == "GBP");
        CHECK(items[0].at("name") == "Tea Pot (1 l)");  // microdata before jsonld now
        CHECK(items[0].at("id") == "TP-1");             // only jsonld has one
    }
    SECTION("a page without product data gives no item; required drops an incomplete one") {
        const extractor_set set({product_rule(
            {extract_type::jsonld, extract_type::microdata, extract_type::html}, {}, {"price"})});
        std::vector<item> items;
        auto outcome = set.extract(
            html_page("http://127.0.0.1/p/none.html", "<html><body><p>Nothing</p></body></html>"),
            items);
        CHECK(items.empty());
        CHECK(outcome.emitted == 0);
        CHECK(outcome.invalid == 0);
        outcome = set.extract(html_page("http://127.0.0.1/p/n.html",
                                        R"(<script type="application/ld+json">
                                        {"@type":"Product","name":"No price"}</script>)"),
                              items);
        CHECK(items.empty());
        CHECK(outcome.invalid == 1);
    }
    CHECK_THROWS_AS(extractor_set({product_rule({extract_type::jsonld}, {}, {"upc"})}),
                    std::invalid_argument);
}
