// schema.org Product normalization (items.md product fields), one case per rule.

#include "pipelines/structured/product.hpp"
#include "pipelines/structured/jsonld.hpp"
#include "pipelines/structured/microdata.hpp"
#include "structured_test_data.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

namespace hp = harvest::pipelines;
namespace json = boost::json;

namespace {

std::vector<json::object> products(std::string_view jsonld_text) {
    return hp::products_from_jsonld({json::parse(jsonld_text)});
}

json::object one_product(std::string_view jsonld_text) {
    auto found = products(jsonld_text);
    REQUIRE(found.size() == 1);
    return found.front();
}

}  // namespace

TEST_CASE("product: all fields in items.md order, missing ones null", "[unit]") {
    const json::object p = one_product(R"({"@type":"Product","name":"Anvil"})");
    std::vector<std::string> keys;
    for (const auto& entry : p) {
        keys.emplace_back(entry.key());
    }
    CHECK(keys == std::vector<std::string>{"id", "name", "brand", "price", "currency",
                                           "availability", "rating", "review_count", "image"});
    CHECK(p.at("name") == "Anvil");
    for (const char* key :
         {"id", "brand", "price", "currency", "availability", "rating", "review_count", "image"}) {
        CHECK(p.at(key).is_null());
    }
}

TEST_CASE("product: a full Offer", "[unit]") {
    const json::object p = one_product(R"({
        "@context":"https://schema.org","@type":"Product","sku":"A-1","name":" Anvil ",
        "brand":{"@type":"Brand","name":"ACME"},
        "offers":{"@type":"Offer","price":119.99,"priceCurrency":"USD",
                  "availability":"https://schema.org/InStock"},
        "aggregateRating":{"@type":"AggregateRating","ratingValue":4.4,"reviewCount":89},
        "image":"https://x/a.jpg"})");
    CHECK(json::value(p) == json::parse(R"({"id":"A-1","name":"Anvil","brand":"ACME",
        "price":119.99,"currency":"USD","availability":"in_stock","rating":4.4,
        "review_count":89,"image":"https://x/a.jpg"})"));
}

TEST_CASE("product: the first of a list of Offers when none is in stock", "[unit]") {
    const json::object p = one_product(R"({"@type":"Product","offers":[
        {"@type":"Offer","price":"10.00","priceCurrency":"EUR","availability":"OutOfStock"},
        {"@type":"Offer","price":"12.00","priceCurrency":"GBP"}]})");
    CHECK(p.at("price") == 10.0);
    CHECK(p.at("currency") == "EUR");
    CHECK(p.at("availability") == "out_of_stock");
    // An offer without a price is passed over for one with a price.
    const json::object q = one_product(R"({"@type":"Product","offers":[
        {"@type":"Offer","availability":"InStock"},
        {"@type":"Offer","price":"12.00","priceCurrency":"GBP"}]})");
    CHECK(q.at("price") == 12.0);
    CHECK(q.at("currency") == "GBP");
    CHECK(q.at("availability") == nullptr);
}

TEST_CASE("product: of several offers, the lowest in-stock price in one currency", "[unit]") {
    const json::object p = one_product(R"({"@type":"Product","offers":[
        {"@type":"Offer","price":"9.00","priceCurrency":"EUR","availability":"OutOfStock"},
        {"@type":"Offer","price":"14.00","priceCurrency":"EUR","availability":"InStock"},
        {"@type":"Offer","price":"3.00","priceCurrency":"USD","availability":"InStock"},
        {"@type":"Offer","price":"11.50","priceCurrency":"EUR",
         "availability":"https://schema.org/InStock"}]})");
    CHECK(p.at("price") == 11.5);
    CHECK(p.at("currency") == "EUR");
    CHECK(p.at("availability") == "in_stock");
}

