#include "pipelines/structured/dom_to_json.hpp"

#include <cstdint>
#include <string_view>

namespace harvest::pipelines {

boost::json::value dom_to_json(simdjson::dom::element element,
                               const boost::json::storage_ptr& storage, duplicate_keys keep) {
    using simdjson::dom::element_type;
    switch (element.type()) {
        case element_type::ARRAY: {
            const simdjson::dom::array children(element);
            boost::json::array array(storage);
            array.reserve(children.size());
            for (simdjson::dom::element child : children) {
                array.push_back(dom_to_json(child, storage, keep));
            }
            return array;
        }
        case element_type::OBJECT: {
            const simdjson::dom::object fields(element);
            boost::json::object object(storage);
            object.reserve(fields.size());
            // One lookup per key: emplace constructs the element only when the key is new, so
            // `value` is untouched when it is there (a repeated key, rare) and `last` assigns it.
            for (simdjson::dom::key_value_pair field : fields) {
                boost::json::value value = dom_to_json(field.value, storage, keep);
                const auto [at, inserted] = object.emplace(field.key, std::move(value));
                if (!inserted && keep == duplicate_keys::last) {
                    at->value() = std::move(value);  // NOLINT(bugprone-use-after-move): above
                }
            }
            return object;
        }
        case element_type::INT64:
            return boost::json::value(std::int64_t(element), storage);
        case element_type::UINT64:
            return boost::json::value(std::uint64_t(element), storage);
        case element_type::DOUBLE:
            return boost::json::value(double(element), storage);
        case element_type::STRING:
            return boost::json::string(std::string_view(element), storage);
        case element_type::BOOL:
            return boost::json::value(bool(element), storage);
        case element_type::NULL_VALUE:
            return boost::json::value(nullptr, storage);
    }
    return boost::json::value(nullptr, storage);
}

}  // namespace harvest::pipelines
