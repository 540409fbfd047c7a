#pragma once
// Two ways to read a JSON tree behind one interface, so the product normalization
// (detail/product_normalize.hpp) is written once and reads either:
//
//   boost_tree  Boost.JSON values (microdata items, JSON-LD that simdjson refused, pages whose
//               products name nodes by "@id")
//   dom_tree    simdjson's parsed DOM, read in place: the JSON-LD of most product pages, with no
//               copy into Boost.JSON first (that copy was a tenth of an HTML crawl's work)
//
// A node is a small value; a default one is absent (a missing key, an empty list's first
// element). Objects read as a Python dict reads them (extruct's JSON-LD, and Boost.JSON's copy
// made with duplicate_keys::last): of a repeated key, the last value counts.

#include <simdjson.h>
#include <boost/json/value.hpp>

#include <cstdint>
#include <string_view>

namespace harvest::pipelines::json_tree {

struct boost_tree {
    struct node {
        const boost::json::value* value = nullptr;
        explicit operator bool() const noexcept { return value != nullptr; }
    };

    static bool is_object(node n) noexcept { return n && n.value->is_object(); }
    static bool is_array(node n) noexcept { return n && n.value->is_array(); }
    static bool is_string(node n) noexcept { return n && n.value->is_string(); }
    static bool is_null(node n) noexcept { return n && n.value->is_null(); }
    static bool is_number(node n) noexcept { return n && n.value->is_number(); }
    static bool is_int64(node n) noexcept { return n && n.value->is_int64(); }
    static bool is_uint64(node n) noexcept { return n && n.value->is_uint64(); }
    static bool is_double(node n) noexcept { return n && n.value->is_double(); }

    // Only for a node of that kind.
    static std::string_view string(node n) noexcept { return n.value->get_string(); }
    static std::int64_t int64(node n) noexcept { return n.value->get_int64(); }
    static std::uint64_t uint64(node n) noexcept { return n.value->get_uint64(); }
    static double number(node n) noexcept { return n.value->to_number<double>(); }

    // The value of `key` in an object (absent when `n` is no object or lacks it).
    static node member(node n, std::string_view key) noexcept {
        return is_object(n) ? node{n.value->get_object().if_contains(key)} : node{};
    }
    // An array's first element (absent when empty).
    static node first(node n) noexcept {
        const auto& array = n.value->get_array();
        return array.empty() ? node{} : node{&array.front()};
    }
    template <class F>
    static void each_element(node n, F&& f) {
        for (const auto& element : n.value->get_array()) {
            f(node{&element});
        }
    }
    // Each key and value of an object.
    template <class F>
    static void each_field(node n, F&& f) {
        for (const auto& entry : n.value->get_object()) {
            f(std::string_view(entry.key()), node{&entry.value()});
        }
    }
};

struct dom_tree {
    struct node {
        simdjson::dom::element element;
        bool present = false;
        explicit operator bool() const noexcept { return present; }
    };
    using type = simdjson::dom::element_type;

    static bool is(node n, type t) noexcept { return n && n.element.type() == t; }
    static bool is_object(node n) noexcept { return is(n, type::OBJECT); }
    static bool is_array(node n) noexcept { return is(n, type::ARRAY); }
    static bool is_string(node n) noexcept { return is(n, type::STRING); }
    static bool is_null(node n) noexcept { return is(n, type::NULL_VALUE); }
    static bool is_int64(node n) noexcept { return is(n, type::INT64); }
    static bool is_uint64(node n) noexcept { return is(n, type::UINT64); }
    static bool is_double(node n) noexcept { return is(n, type::DOUBLE); }
    static bool is_number(node n) noexcept { return is_int64(n) || is_uint64(n) || is_double(n); }

    // The element's conversions, as dom_to_json uses them; callers check the kind first.
    static std::string_view string(node n) { return std::string_view(n.element); }
    static std::int64_t int64(node n) { return std::int64_t(n.element); }
    static std::uint64_t uint64(node n) { return std::uint64_t(n.element); }
    static double number(node n) {
        if (is_int64(n)) {
            return static_cast<double>(int64(n));
        }
        if (is_uint64(n)) {
            return static_cast<double>(uint64(n));
        }
        return double(n.element);
    }

    // The last value of a repeated key, as a dict keeps it.
    static node member(node n, std::string_view key) {
        node found;
        if (is_object(n)) {
            for (simdjson::dom::key_value_pair field : simdjson::dom::object(n.element)) {
                if (field.key == key) {
                    found = node{field.value, true};
                }
            }
        }
        return found;
    }
    static node first(node n) {
        for (simdjson::dom::element element : simdjson::dom::array(n.element)) {
            return node{element, true};
        }
        return node{};
    }
    template <class F>
    static void each_element(node n, F&& f) {
        for (simdjson::dom::element element : simdjson::dom::array(n.element)) {
            f(node{element, true});
        }
    }
    // Each field of an object as written: a repeated key once per value (member() and a dict
    // see only the last).
    template <class F>
    static void each_field(node n, F&& f) {
        for (simdjson::dom::key_value_pair field : simdjson::dom::object(n.element)) {
            f(field.key, node{field.value, true});
        }
    }
};

}  // namespace harvest::pipelines::json_tree
