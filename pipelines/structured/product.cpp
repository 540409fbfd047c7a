#include "pipelines/structured/product.hpp"

#include "pipelines/structured/detail/product_normalize.hpp"

#include <boost/json/array.hpp>
#include <boost/json/string.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace harvest::pipelines {

namespace {

namespace product_rules = detail::product_rules;
using json_tree::boost_tree;
using product_rules::node_index;

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
        id != nullptr && id->is_string() && !product_rules::is_reference(object)) {
        index.emplace(std::string_view(id->get_string()), &value);  // the first node wins
    }
    for (const auto& entry : object) {
        index_nodes(entry.value(), index, depth + 1);
    }
}

void walk(const boost::json::value& value, std::vector<boost::json::object>& out, int depth,
          const node_index* refs) {
    if (depth > product_search_depth) {
        return;
    }
    if (value.is_object()) {
        if (product_rules::is_product_node<boost_tree>({&value})) {
            out.push_back(product_rules::normalize<boost_tree>({&value}, refs));
            return;
        }
        for (const auto& entry : value.get_object()) {
            walk(entry.value(), out, depth + 1, refs);
        }
    } else if (value.is_array()) {
        for (const auto& element : value.get_array()) {
            walk(element, out, depth + 1, refs);
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

boost::json::object normalize_product(const boost::json::value& product) {
    return product_rules::normalize<boost_tree>({&product}, nullptr);
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
