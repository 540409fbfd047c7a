#pragma once
// The rules of product.hpp (a schema.org Product to the normalized product fields), written once
// over a json_tree: product.cpp reads Boost.JSON values with them, jsonld.cpp reads simdjson's
// DOM in place. Internal to the structured-data extractors.
//
// Node references ({"@id": "#offer"}) are followed only on Boost.JSON values, where the page's
// node index is built; a dom_tree caller makes sure the product holds none (holds_reference).

#include "engine/core/text.hpp"
#include "pipelines/normalize/availability.hpp"
#include "pipelines/normalize/price.hpp"
#include "pipelines/structured/json_tree.hpp"

#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace harvest::pipelines::detail::product_rules {

inline std::string_view strip_schema_prefix(std::string_view type) noexcept {
    type = core::trim(type);
    for (std::string_view prefix : {"schema:", "http://schema.org/", "https://schema.org/",
                                    "http://www.schema.org/", "https://www.schema.org/"}) {
        if (type.starts_with(prefix)) {
            return type.substr(prefix.size());
        }
    }
    return type;
}

// An object's type value: its "@type", else its "type" (microdata items not yet converted).
template <class Tree>
typename Tree::node type_of(typename Tree::node object) noexcept {
    if (auto type = Tree::member(object, "@type")) {
        return type;
    }
    return Tree::member(object, "type");
}

template <class Tree>
bool has_type(typename Tree::node type, std::initializer_list<std::string_view> names) {
    const auto matches = [&](typename Tree::node t) {
        if (!Tree::is_string(t)) {
            return false;
        }
        const std::string_view bare = strip_schema_prefix(Tree::string(t));
        for (std::string_view name : names) {
            if (bare == name) {
                return true;
            }
        }
        return false;
    };
    if (Tree::is_array(type)) {
        bool found = false;
        Tree::each_element(type, [&](typename Tree::node t) { found = found || matches(t); });
        return found;
    }
    return matches(type);
}

template <class Tree>
bool is_product_node(typename Tree::node object) {
    return has_type<Tree>(type_of<Tree>(object),
                          {"Product", "IndividualProduct", "ProductModel", "SomeProducts"});
}

// --- @id references (Boost.JSON values only) ---------------------------------------------------

// The page's nodes by "@id" (within its JSON-LD graph: every block of the page), for the
// references a product's values make ({"@id": "#offer"}).
using node_index = std::unordered_map<std::string_view, const boost::json::value*>;

// A node object is a reference when it holds an "@id" and nothing else but a type.
inline bool is_reference(const boost::json::object& object) noexcept {
    const auto* id = object.if_contains("@id");
    if (id == nullptr || !id->is_string()) {
        return false;
    }
    for (const auto& entry : object) {
        if (entry.key() != "@id" && entry.key() != "@type") {
            return false;
        }
    }
    return true;
}

// A reference followed to the node it names (a chain at most a few links long: cycles end);
// anything else as it is.
template <class Tree>
typename Tree::node follow(typename Tree::node value, const node_index* index) {
    if constexpr (std::is_same_v<Tree, json_tree::boost_tree>) {
        constexpr int max_links = 4;
        for (int link = 0; link < max_links && index != nullptr && Tree::is_object(value) &&
                           is_reference(value.value->get_object());
             ++link) {
            const auto found =
                index->find(std::string_view(value.value->get_object().at("@id").get_string()));
            if (found == index->end()) {
                break;
            }
            value = {found->second};
        }
    }
    return value;
}

// The value itself, or the first element of a list; absent when absent or an empty list.
template <class Tree>
typename Tree::node single(typename Tree::node value) noexcept {
    return Tree::is_array(value) ? Tree::first(value) : value;
}

// One value of `key` (the first of a list), a reference followed.
template <class Tree>
typename Tree::node field(typename Tree::node object, std::string_view key,
                          const node_index* refs = nullptr) {
    return follow<Tree>(single<Tree>(Tree::member(object, key)), refs);
}

template <class Tree>
typename Tree::node object_field(typename Tree::node object, std::string_view key,
                                 const node_index* refs = nullptr) {
    const auto value = field<Tree>(object, key, refs);
    return Tree::is_object(value) ? value : typename Tree::node{};
}

// Every value of `key` (a list's elements, or the one value), references followed.
template <class Tree>
std::vector<typename Tree::node> all_values(typename Tree::node object, std::string_view key,
                                            const node_index* refs) {
    std::vector<typename Tree::node> out;
    const auto value = Tree::member(object, key);
    if (!value) {
        return out;
    }
    if (Tree::is_array(value)) {
        Tree::each_element(value, [&](typename Tree::node element) {
            out.push_back(follow<Tree>(element, refs));
        });
    } else {
        out.push_back(follow<Tree>(value, refs));
    }
    return out;
}

