#include "pipelines/extract/json_extractor.hpp"

#include "engine/core/text.hpp"
#include "pipelines/field_value.hpp"
#include "pipelines/structured/dom_to_json.hpp"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>

namespace harvest::pipelines {

extract_outcome& extract_outcome::operator+=(const extract_outcome& other) noexcept {
    emitted += other.emitted;
    invalid += other.invalid;
    error += other.error;
    values_invalid += other.values_invalid;
    links += other.links;
    for (std::size_t i = 0; i < per_type.size(); ++i) {
        per_type[i].emitted += other.per_type[i].emitted;
        per_type[i].invalid += other.per_type[i].invalid;
        per_type[i].error += other.per_type[i].error;
    }
    return *this;
}

void extract_outcome::attribute_to(extract_type type) noexcept {
    extract_counts& counts = per_type[static_cast<std::size_t>(type)];
    counts.emitted = emitted;
    counts.invalid = invalid;
    counts.error = error;
}

json_pointer json_pointer::parse(std::string_view text) {
    json_pointer pointer;
    pointer.text = std::string(text);
    if (text.empty()) {
        return pointer;  // the whole document
    }
    if (text.front() != '/') {
        throw std::invalid_argument("JSON Pointer \"" + std::string(text) +
                                    "\" must be empty or start with '/'");
    }
    std::size_t start = 1;
    while (true) {
        const std::size_t slash = text.find('/', start);
        const std::string_view raw = text.substr(
            start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        std::string token;
        token.reserve(raw.size());
        for (std::size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] != '~') {
                token.push_back(raw[i]);
                continue;
            }
            if (i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
                token.push_back(raw[i + 1] == '0' ? '~' : '/');
                ++i;
            } else {
                throw std::invalid_argument("JSON Pointer \"" + std::string(text) +
                                            "\": '~' must be followed by '0' or '1'");
            }
        }
        std::optional<std::size_t> index;
        const bool digits = !token.empty() && std::all_of(token.begin(), token.end(), [](char c) {
            return c >= '0' && c <= '9';
        });
        if (digits && (token.size() == 1 || token.front() != '0')) {
            std::size_t value = 0;
            const auto result = std::from_chars(token.data(), token.data() + token.size(), value);
            if (result.ec == std::errc{}) {
                index = value;
            }
        }
        pointer.tokens.push_back(std::move(token));
        pointer.indices.push_back(index);
        if (slash == std::string_view::npos) {
            break;
        }
        start = slash + 1;
    }
    return pointer;
}

