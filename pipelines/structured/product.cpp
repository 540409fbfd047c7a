#include "pipelines/structured/product.hpp"

#include "pipelines/normalize/availability.hpp"
#include "pipelines/normalize/price.hpp"

#include <boost/json/array.hpp>
#include <boost/json/string.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace harvest::pipelines {

namespace {

std::string_view trim(std::string_view s) noexcept {
    const auto space = [](char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
    };
    while (!s.empty() && space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && space(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

bool starts_with(std::string_view s, std::string_view prefix) noexcept {
    return s.substr(0, prefix.size()) == prefix;
}

std::string_view strip_schema_prefix(std::string_view type) noexcept {
    type = trim(type);
    for (std::string_view prefix : {"schema:", "http://schema.org/", "https://schema.org/",
                                    "http://www.schema.org/", "https://www.schema.org/"}) {
        if (starts_with(type, prefix)) {
            return type.substr(prefix.size());
        }
    }
    return type;
}

const boost::json::value* type_of(const boost::json::object& object) noexcept {
    if (const auto* type = object.if_contains("@type")) {
        return type;
    }
    return object.if_contains("type");  // microdata items not yet converted
}

bool has_type(const boost::json::value* type, std::initializer_list<std::string_view> names) {
    if (type == nullptr) {
        return false;
    }
    const auto matches = [&](const boost::json::value& t) {
        if (!t.is_string()) {
            return false;
        }
        const std::string_view bare = strip_schema_prefix(t.get_string());
        for (std::string_view name : names) {
            if (bare == name) {
                return true;
            }
        }
        return false;
    };
    if (type->is_array()) {
        for (const auto& t : type->get_array()) {
            if (matches(t)) {
                return true;
            }
        }
        return false;
    }
    return matches(*type);
}

// --- @id references ---------------------------------------------------------------------------

// The page's nodes by "@id" (within its JSON-LD graph: every block of the page), for the
// references a product's values make ({"@id": "#offer"}).
using node_index = std::unordered_map<std::string_view, const boost::json::value*>;

// A node object is a reference when it holds an "@id" and nothing else but a type.
bool is_reference(const boost::json::object& object) noexcept {
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

void index_nodes(const boost::json::value& value, node_index& index, int depth) {
    if (depth > product_search_depth) {
        return;
    }
    if (value.is_array()) {
        for (const auto& element : value.get_array()) {
            index_nodes(element, index, depth + 1);
        }
        return;
    }
    if (!value.is_object()) {
        return;
    }
    const auto& object = value.get_object();
    if (const auto* id = object.if_contains("@id");
        id != nullptr && id->is_string() && !is_reference(object)) {
        index.emplace(std::string_view(id->get_string()), &value);  // the first node wins
    }
    for (const auto& entry : object) {
        index_nodes(entry.value(), index, depth + 1);
    }
}

// A reference followed to the node it names (a chain at most a few links long: cycles end);
// anything else as it is.
const boost::json::value* follow(const boost::json::value* value, const node_index* index) {
    constexpr int max_links = 4;
    for (int link = 0; link < max_links && index != nullptr && value != nullptr &&
                       value->is_object() && is_reference(value->get_object());
         ++link) {
        const auto found =
            index->find(std::string_view(value->get_object().at("@id").get_string()));
        if (found == index->end()) {
            break;
        }
        value = found->second;
    }
    return value;
}

// The value itself, or the first element of a list; nullptr when absent or an empty list.
const boost::json::value* single(const boost::json::value* value) noexcept {
    if (value != nullptr && value->is_array()) {
        const auto& array = value->get_array();
        return array.empty() ? nullptr : &array.front();
    }
    return value;
}

// One value of `key` (the first of a list), a reference followed.
const boost::json::value* field(const boost::json::object& object, std::string_view key,
                                const node_index* refs = nullptr) {
    return follow(single(object.if_contains(key)), refs);
}

const boost::json::object* object_field(const boost::json::object& object, std::string_view key,
                                        const node_index* refs = nullptr) {
    const boost::json::value* value = field(object, key, refs);
    return (value != nullptr && value->is_object()) ? &value->get_object() : nullptr;
}

// Every value of `key` (a list's elements, or the one value), references followed.
std::vector<const boost::json::value*> all_values(const boost::json::object& object,
                                                  std::string_view key, const node_index* refs) {
    std::vector<const boost::json::value*> out;
    const boost::json::value* value = object.if_contains(key);
    if (value == nullptr) {
        return out;
    }
    if (value->is_array()) {
        for (const auto& element : value->get_array()) {
            out.push_back(follow(&element, refs));
        }
    } else {
        out.push_back(follow(value, refs));
    }
    return out;
}

std::string render_double(double number) {
    if (std::isfinite(number) && number == std::floor(number) && std::fabs(number) < 1e18) {
        return std::to_string(static_cast<std::int64_t>(number));
    }
    char buffer[64];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, number);
    return std::string(buffer, result.ptr);
}

// A string (trimmed, non-empty) or a number rendered as text.
std::optional<std::string> text_of(const boost::json::value* value) {
    if (value == nullptr) {
        return std::nullopt;
    }
    switch (value->kind()) {
        case boost::json::kind::string: {
            const std::string_view text = trim(value->get_string());
            if (text.empty()) {
                return std::nullopt;
            }
            return std::string(text);
        }
        case boost::json::kind::int64:
            return std::to_string(value->get_int64());
        case boost::json::kind::uint64:
            return std::to_string(value->get_uint64());
        case boost::json::kind::double_:
            return render_double(value->get_double());
        default:
            return std::nullopt;
    }
}

std::optional<double> number_of(const boost::json::value* value,
                                std::string* currency_found = nullptr) {
    if (value == nullptr) {
        return std::nullopt;
    }
    if (value->is_number()) {
        return value->to_number<double>();
    }
    if (!value->is_string()) {
        return std::nullopt;
    }
    const std::string_view text = trim(value->get_string());
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

std::optional<std::int64_t> integer_of(const boost::json::value* value) {
    if (value == nullptr) {
        return std::nullopt;
    }
    if (value->is_int64()) {
        return value->get_int64();
    }
    if (value->is_uint64()) {
        const std::uint64_t n = value->get_uint64();
        if (n > static_cast<std::uint64_t>(INT64_MAX)) {
            return std::nullopt;
        }
        return static_cast<std::int64_t>(n);
    }
    const std::optional<double> number = number_of(value);
    if (!number || !std::isfinite(*number) || std::fabs(*number) >= 9e18) {
        return std::nullopt;
    }
    return static_cast<std::int64_t>(std::llround(*number));
}

boost::json::value optional_value(const std::optional<std::string>& text) {
    return text ? boost::json::value(*text) : boost::json::value(nullptr);
}

std::optional<std::string> product_id(const boost::json::object& product) {
    for (std::string_view key :
         {"sku", "productID", "gtin13", "gtin12", "gtin14", "gtin8", "mpn"}) {
        if (auto id = text_of(field(product, key))) {
            return id;
        }
    }
    return std::nullopt;
}

std::optional<std::string> brand_of(const boost::json::object& product, const node_index* refs) {
    const boost::json::value* brand = field(product, "brand", refs);
    if (brand == nullptr) {
        return std::nullopt;
    }
    if (brand->is_object()) {
        // A Brand or Organization; any object with a name is read the same way.
        return text_of(field(brand->get_object(), "name", refs));
    }
    return text_of(brand);
}

std::optional<std::string> image_of(const boost::json::object& product, const node_index* refs) {
    const boost::json::value* image = field(product, "image", refs);
    if (image == nullptr) {
        return std::nullopt;
    }
    if (image->is_object()) {
        const auto& object = image->get_object();
        if (auto url = text_of(field(object, "url", refs))) {
            return url;
        }
        return text_of(field(object, "contentUrl", refs));
    }
    return text_of(image);
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
bool is_reference_price(const boost::json::value* type) {
    return has_type(type, {"ListPrice", "StrikethroughPrice", "MSRP", "SRP", "InvoicePrice"});
}

// A price (else a minPrice, else a lowPrice) and the currency found in its text.
std::optional<double> price_in(const boost::json::object& object, const node_index* refs,
                               std::string& currency_in_text) {
    for (std::string_view key : {"price", "minPrice", "lowPrice"}) {
        const boost::json::value* value = field(object, key, refs);
        if (value != nullptr && !value->is_null()) {
            return number_of(value, &currency_in_text);
        }
    }
    return std::nullopt;
}

offer_terms choose_offer(const std::vector<const boost::json::value*>& offers,
                         const node_index* refs, int depth);

offer_terms terms_of(const boost::json::object& offer, const node_index* refs, int depth) {
    offer_terms terms;
    std::string currency_in_text;
    terms.price = price_in(offer, refs, currency_in_text);
    if (auto code = text_of(field(offer, "priceCurrency", refs))) {
        terms.currency = std::move(*code);
    }
    if (!terms.price) {
        // priceSpecification (one, or a list such as a sale price beside its list price): the
        // first with a price that is not a list or strikethrough price, else the first with one.
        const boost::json::object* chosen = nullptr;
        const boost::json::object* fallback = nullptr;
        for (const boost::json::value* spec : all_values(offer, "priceSpecification", refs)) {
            if (spec == nullptr || !spec->is_object()) {
                continue;
            }
            std::string ignored;
            if (!price_in(spec->get_object(), refs, ignored)) {
                continue;
            }
            if (!is_reference_price(field(spec->get_object(), "priceType", refs))) {
                chosen = &spec->get_object();
                break;
            }
            if (fallback == nullptr) {
                fallback = &spec->get_object();
            }
        }
        if (chosen == nullptr) {
            chosen = fallback;
        }
        if (chosen != nullptr) {
            terms.price = price_in(*chosen, refs, currency_in_text);
            if (auto code = text_of(field(*chosen, "priceCurrency", refs));
                code && terms.currency.empty()) {
                terms.currency = std::move(*code);
            }
        }
    }
    if (auto text = text_of(field(offer, "availability", refs))) {
        terms.availability = normalize_availability(*text);
    }
    if (!terms.price && depth < 2) {
        // An AggregateOffer without lowPrice: its own offers.
        const offer_terms inner = choose_offer(all_values(offer, "offers", refs), refs, depth + 1);
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
offer_terms choose_offer(const std::vector<const boost::json::value*>& offers,
                         const node_index* refs, int depth) {
    std::optional<offer_terms> first;
    std::optional<offer_terms> first_priced;
    std::optional<offer_terms> cheapest_in_stock;
    for (const boost::json::value* offer : offers) {
        if (offer == nullptr || !offer->is_object()) {
            continue;
        }
        offer_terms terms = terms_of(offer->get_object(), refs, depth);
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

boost::json::object normalize(const boost::json::object& product, const node_index* refs);

void walk(const boost::json::value& value, std::vector<boost::json::object>& out, int depth,
          const node_index* refs) {
    if (depth > product_search_depth) {
        return;
    }
    if (value.is_object()) {
        const auto& object = value.get_object();
        if (is_product(object)) {
            out.push_back(normalize(object, refs));
            return;
        }
        for (const auto& entry : object) {
            walk(entry.value(), out, depth + 1, refs);
        }
    } else if (value.is_array()) {
        for (const auto& element : value.get_array()) {
            walk(element, out, depth + 1, refs);
        }
    }
}

boost::json::object normalize(const boost::json::object& product, const node_index* refs) {
    boost::json::object out;
    out.reserve(9);  // the fields below: no rehash as they go in
    out["id"] = optional_value(product_id(product));
    out["name"] = optional_value(text_of(field(product, "name")));
    out["brand"] = optional_value(brand_of(product, refs));

    const offer_terms offer = choose_offer(all_values(product, "offers", refs), refs, 0);
    out["price"] = offer.price ? boost::json::value(*offer.price) : boost::json::value(nullptr);
    out["currency"] =
        offer.currency.empty() ? boost::json::value(nullptr) : boost::json::value(offer.currency);
    out["availability"] = offer.availability
                              ? boost::json::value(boost::json::string(*offer.availability))
                              : boost::json::value(nullptr);

    boost::json::value rating = nullptr;
    boost::json::value review_count = nullptr;
    if (const boost::json::object* aggregate = object_field(product, "aggregateRating", refs)) {
        if (auto value = number_of(field(*aggregate, "ratingValue"))) {
            rating = *value;
        }
        auto count = integer_of(field(*aggregate, "reviewCount"));
        if (!count) {
            count = integer_of(field(*aggregate, "ratingCount"));
        }
        if (count) {
            review_count = *count;
        }
    }
    out["rating"] = std::move(rating);
    out["review_count"] = std::move(review_count);
    out["image"] = optional_value(image_of(product, refs));
    return out;
}

// --- microdata items to JSON-LD-like objects -------------------------------------------------

using item_index = std::unordered_map<std::int64_t, const boost::json::value*>;

boost::json::value to_jsonld(const boost::json::value& value, const item_index& flat_items,
                             int depth);

boost::json::value to_jsonld_each(const boost::json::value& value, const item_index& flat_items,
                                  int depth) {
    if (value.is_array()) {
        boost::json::array out;
        for (const auto& element : value.get_array()) {
            out.push_back(to_jsonld(element, flat_items, depth + 1));
        }
        return out;
    }
    return to_jsonld(value, flat_items, depth + 1);
}

boost::json::value to_jsonld(const boost::json::value& value, const item_index& flat_items,
                             int depth) {
    if (!value.is_object() || depth > product_search_depth) {
        return value;
    }
    const auto& in = value.get_object();
    if (const auto* ref = in.if_contains("iid_ref"); ref != nullptr && ref->is_int64()) {
        auto it = flat_items.find(ref->get_int64());
        return it == flat_items.end() ? boost::json::value(nullptr)
                                      : to_jsonld(*it->second, flat_items, depth + 1);
    }
    const bool microdata_item =
        in.contains("properties") || (in.contains("type") && !in.contains("@type"));
    if (!microdata_item) {
        return value;  // already JSON-LD-like (uniform), or a plain value object
    }
    boost::json::object out;
    if (const auto* type = in.if_contains("type")) {
        out["@type"] = *type;
    }
    if (const auto* id = in.if_contains("id")) {
        out["@id"] = *id;
    }
    if (const auto* props = in.if_contains("properties"); props && props->is_object()) {
        for (const auto& entry : props->get_object()) {
            out[entry.key()] = to_jsonld_each(entry.value(), flat_items, depth);
        }
    }
    return out;
}

}  // namespace

bool is_product_type(const boost::json::value* type) {
    return has_type(type, {"Product", "IndividualProduct", "ProductModel", "SomeProducts"});
}

bool is_product(const boost::json::object& object) {
    return is_product_type(type_of(object));
}

bool is_product_field(std::string_view key) noexcept {
    // Every key normalize_product and its helpers read, and the type keys, told apart by their
    // first letter (every key of every product object on a page comes through here).
    if (key.empty()) {
        return false;
    }
    switch (key.front()) {
        case '@':
            return key == "@type";
        case 't':
            return key == "type";
        case 's':
            return key == "sku";
        case 'p':
            return key == "productID";
        case 'g':
            return key == "gtin13" || key == "gtin12" || key == "gtin14" || key == "gtin8";
        case 'm':
            return key == "mpn";
        case 'n':
            return key == "name";
        case 'b':
            return key == "brand";
        case 'o':
            return key == "offers";
        case 'a':
            return key == "aggregateRating";
        case 'i':
            return key == "image";
        default:
            return false;
    }
}

boost::json::object normalize_product(const boost::json::object& product) {
    return normalize(product, nullptr);
}

std::vector<boost::json::object> products_from_jsonld(
    const std::vector<boost::json::value>& values) {
    node_index refs;
    for (const auto& value : values) {
        index_nodes(value, refs, 0);
    }
    std::vector<boost::json::object> out;
    for (const auto& value : values) {
        walk(value, out, 0, refs.empty() ? nullptr : &refs);
    }
    return out;
}

std::vector<boost::json::object> products_from_microdata(
    const std::vector<boost::json::value>& items) {
    item_index flat_items;  // nested:false output references items by document order
    for (const auto& item : items) {
        if (item.is_object()) {
            if (const auto* iid = item.get_object().if_contains("iid"); iid && iid->is_int64()) {
                flat_items.emplace(iid->get_int64(), &item);
            }
        }
    }
    std::vector<boost::json::value> converted;
    converted.reserve(items.size());
    for (const auto& item : items) {
        converted.push_back(to_jsonld(item, flat_items, 0));
    }
    return products_from_jsonld(converted);
}

}  // namespace harvest::pipelines