TEST_CASE("product: priceSpecification, the price to pay rather than the list price", "[unit]") {
    const json::object p = one_product(R"({"@type":"Product","offers":{"@type":"Offer",
        "availability":"InStock","priceSpecification":[
          {"@type":"UnitPriceSpecification","priceType":"https://schema.org/ListPrice",
           "price":"29.99","priceCurrency":"EUR"},
          {"@type":"UnitPriceSpecification","price":"24.99","priceCurrency":"EUR"}]}})");
    CHECK(p.at("price") == 24.99);
    CHECK(p.at("currency") == "EUR");
    CHECK(p.at("availability") == "in_stock");
    // Only a list price: taken, as the only price there is; the offer's currency wins.
    const json::object q = one_product(R"({"@type":"Product","offers":{"@type":"Offer",
        "priceCurrency":"CHF","priceSpecification":{"@type":"PriceSpecification",
        "priceType":"ListPrice","price":"5","priceCurrency":"EUR"}}})");
    CHECK(q.at("price") == 5.0);
    CHECK(q.at("currency") == "CHF");
    // minPrice when a specification gives a range.
    const json::object r = one_product(R"({"@type":"Product","offers":{"@type":"Offer",
        "priceSpecification":{"minPrice":"7.25","maxPrice":"9","priceCurrency":"USD"}}})");
    CHECK(r.at("price") == 7.25);
    CHECK(r.at("currency") == "USD");
}

TEST_CASE("product: an AggregateOffer without lowPrice is read through its offers", "[unit]") {
    const json::object p = one_product(R"({"@type":"Product","offers":{"@type":"AggregateOffer",
        "offerCount":2,"offers":[
          {"@type":"Offer","price":"20","priceCurrency":"GBP","availability":"InStock"},
          {"@type":"Offer","price":"18","priceCurrency":"GBP","availability":"InStock"}]}})");
    CHECK(p.at("price") == 18.0);
    CHECK(p.at("currency") == "GBP");
    CHECK(p.at("availability") == "in_stock");
}

TEST_CASE("product: @id references within the page's graph are followed", "[unit]") {
    const std::string html = R"(<html><head>
<script type="application/ld+json">{"@context":"https://schema.org","@graph":[
  {"@type":"Organization","@id":"https://shop.test/#org","name":"Papier & Co"},
  {"@type":"Product","@id":"https://shop.test/p/1#product","name":"Notebook","sku":"NB-1",
   "brand":{"@id":"https://shop.test/#org"},
   "image":{"@id":"https://shop.test/p/1#image"},
   "offers":[{"@id":"https://shop.test/p/1#offer"}],
   "aggregateRating":{"@id":"#rating"}},
  {"@type":"ImageObject","@id":"https://shop.test/p/1#image",
   "contentUrl":"https://shop.test/media/nb.jpg"}
]}</script>
<script type="application/ld+json">[
  {"@type":"Offer","@id":"https://shop.test/p/1#offer","availability":"InStock",
   "priceSpecification":{"@id":"#spec"}},
  {"@type":"UnitPriceSpecification","@id":"#spec","price":"4.50","priceCurrency":"EUR"},
  {"@type":"AggregateRating","@id":"#rating","ratingValue":"4.5","reviewCount":"12"}
]</script></head><body></body></html>)";
    for (const auto scope : {hp::jsonld_scope::all, hp::jsonld_scope::products}) {
        const auto found = hp::products_from_jsonld(hp::find_jsonld(html, scope));
        REQUIRE(found.size() == 1);
        CHECK(json::value(found.front()) == json::parse(R"({"id":"NB-1","name":"Notebook",
            "brand":"Papier & Co","price":4.5,"currency":"EUR","availability":"in_stock",
            "rating":4.5,"review_count":12,"image":"https://shop.test/media/nb.jpg"})"));
    }
}

TEST_CASE("product: reference cycles and unknown @ids end unresolved", "[unit]") {
    const auto found = hp::products_from_jsonld({json::parse(R"([
        {"@type":"Product","name":"Loop","offers":{"@id":"#a"},"image":{"@id":"#nowhere"},
         "brand":{"@id":"#b"}},
        {"@type":"Offer","@id":"#a","priceSpecification":{"@id":"#a"},"offers":{"@id":"#a"}},
        {"@id":"#b","brand":{"@id":"#b"}}])")});
    REQUIRE(found.size() == 1);
    CHECK(found.front().at("name") == "Loop");
    CHECK(found.front().at("price") == nullptr);
    CHECK(found.front().at("image") == nullptr);
    CHECK(found.front().at("brand") == nullptr);
}

TEST_CASE("product: AggregateOffer lowPrice when there is no price", "[unit]") {
    const json::object p = one_product(R"({"@type":"Product","offers":
        {"@type":"AggregateOffer","lowPrice":"5.5","highPrice":"9","priceCurrency":"USD"}})");
    CHECK(p.at("price") == 5.5);
    CHECK(p.at("currency") == "USD");
    const json::object q = one_product(R"({"@type":"Product","offers":
        {"@type":"AggregateOffer","price":7,"lowPrice":5}})");
    CHECK(q.at("price") == 7.0);
}

