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

// The value itself, or the first element of a list; nullptr when absent or an empty list.
const boost::json::value* single(const boost::json::value* value) noexcept {
    if (value != nullptr && value->is_array()) {
        const auto& array = value->get_array();
        return array.empty() ? nullptr : &array.front();
    }
    return value;
}

const boost::json::value* field(const boost::json::object& object, std::string_view key) noexcept {
    return single(object.if_contains(key));
}

const boost::json::object* object_field(const boost::json::object& object,
                                        std::string_view key) noexcept {
    const boost::json::value* value = field(object, key);
    return (value != nullptr && value->is_object()) ? &value->get_object() : nullptr;
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

std::optional<std::string> brand_of(const boost::json::object& product) {
    const boost::json::value* brand = field(product, "brand");
    if (brand == nullptr) {
        return std::nullopt;
    }
    if (brand->is_object()) {
        // A Brand or Organization; any object with a name is read the same way.
        return text_of(field(brand->get_object(), "name"));
    }
    return text_of(brand);
}

std::optional<std::string> image_of(const boost::json::object& product) {
    const boost::json::value* image = field(product, "image");
    if (image == nullptr) {
        return std::nullopt;
    }
    if (image->is_object()) {
        const auto& object = image->get_object();
        if (auto url = text_of(field(object, "url"))) {
            return url;
        }
        return text_of(field(object, "contentUrl"));
    }
    return text_of(image);
}

void walk(const boost::json::value& value, std::vector<boost::json::object>& out, int depth) {
    if (depth > product_search_depth) {
        return;
    }
    if (value.is_object()) {
        const auto& object = value.get_object();
        if (is_product(object)) {
            out.push_back(normalize_product(object));
            return;
        }
        for (const auto& entry : object) {
            walk(entry.value(), out, depth + 1);
        }
    } else if (value.is_array()) {
        for (const auto& element : value.get_array()) {
            walk(element, out, depth + 1);
        }
    }
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
    // Every key normalize_product and its helpers read, and the type keys.
    for (const std::string_view read :
         {"@type", "type", "sku", "productID", "gtin13", "gtin12", "gtin14", "gtin8", "mpn", "name",
          "brand", "offers", "aggregateRating", "image"}) {
        if (key == read) {
            return true;
        }
    }
    return false;
}

boost::json::object normalize_product(const boost::json::object& product) {
    boost::json::object out;
    out.reserve(9);  // the fields below: no rehash as they go in
    out["id"] = optional_value(product_id(product));
    out["name"] = optional_value(text_of(field(product, "name")));
    out["brand"] = optional_value(brand_of(product));

    boost::json::value price = nullptr;
    boost::json::value currency = nullptr;
    boost::json::value availability = nullptr;
    if (const boost::json::object* offer = object_field(product, "offers")) {
        std::string currency_in_text;
        const boost::json::value* price_value = field(*offer, "price");
        if (price_value == nullptr || price_value->is_null()) {
            price_value = field(*offer, "lowPrice");  // an AggregateOffer
        }
        if (auto amount = number_of(price_value, &currency_in_text)) {
            price = *amount;
        }
        if (auto code = text_of(field(*offer, "priceCurrency"))) {
            currency = *code;
        } else if (!currency_in_text.empty()) {
            currency = currency_in_text;
        }
        if (auto text = text_of(field(*offer, "availability"))) {
            if (auto normalized = normalize_availability(*text)) {
                availability = boost::json::string(*normalized);
            }
        }
    }
    out["price"] = std::move(price);
    out["currency"] = std::move(currency);
    out["availability"] = std::move(availability);

    boost::json::value rating = nullptr;
    boost::json::value review_count = nullptr;
    if (const boost::json::object* aggregate = object_field(product, "aggregateRating")) {
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
    out["image"] = optional_value(image_of(product));
    return out;
}

std::vector<boost::json::object> products_from_jsonld(
    const std::vector<boost::json::value>& values) {
    std::vector<boost::json::object> out;
    for (const auto& value : values) {
        walk(value, out, 0);
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
