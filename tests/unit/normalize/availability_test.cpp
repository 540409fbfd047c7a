#include "pipelines/normalize/availability.hpp"

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace {

using harvest::pipelines::normalize_availability;

struct availability_case {
    std::string_view text;
    std::optional<std::string_view> expected;
};

void check_table(std::initializer_list<availability_case> cases) {
    for (const availability_case& c : cases) {
        INFO("text: '" << c.text << "'");
        CHECK(normalize_availability(c.text) == c.expected);
    }
}

}  // namespace

TEST_CASE("availability: schema.org names and URLs", "[unit][normalize][availability]") {
    check_table({
        {"https://schema.org/InStock", "in_stock"},
        {"http://schema.org/InStock", "in_stock"},
        {"HTTPS://SCHEMA.ORG/INSTOCK", "in_stock"},
        {"https://www.schema.org/InStock/", "in_stock"},
        {"schema.org/OutOfStock", "out_of_stock"},
        {"schema:OutOfStock", "out_of_stock"},
        {"InStock", "in_stock"},
        {"instock", "in_stock"},
        {" http://schema.org/PreOrder ", "preorder"},
        {"https://schema.org/PreSale", "preorder"},
        {"https://schema.org/BackOrder", "backorder"},
        {"https://schema.org/Discontinued", "discontinued"},
        {"https://schema.org/LimitedAvailability", "limited"},
        {"https://schema.org/OnlineOnly", "online_only"},
        {"https://schema.org/SoldOut", "sold_out"},
        {"https://schema.org/InStoreOnly", "in_store_only"},
        {"https://schema.org/MadeToOrder", "backorder"},  // orderable now, ships later
        {"https://schema.org/Reserved", "out_of_stock"},  // cannot be bought now
        {"https://schema.org/Unknown", std::nullopt},
        {"https://schema.org/", std::nullopt},
    });
}

TEST_CASE("availability: items.md values are kept", "[unit][normalize][availability]") {
    for (const std::string_view value :
         {"in_stock", "out_of_stock", "preorder", "backorder", "discontinued", "limited",
          "online_only", "sold_out", "in_store_only"}) {
        INFO(value);
        CHECK(normalize_availability(value) == value);
        CHECK(normalize_availability(*normalize_availability(value)) == value);
    }
}

TEST_CASE("availability: shop phrases", "[unit][normalize][availability]") {
    check_table({
        {"In stock", "in_stock"},
        {"IN STOCK - ships today", "in_stock"},
        {"Available", "in_stock"},
        {"Available now", "in_stock"},
        {"Only 3 left", "limited"},
        {"Only 3 left in stock!", "limited"},
        {"2 left in stock", "limited"},
        {"Low stock", "limited"},
        {"Out of stock", "out_of_stock"},
        {"Currently out-of-stock", "out_of_stock"},
        {"Unavailable", "out_of_stock"},
        {"Currently unavailable.", "out_of_stock"},
        {"Not available", "out_of_stock"},
        {"Sold out", "sold_out"},
        {"SOLD OUT", "sold_out"},
        {"Pre-order", "preorder"},
        {"Available for pre-order", "preorder"},
        {"Preorder now", "preorder"},
        {"Backorder", "backorder"},
        {"Available on back-order", "backorder"},
        {"Discontinued", "discontinued"},
        {"No longer available", "discontinued"},
        {"Online only", "online_only"},
        {"In-store only", "in_store_only"},
        {"Available in store only", "in_store_only"},
    });
}

TEST_CASE("availability: unknown text is nullopt", "[unit][normalize][availability]") {
    check_table({
        {"", std::nullopt},
        {"   ", std::nullopt},
        {"Ships in 2-3 days", std::nullopt},
        {"instockings", std::nullopt},  // whole words only
        {"stock", std::nullopt},
        {"https://example.com/", std::nullopt},
        {"\xFF\xFE garbage", std::nullopt},
    });
    const std::string long_text(10240, 'a');
    CHECK(normalize_availability(long_text) == std::nullopt);
    CHECK(normalize_availability(long_text + " in stock") == "in_stock");
}

TEST_CASE("availability: the phrases of shops in other languages, negations first",
          "[unit][normalize][availability]") {
    check_table({
        {"En stock", "in_stock"},
        {"En rupture de stock", "out_of_stock"},
        {"Indisponible", "out_of_stock"},
        {"Épuisée", std::nullopt},  // a capital É is not folded: written as shops write it
        {"Article épuisé", "sold_out"},
        {"Auf Lager", "in_stock"},
        {"Nicht auf Lager", "out_of_stock"},
        {"Sofort lieferbar", "in_stock"},
        {"Derzeit nicht lieferbar", "out_of_stock"},
        {"Ausverkauft", "sold_out"},
        {"Disponible", "in_stock"},
        {"No disponible", "out_of_stock"},
        {"Agotado", "sold_out"},
        {"Disponibile", "in_stock"},
        {"Non disponibile", "out_of_stock"},
        {"Em estoque", "in_stock"},
        {"Indisponível", "out_of_stock"},
        {"Op voorraad", "in_stock"},
        {"Niet op voorraad", "out_of_stock"},
        {"På lager", "in_stock"},
        {"Ikke på lager", "out_of_stock"},
        {"Précommande", "preorder"},
        {"En précommande", "preorder"},
    });
}