TEST_CASE("product: string prices go through parse_price", "[unit]") {
    CHECK(one_product(R"({"@type":"Product","offers":{"price":"1,299.99"}})").at("price") ==
          1299.99);
    const json::object euro = one_product(R"({"@type":"Product","offers":{"price":"1.299,99 €"}})");
    CHECK(euro.at("price") == 1299.99);
    CHECK(euro.at("currency") == "EUR");  // no priceCurrency: the currency of the text
    const json::object both =
        one_product(R"({"@type":"Product","offers":{"price":"$12","priceCurrency":"CAD"}})");
    CHECK(both.at("price") == 12.0);
    CHECK(both.at("currency") == "CAD");  // priceCurrency wins
    CHECK(one_product(R"({"@type":"Product","offers":{"price":"call us"}})").at("price").is_null());
}

TEST_CASE("product: brand as a string or as an object's name", "[unit]") {
    CHECK(one_product(R"({"@type":"Product","brand":"ACME"})").at("brand") == "ACME");
    CHECK(one_product(R"({"@type":"Product","brand":{"@type":"Organization","name":"Org"}})")
              .at("brand") == "Org");
    CHECK(one_product(R"({"@type":"Product","brand":[{"@type":"Brand","name":"B1"},"B2"]})")
              .at("brand") == "B1");
    CHECK(one_product(R"({"@type":"Product","brand":{"@type":"Brand"}})").at("brand").is_null());
}

TEST_CASE("product: image as a list, a string or an ImageObject", "[unit]") {
    CHECK(one_product(R"({"@type":"Product","image":["a.jpg","b.jpg"]})").at("image") == "a.jpg");
    CHECK(one_product(R"({"@type":"Product","image":"s.jpg"})").at("image") == "s.jpg");
    CHECK(one_product(R"({"@type":"Product","image":{"@type":"ImageObject","url":"o.jpg"}})")
              .at("image") == "o.jpg");
    CHECK(one_product(R"({"@type":"Product","image":[{"@type":"ImageObject","url":"l.jpg"}]})")
              .at("image") == "l.jpg");
}

TEST_CASE("product: rating from strings, review_count falls back to ratingCount", "[unit]") {
    const json::object p = one_product(
        R"({"@type":"Product","aggregateRating":{"ratingValue":"4.5","ratingCount":"1,234"}})");
    CHECK(p.at("rating") == 4.5);
    CHECK(p.at("review_count") == 1234);
    CHECK(p.at("review_count").is_int64());
    const json::object q = one_product(
        R"({"@type":"Product","aggregateRating":{"ratingValue":3,"reviewCount":"7",
            "ratingCount":99}})");
    CHECK(q.at("rating") == 3.0);
    CHECK(q.at("review_count") == 7);
}

TEST_CASE("product: id is sku, else productID, else a GTIN, else mpn", "[unit]") {
    CHECK(one_product(R"({"@type":"Product","sku":"S","productID":"P","gtin13":"G","mpn":"M"})")
              .at("id") == "S");
    CHECK(one_product(R"({"@type":"Product","productID":"P","gtin13":"G","mpn":"M"})").at("id") ==
          "P");
    CHECK(one_product(R"({"@type":"Product","gtin13":4006381333931,"mpn":"M"})").at("id") ==
          "4006381333931");
    CHECK(one_product(R"({"@type":"Product","gtin12":"012345678905"})").at("id") == "012345678905");
    CHECK(one_product(R"({"@type":"Product","gtin14":"1"})").at("id") == "1");
    CHECK(one_product(R"({"@type":"Product","gtin8":"12345670"})").at("id") == "12345670");
    CHECK(one_product(R"({"@type":"Product","sku":"","mpn":925872})").at("id") == "925872");
}

TEST_CASE("product: found in @graph, arrays and nested values, any @type spelling", "[unit]") {
    const auto found = products(R"({"@context":"https://schema.org","@graph":[
        {"@type":"WebPage","name":"page"},
        {"@type":["schema:Product","Thing"],"name":"one"},
        {"@type":"ItemList","itemListElement":[{"@type":"ListItem",
            "item":{"@type":"http://schema.org/Product","name":"two"}}]},
        {"@type":"Offer","itemOffered":{"@type":"https://schema.org/Product","name":"three",
            "isRelatedTo":{"@type":"Product","name":"not separately"}}}]})");
    REQUIRE(found.size() == 3);
    CHECK(found[0].at("name") == "one");
    CHECK(found[1].at("name") == "two");
    CHECK(found[2].at("name") == "three");
    CHECK(products(R"({"@type":"Organization","name":"x"})").empty());
    CHECK(products(R"([1, "a", null, {"@type": 5}])").empty());
}