namespace {

namespace od = simdjson::ondemand;

// Reads one value completely, which validates it (On-Demand only checks what is read), and
// builds it into `out` unless `out` is null. Works on the document (root) and on values.
template <class V>
simdjson::error_code read_value(V& source, boost::json::value* out) {
    od::json_type type{};
    if (auto error = source.type().get(type)) {
        return error;
    }
    switch (type) {
        case od::json_type::object: {
            od::object object;
            if (auto error = source.get_object().get(object)) {
                return error;
            }
            boost::json::object* target = out != nullptr ? &out->emplace_object() : nullptr;
            for (auto field : object) {
                std::string_view key;
                if (auto error = field.unescaped_key().get(key)) {
                    return error;
                }
                od::value child;
                if (auto error = field.value().get(child)) {
                    return error;
                }
                if (target == nullptr) {
                    if (auto error = read_value(child, nullptr)) {
                        return error;
                    }
                    continue;
                }
                boost::json::value child_value;
                if (auto error = read_value(child, &child_value)) {
                    return error;
                }
                // A duplicate key keeps its first value, as a pointer lookup would find it.
                target->emplace(key, std::move(child_value));
            }
            return simdjson::SUCCESS;
        }
        case od::json_type::array: {
            od::array array;
            if (auto error = source.get_array().get(array)) {
                return error;
            }
            boost::json::array* target = out != nullptr ? &out->emplace_array() : nullptr;
            for (auto element : array) {
                od::value child;
                if (auto error = element.get(child)) {
                    return error;
                }
                if (target == nullptr) {
                    if (auto error = read_value(child, nullptr)) {
                        return error;
                    }
                    continue;
                }
                if (auto error = read_value(child, &target->emplace_back(nullptr))) {
                    return error;
                }
            }
            return simdjson::SUCCESS;
        }
        case od::json_type::number: {
            od::number number;
            if (source.get_number().get(number) != simdjson::SUCCESS) {
                // Integers beyond 64 bits are valid JSON: keep them as the nearest double.
                double approximate = 0;
                if (auto error = source.get_double().get(approximate)) {
                    return error;
                }
                if (out != nullptr) {
                    *out = approximate;
                }
                return simdjson::SUCCESS;
            }
            if (out != nullptr) {
                switch (number.get_number_type()) {
                    case od::number_type::signed_integer:
                        *out = number.get_int64();
                        break;
                    case od::number_type::unsigned_integer:
                        *out = number.get_uint64();
                        break;
                    case od::number_type::floating_point_number:
                        *out = number.get_double();
                        break;
                }
            }
            return simdjson::SUCCESS;
        }
        case od::json_type::string: {
            std::string_view text;
            if (auto error = source.get_string().get(text)) {
                return error;
            }
            if (out != nullptr) {
                *out = boost::json::string(text);
            }
            return simdjson::SUCCESS;
        }
        case od::json_type::boolean: {
            bool flag = false;
            if (auto error = source.get_bool().get(flag)) {
                return error;
            }
            if (out != nullptr) {
                *out = flag;
            }
            return simdjson::SUCCESS;
        }
        case od::json_type::null: {
            bool is_null = false;
            if (auto error = source.is_null().get(is_null)) {
                return error;
            }
            if (!is_null) {
                return simdjson::INCORRECT_TYPE;  // e.g. "nul"
            }
            if (out != nullptr) {
                *out = nullptr;
            }
            return simdjson::SUCCESS;
        }
    }
    return simdjson::INCORRECT_TYPE;
}

// Follows pointer tokens [depth, end) inside an already built value.
const boost::json::value* resolve(const boost::json::value& root, const json_pointer& pointer,
                                  std::size_t depth) {
    const boost::json::value* current = &root;
    for (std::size_t i = depth; i < pointer.tokens.size(); ++i) {
        if (const auto* object = current->if_object()) {
            const auto it = object->find(pointer.tokens[i]);
            if (it == object->end()) {
                return nullptr;
            }
            current = &it->value();
        } else if (const auto* array = current->if_array()) {
            if (!pointer.indices[i] || *pointer.indices[i] >= array->size()) {
                return nullptr;
            }
            current = &(*array)[*pointer.indices[i]];
        } else {
            return nullptr;
        }
    }
    return current;
}

// One pass over the whole document serving every field's pointer at once: subtrees no pointer
// enters are only validated, never built. `active` holds the fields whose pointer matches the
// path down to `source`.
template <class V>
simdjson::error_code walk(V& source, std::size_t depth, const std::vector<std::size_t>& active,
                          const std::vector<json_pointer>& pointers,
                          std::vector<std::optional<boost::json::value>>& found) {
    if (active.empty()) {
        return read_value(source, nullptr);
    }
    const bool terminal = std::any_of(active.begin(), active.end(), [&](std::size_t field) {
        return pointers[field].tokens.size() == depth;
    });
    if (terminal) {
        // A field wants this whole value: build it once and serve the deeper pointers from it.
        boost::json::value whole;
        if (auto error = read_value(source, &whole)) {
            return error;
        }
        for (const std::size_t field : active) {
            if (const auto* value = resolve(whole, pointers[field], depth)) {
                found[field] = *value;
            }
        }
        return simdjson::SUCCESS;
    }
    od::json_type type{};
    if (auto error = source.type().get(type)) {
        return error;
    }
    std::vector<std::size_t> next;
    if (type == od::json_type::object) {
        od::object object;
        if (auto error = source.get_object().get(object)) {
            return error;
        }
        // A duplicate key keeps its first value, as a pointer lookup would find it: the first
        // key that matches a field's token takes the field out of `pending`.
        std::vector<std::size_t> pending = active;
        for (auto field : object) {
            std::string_view key;
            if (auto error = field.unescaped_key().get(key)) {
                return error;
            }
            od::value child;
            if (auto error = field.value().get(child)) {
                return error;
            }
            next.clear();
            std::erase_if(pending, [&](std::size_t candidate) {
                if (pointers[candidate].tokens[depth] != key) {
                    return false;
                }
                next.push_back(candidate);
                return true;
            });
            if (auto error = walk(child, depth + 1, next, pointers, found)) {
                return error;
            }
        }
        return simdjson::SUCCESS;
    }
    if (type == od::json_type::array) {
        od::array array;
        if (auto error = source.get_array().get(array)) {
            return error;
        }
        std::size_t index = 0;
        for (auto element : array) {
            od::value child;
            if (auto error = element.get(child)) {
                return error;
            }
            next.clear();
            for (const std::size_t candidate : active) {
                if (pointers[candidate].indices[depth] == index) {
                    next.push_back(candidate);
                }
            }
            if (auto error = walk(child, depth + 1, next, pointers, found)) {
                return error;
            }
            ++index;
        }
        return simdjson::SUCCESS;
    }
    // A scalar cannot hold the deeper tokens: those fields stay missing.
    return read_value(source, nullptr);
}

// The DOM path: simdjson's parser validates the whole document in one pass with the CPU's widest
// kernel (On-Demand is compiled for the build's baseline target), then each pointer is followed
// on the parsed tape. It agrees with walk() in every case, duplicate keys included.
namespace dom = simdjson::dom;

std::optional<boost::json::value> resolve_dom(dom::element element, const json_pointer& pointer,
                                              std::size_t depth) {
    if (depth == pointer.tokens.size()) {
        return dom_to_json(element, {}, duplicate_keys::first);
    }
    if (element.type() == dom::element_type::OBJECT) {
        // The first of duplicate keys counts (simdjson's at_key), as in walk().
        dom::element child;
        if (element.get_object().value_unsafe().at_key(pointer.tokens[depth]).get(child) ==
            simdjson::SUCCESS) {
            return resolve_dom(child, pointer, depth + 1);
        }
        return std::nullopt;
    }
    if (element.type() == dom::element_type::ARRAY && pointer.indices[depth]) {
        const dom::array array = element.get_array().value_unsafe();
        dom::element child;
        if (array.at(*pointer.indices[depth]).get(child) == simdjson::SUCCESS) {
            return resolve_dom(child, pointer, depth + 1);
        }
    }
    return std::nullopt;
}

using converted = detail::converted_field;

converted convert(const field_rule& rule, boost::json::value value) {
    converted result;
    if (value.is_null()) {
        return result;
    }
    const auto invalid = [&result] {
        result.value = nullptr;
        result.invalid = true;
        return result;
    };
    switch (rule.as) {
        case value_kind::raw:
            return converted{std::move(value), false, {}};  // moved in: no storage checks
        case value_kind::string:
            if (value.is_string()) {
                return converted{std::move(value), false, {}};
            }
            if (value.is_bool()) {
                result.value = value.get_bool() ? "true" : "false";
            } else if (value.is_int64()) {
                result.value = boost::json::string(std::to_string(value.get_int64()));
            } else if (value.is_uint64()) {
                result.value = boost::json::string(std::to_string(value.get_uint64()));
            } else if (value.is_double()) {
                result.value = boost::json::string(format_double(value.get_double()));
            } else {
                return invalid();
            }
            return result;
        case value_kind::number:
            if (value.is_number()) {
                result.value = value.to_number<double>();
            } else if (value.is_string()) {
                const auto number = core::parse_double(value.get_string());
                if (!number) {
                    return invalid();
                }
                result.value = *number;
            } else {
                return invalid();
            }
            return result;
        case value_kind::integer: {
            std::optional<std::int64_t> integer;
            if (value.is_int64()) {
                integer = value.get_int64();
            } else if (value.is_uint64()) {
                if (value.get_uint64() <=
                    static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
                    integer = static_cast<std::int64_t>(value.get_uint64());
                }
            } else if (value.is_double()) {
                integer = core::integral_double(value.get_double());
            } else if (value.is_string()) {
                integer = core::parse_int64(value.get_string());  // "3.0" is 3, "3.5" invalid
            }
            if (!integer) {
                return invalid();
            }
            result.value = *integer;
            return result;
        }
        case value_kind::boolean:
            if (value.is_bool()) {
                result.value = value.get_bool();
            } else if (const auto flag = value.is_string()
                                             ? detail::boolean_of_text(value.get_string())
                                             : std::nullopt) {
                result.value = *flag;
            } else {
                return invalid();
            }
            return result;
        case value_kind::price:
            if (value.is_number()) {
                result.value = value.to_number<double>();
                result.currency = rule.currency;
                return result;
            }
            if (!value.is_string()) {
                return invalid();
            }
            return detail::price_of_text(value.get_string(), rule);
        case value_kind::availability:
            if (!value.is_string()) {
                return invalid();
            }
            return detail::availability_of_text(value.get_string());
        case value_kind::url:  // html fields only: the config refuses it here
            return invalid();
    }
    return invalid();
}

}  // namespace