inline std::string render_double(double number) {
    if (std::isfinite(number) && number == std::floor(number) && std::fabs(number) < 1e18) {
        return std::to_string(static_cast<std::int64_t>(number));
    }
    char buffer[64];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, number);
    return std::string(buffer, result.ptr);
}

// A string (trimmed, non-empty) or a number rendered as text.
template <class Tree>
std::optional<std::string> text_of(typename Tree::node value) {
    if (Tree::is_string(value)) {
        const std::string_view text = core::trim(Tree::string(value));
        if (text.empty()) {
            return std::nullopt;
        }
        return std::string(text);
    }
    if (Tree::is_int64(value)) {
        return std::to_string(Tree::int64(value));
    }
    if (Tree::is_uint64(value)) {
        return std::to_string(Tree::uint64(value));
    }
    if (Tree::is_double(value)) {
        return render_double(Tree::number(value));
    }
    return std::nullopt;
}

template <class Tree>
std::optional<double> number_of(typename Tree::node value, std::string* currency_found = nullptr) {
    if (Tree::is_number(value)) {
        return Tree::number(value);
    }
    if (!Tree::is_string(value)) {
        return std::nullopt;
    }
    const std::string_view text = core::trim(Tree::string(value));
    double number = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (ec == std::errc{} && end == text.data() + text.size() && std::isfinite(number)) {
        return number;  // a plain number ("4.4"): no need for the price heuristics
    }
    parsed_price parsed = parse_price(text);
    if (currency_found != nullptr) {
        *currency_found = std::move(parsed.currency);
    }
    return parsed.amount;
}

template <class Tree>
std::optional<std::int64_t> integer_of(typename Tree::node value) {
    if (Tree::is_int64(value)) {
        return Tree::int64(value);
    }
    if (Tree::is_uint64(value)) {
        const std::uint64_t n = Tree::uint64(value);
        if (n > static_cast<std::uint64_t>(INT64_MAX)) {
            return std::nullopt;
        }
        return static_cast<std::int64_t>(n);
    }
    const std::optional<double> number = number_of<Tree>(value);
    if (!number || !std::isfinite(*number) || std::fabs(*number) >= 9e18) {
        return std::nullopt;
    }
    return static_cast<std::int64_t>(std::llround(*number));
}

inline boost::json::value optional_value(const std::optional<std::string>& text) {
    return text ? boost::json::value(*text) : boost::json::value(nullptr);
}

template <class Tree>
std::optional<std::string> product_id(typename Tree::node product) {
    for (std::string_view key :
         {"sku", "productID", "gtin13", "gtin12", "gtin14", "gtin8", "mpn"}) {
        if (auto id = text_of<Tree>(field<Tree>(product, key))) {
            return id;
        }
    }
    return std::nullopt;
}

template <class Tree>
std::optional<std::string> brand_of(typename Tree::node product, const node_index* refs) {
    const auto brand = field<Tree>(product, "brand", refs);
    if (Tree::is_object(brand)) {
        // A Brand or Organization; any object with a name is read the same way.
        return text_of<Tree>(field<Tree>(brand, "name", refs));
    }
    return text_of<Tree>(brand);
}

template <class Tree>
std::optional<std::string> image_of(typename Tree::node product, const node_index* refs) {
    const auto image = field<Tree>(product, "image", refs);
    if (Tree::is_object(image)) {
        if (auto url = text_of<Tree>(field<Tree>(image, "url", refs))) {
            return url;
        }
        return text_of<Tree>(field<Tree>(image, "contentUrl", refs));
    }
    return text_of<Tree>(image);
}

// --- offers ------------------------------------------------------------------------------------

// What one offer says: its price, currency and availability (each may be missing).
struct offer_terms {
    std::optional<double> price;
    std::string currency;  // empty: unknown
    std::optional<std::string_view> availability;
};

// A price specification's priceType naming a price that is not the one to pay (the list or
// strikethrough price beside the sale price).
template <class Tree>
bool is_reference_price(typename Tree::node type) {
    return has_type<Tree>(type, {"ListPrice", "StrikethroughPrice", "MSRP", "SRP", "InvoicePrice"});
}

// A price (else a minPrice, else a lowPrice) and the currency found in its text.
template <class Tree>
std::optional<double> price_in(typename Tree::node object, const node_index* refs,
                               std::string& currency_in_text) {
    for (std::string_view key : {"price", "minPrice", "lowPrice"}) {
        const auto value = field<Tree>(object, key, refs);
        if (value && !Tree::is_null(value)) {
            return number_of<Tree>(value, &currency_in_text);
        }
    }
    return std::nullopt;
}

template <class Tree>
offer_terms choose_offer(const std::vector<typename Tree::node>& offers, const node_index* refs,
                         int depth);