TEST_CASE("products_from_microdata normalizes microdata items the same way", "[unit]") {
    const std::string html =
        hp::test::read_file(hp::test::structured_data_dir() + "/pages/schema.org__product.html");
    for (const bool strict : {false, true}) {
        hp::microdata_options options;
        options.strict = strict;
        const auto found = hp::products_from_microdata(hp::find_microdata(html, "", options));
        REQUIRE(found.size() == 1);
        CHECK(json::value(found[0]) == json::parse(R"({"id":"925872","name":"Executive Anvil",
            "brand":"ACME","price":119.99,"currency":"USD","availability":"in_stock",
            "rating":4.4,"review_count":89,"image":"anvil_executive.jpg"})"));
    }
    hp::microdata_options flat;
    flat.nested = false;
    const auto from_flat = hp::products_from_microdata(hp::find_microdata(html, "", flat));
    REQUIRE(from_flat.size() == 1);
    CHECK(from_flat[0].at("price") == 119.99);
    const auto from_uniform =
        hp::products_from_microdata(hp::microdata_to_uniform(hp::find_microdata(html, "")));
    REQUIRE(from_uniform.size() == 1);
    CHECK(from_uniform[0].at("rating") == 4.4);
}

TEST_CASE("products from the corpus JSON-LD pages: none is invented", "[unit]") {
    // The corpus JSON-LD pages hold events, articles and actions, no Product.
    for (const char* page : {"songkick__tovestyrke.html", "songkick__jsonld_empty_item_test.html",
                             "songkick__elysianfields.html"}) {
        const std::string html =
            hp::test::read_file(hp::test::structured_data_dir() + "/pages/" + page);
        CHECK(hp::products_from_jsonld(hp::find_jsonld(html)).empty());
    }
}