std::optional<std::vector<std::optional<boost::json::value>>> detail::find_json_fields(
    const std::string& body, const std::vector<json_pointer>& pointers, json_path path) {
    // Parse in place when the body has simdjson's padding (the HTTP client reserves it);
    // otherwise copy once into a padded buffer.
    std::optional<simdjson::padded_string> copy;
    simdjson::padded_string_view view;
    if (body.capacity() >= body.size() + simdjson::SIMDJSON_PADDING) {
        view = simdjson::padded_string_view(body.data(), body.size(), body.capacity());
    } else {
        copy.emplace(body);
        view = simdjson::padded_string_view(copy->data(), copy->size(),
                                            copy->size() + simdjson::SIMDJSON_PADDING);
    }
    std::vector<std::optional<boost::json::value>> found(pointers.size());
    if (path != json_path::on_demand) {
        // One parser per thread: its buffers are reused from page to page, and a parser must
        // never be used by two threads at once.
        thread_local dom::parser parser;
        dom::element root;
        const auto error =
            parser.parse(view.data(), view.length(), /*realloc_if_needed=*/false).get(root);
        if (error == simdjson::SUCCESS) {
            for (std::size_t i = 0; i < pointers.size(); ++i) {
                found[i] = resolve_dom(root, pointers[i], 0);
            }
            return found;
        }
        // The DOM parser refuses integers beyond 64 bits, which are valid JSON: On-Demand
        // keeps them as doubles. Every other error is the document's.
        if (error != simdjson::NUMBER_ERROR) {
            return std::nullopt;
        }
        if (path == json_path::dom) {
            return std::nullopt;
        }
    }
    thread_local od::parser parser;
    od::document document;
    if (parser.iterate(view).get(document) != simdjson::SUCCESS) {
        return std::nullopt;
    }
    std::vector<std::size_t> all(pointers.size());
    for (std::size_t i = 0; i < all.size(); ++i) {
        all[i] = i;
    }
    if (walk(document, 0, all, pointers, found) != simdjson::SUCCESS) {
        return std::nullopt;
    }
    // On-Demand stops after the root value, so `{"a":1}}` or `[1]]` would pass: after a
    // complete walk, a location still inside the document means trailing content.
    if (document.current_location().error() == simdjson::SUCCESS) {
        return std::nullopt;
    }
    return found;
}