template <class Tree>
offer_terms terms_of(typename Tree::node offer, const node_index* refs, int depth) {
    using node = typename Tree::node;
    offer_terms terms;
    std::string currency_in_text;
    terms.price = price_in<Tree>(offer, refs, currency_in_text);
    if (auto code = text_of<Tree>(field<Tree>(offer, "priceCurrency", refs))) {
        terms.currency = std::move(*code);
    }
    if (!terms.price) {
        // priceSpecification (one, or a list such as a sale price beside its list price): the
        // first with a price that is not a list or strikethrough price, else the first with one.
        node chosen;
        node fallback;
        for (const node spec : all_values<Tree>(offer, "priceSpecification", refs)) {
            if (!Tree::is_object(spec)) {
                continue;
            }
            std::string ignored;
            if (!price_in<Tree>(spec, refs, ignored)) {
                continue;
            }
            if (!is_reference_price<Tree>(field<Tree>(spec, "priceType", refs))) {
                chosen = spec;
                break;
            }
            if (!fallback) {
                fallback = spec;
            }
        }
        if (!chosen) {
            chosen = fallback;
        }
        if (chosen) {
            terms.price = price_in<Tree>(chosen, refs, currency_in_text);
            if (auto code = text_of<Tree>(field<Tree>(chosen, "priceCurrency", refs));
                code && terms.currency.empty()) {
                terms.currency = std::move(*code);
            }
        }
    }
    if (auto text = text_of<Tree>(field<Tree>(offer, "availability", refs))) {
        terms.availability = normalize_availability(*text);
    }
    if (!terms.price && depth < 2) {
        // An AggregateOffer without lowPrice: its own offers.
        const offer_terms inner =
            choose_offer<Tree>(all_values<Tree>(offer, "offers", refs), refs, depth + 1);
        terms.price = inner.price;
        if (terms.currency.empty()) {
            terms.currency = inner.currency;
        }
        if (!terms.availability) {
            terms.availability = inner.availability;
        }
    }
    if (terms.currency.empty()) {
        terms.currency = std::move(currency_in_text);
    }
    return terms;
}

// Several offers: the lowest price among the in-stock ones (in the currency of the first of
// them), else the first offer with a price, else the first offer.
template <class Tree>
offer_terms choose_offer(const std::vector<typename Tree::node>& offers, const node_index* refs,
                         int depth) {
    std::optional<offer_terms> first;
    std::optional<offer_terms> first_priced;
    std::optional<offer_terms> cheapest_in_stock;
    for (const auto offer : offers) {
        if (!Tree::is_object(offer)) {
            continue;
        }
        offer_terms terms = terms_of<Tree>(offer, refs, depth);
        if (!first) {
            first = terms;
        }
        if (!terms.price) {
            continue;
        }
        if (!first_priced) {
            first_priced = terms;
        }
        if (terms.availability == std::optional<std::string_view>("in_stock") &&
            (!cheapest_in_stock || (terms.currency == cheapest_in_stock->currency &&
                                    *terms.price < *cheapest_in_stock->price))) {
            cheapest_in_stock = std::move(terms);
        }
    }
    if (cheapest_in_stock) {
        return *cheapest_in_stock;
    }
    if (first_priced) {
        return *first_priced;
    }
    return first.value_or(offer_terms{});
}

// One Product object to the normalized fields (product.hpp), after those `out` starts with (an
// item's header, say; none of the fields below).
template <class Tree>
boost::json::object normalize(typename Tree::node product, const node_index* refs,
                              boost::json::object out = {}) {
    out.reserve(out.size() + 9);  // the fields below: no rehash as they go in
    out["id"] = optional_value(product_id<Tree>(product));
    out["name"] = optional_value(text_of<Tree>(field<Tree>(product, "name")));
    out["brand"] = optional_value(brand_of<Tree>(product, refs));

    const offer_terms offer =
        choose_offer<Tree>(all_values<Tree>(product, "offers", refs), refs, 0);
    out["price"] = offer.price ? boost::json::value(*offer.price) : boost::json::value(nullptr);
    out["currency"] =
        offer.currency.empty() ? boost::json::value(nullptr) : boost::json::value(offer.currency);
    out["availability"] = offer.availability
                              ? boost::json::value(boost::json::string(*offer.availability))
                              : boost::json::value(nullptr);

    boost::json::value rating = nullptr;
    boost::json::value review_count = nullptr;
    if (const auto aggregate = object_field<Tree>(product, "aggregateRating", refs)) {
        if (auto value = number_of<Tree>(field<Tree>(aggregate, "ratingValue"))) {
            rating = *value;
        }
        auto count = integer_of<Tree>(field<Tree>(aggregate, "reviewCount"));
        if (!count) {
            count = integer_of<Tree>(field<Tree>(aggregate, "ratingCount"));
        }
        if (count) {
            review_count = *count;
        }
    }
    out["rating"] = std::move(rating);
    out["review_count"] = std::move(review_count);
    out["image"] = optional_value(image_of<Tree>(product, refs));
    return out;
}

}  // namespace harvest::pipelines::detail::product_rules