namespace {

// Random JSON-LD around products: type spellings, duplicate keys, products inside reviews and
// offers, keys normalize_product reads and keys it does not.
void random_jsonld(std::mt19937& rng, int depth, std::string& out) {
    static const char* const keys[] = {"@type",
                                       "type",
                                       "name",
                                       "sku",
                                       "offers",
                                       "price",
                                       "priceCurrency",
                                       "availability",
                                       "review",
                                       "itemReviewed",
                                       "brand",
                                       "image",
                                       "aggregateRating",
                                       "ratingValue",
                                       "reviewCount",
                                       "@graph",
                                       "url",
                                       "gtin13",
                                       "mpn",
                                       "description",
                                       "lowPrice",
                                       "@id",
                                       "@id",
                                       "priceSpecification",
                                       "priceType",
                                       "minPrice",
                                       "contentUrl"};
    static const char* const types[] = {R"("Product")",
                                        R"("schema:Product")",
                                        R"("http://schema.org/Product")",
                                        R"(["Thing","Product"])",
                                        R"("Offer")",
                                        R"("Review")",
                                        R"("Brand")",
                                        R"("IndividualProduct")",
                                        "5",
                                        R"([])",
                                        R"("AggregateOffer")",
                                        R"("UnitPriceSpecification")",
                                        R"("ImageObject")"};
    static const char* const ids[] = {R"("#a")", R"("#b")", R"("#c")", "7"};
    static const char* const scalars[] = {R"("x")",
                                          R"(" 12.50 EUR ")",
                                          "3",
                                          "4.5",
                                          "null",
                                          "true",
                                          R"("")",
                                          R"("InStock")",
                                          "0",
                                          R"({"@id":"#a"})",
                                          R"({"@id":"#b"})",
                                          R"("https://schema.org/ListPrice")",
                                          "18446744073709551615",
                                          "-7",
                                          "2.5e3",
                                          R"(" \u00e9t\u00e9 ")"};
    const unsigned pick = rng() % 10;
    if (depth < 5 && pick < 4) {
        out += '{';
        const int n = 1 + static_cast<int>(rng() % 6);
        for (int i = 0; i < n; ++i) {
            const char* key = keys[rng() % std::size(keys)];
            out += i > 0 ? ",\"" : "\"";
            out += key;
            out += "\":";
            if (std::string_view(key) == "@type" || std::string_view(key) == "type") {
                out += types[rng() % std::size(types)];
            } else if (std::string_view(key) == "@id") {
                out += ids[rng() % std::size(ids)];
            } else {
                random_jsonld(rng, depth + 1, out);
            }
        }
        out += '}';
    } else if (depth < 5 && pick < 6) {
        out += '[';
        const int n = static_cast<int>(rng() % 3);
        for (int i = 0; i < n; ++i) {
            out += i > 0 ? "," : "";
            random_jsonld(rng, depth + 1, out);
        }
        out += ']';
    } else {
        out += scalars[rng() % std::size(scalars)];
    }
}

}  // namespace

TEST_CASE(
    "find_jsonld's products scope and jsonld_products find the same products as the whole values",
    "[unit]") {
    std::mt19937 rng(5);
    std::size_t with_products = 0;
    std::size_t read_in_place = 0;  // pages with products that jsonld_products read in place
    for (int i = 0; i < 5000; ++i) {
        std::string html = "<html><head><script type=\"application/ld+json\">";
        random_jsonld(rng, 0, html);
        html += "</script></head><body><script type='application/ld+json'>";
        random_jsonld(rng, 0, html);
        html += "</script></body></html>";
        CAPTURE(html);
        const auto whole = hp::products_from_jsonld(hp::find_jsonld(html));
        const auto scoped =
            hp::products_from_jsonld(hp::find_jsonld(html, hp::jsonld_scope::products));
        REQUIRE(scoped == whole);
        // Read in place from simdjson's document, when it can be, the same products again.
        const auto in_place = hp::detail::jsonld_products_in_place(html);
        if (in_place) {
            REQUIRE(*in_place == whole);
            read_in_place += whole.empty() ? 0 : 1;
        }
        REQUIRE(hp::jsonld_products(html) == whole);
        with_products += whole.empty() ? 0 : 1;
        // With an item's header, by either way: the header's fields, then the product's, in
        // that order.
        const boost::json::object header{{"url", "https://shop.test/p/1"},
                                         {"fetched_at", "2026-12-08T00:00:00.000Z"},
                                         {"status", 200}};
        const auto headed = hp::jsonld_products(html, header);
        REQUIRE(headed.size() == whole.size());
        for (std::size_t k = 0; k < whole.size(); ++k) {
            boost::json::object expected = header;
            for (const auto& field : whole[k]) {
                expected.emplace(field.key(), field.value());
            }
            REQUIRE(boost::json::serialize(headed[k]) == boost::json::serialize(expected));
        }
    }
    CHECK(with_products > 500);
    CHECK(read_in_place > 250);
    for (const char* page : {"songkick__tovestyrke.html", "schema.org__product.html",
                             "custom.invalid__JSONLD_with_JS_comment.html"}) {
        const std::string html =
            hp::test::read_file(hp::test::structured_data_dir() + "/pages/" + page);
        CHECK(hp::products_from_jsonld(hp::find_jsonld(html, hp::jsonld_scope::products)) ==
              hp::products_from_jsonld(hp::find_jsonld(html)));
        CHECK(hp::jsonld_products(html) == hp::products_from_jsonld(hp::find_jsonld(html)));
    }
}

TEST_CASE("is_product_field: the keys normalize_product reads, and no other", "[unit]") {
    for (const char* key :
         {"@type", "type", "sku", "productID", "gtin13", "gtin12", "gtin14", "gtin8", "mpn", "name",
          "brand", "offers", "aggregateRating", "image"}) {
        CAPTURE(key);
        CHECK(hp::is_product_field(key));
        // The same key one letter shorter, one longer, or in another case is another key.
        const std::string text(key);
        CHECK_FALSE(hp::is_product_field(text.substr(0, text.size() - 1)));
        CHECK_FALSE(hp::is_product_field(text + "s"));
        std::string upper = text;
        upper.front() = static_cast<char>(upper.front() == '@' ? '@' : upper.front() - 32);
        if (upper != text) {
            CHECK_FALSE(hp::is_product_field(upper));
        }
    }
    for (const char* key : {"", "@id", "@context", "review", "description", "gtin", "url"}) {
        CAPTURE(key);
        CHECK_FALSE(hp::is_product_field(key));
    }
}