json_extractor::json_extractor(extract_rule rule) : rule_(std::move(rule)) {
    if (rule_.type != extract_type::json) {
        throw std::invalid_argument("json_extractor: the rule is not `type: json`");
    }
    pointers_.reserve(rule_.fields.size());
    for (const auto& field : rule_.fields) {
        pointers_.push_back(json_pointer::parse(field.pointer));
    }
}

extract_outcome json_extractor::extract(const crawl::fetched_page& page,
                                        std::vector<item>& out) const {
    const std::string& url =
        page.response.final_url.empty() ? page.request.http.url : page.response.final_url;
    return extract(url, page.fetched_at, page.response.status, page.response.body, out);
}

extract_outcome json_extractor::extract(std::string_view url,
                                        std::chrono::system_clock::time_point fetched_at,
                                        unsigned status, const std::string& body,
                                        std::vector<item>& out) const {
    extract_outcome outcome;

    auto fields = detail::find_json_fields(body, pointers_, detail::json_path::automatic);
    if (!fields) {
        outcome.error = 1;
        return outcome;
    }
    auto& found = *fields;

    item result;
    result.reserve(3 + rule_.fields.size() + 1);
    result.emplace("url", boost::json::string(url));
    result.emplace("fetched_at", rfc3339_ms(fetched_at).view());
    result.emplace("status", static_cast<std::int64_t>(status));
    std::string found_currency;
    for (std::size_t i = 0; i < rule_.fields.size(); ++i) {
        const field_rule& field = rule_.fields[i];
        converted value =
            convert(field, found[i] ? std::move(*found[i]) : boost::json::value(nullptr));
        if (value.invalid) {
            ++outcome.values_invalid;
        }
        if (found_currency.empty() && !value.value.is_null()) {
            found_currency = std::move(value.currency);
        }
        result.insert_or_assign(field.name, std::move(value.value));
    }
    if (!found_currency.empty()) {
        const auto it = result.find("currency");
        if (it == result.end()) {
            result.emplace("currency", boost::json::string(found_currency));
        } else if (it->value().is_null()) {
            it->value() = boost::json::string(found_currency);
        }
    }
    for (const auto& name : rule_.required) {
        const auto it = result.find(name);
        if (it == result.end() || it->value().is_null()) {
            outcome.invalid = 1;
            return outcome;
        }
    }
    out.push_back(std::move(result));
    outcome.emitted = 1;
    return outcome;
}

}  // namespace harvest::pipelines
