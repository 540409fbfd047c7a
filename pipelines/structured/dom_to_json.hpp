#pragma once
// simdjson's parsed DOM to Boost.JSON: the JSON extractor and the JSON-LD scanner parse with
// simdjson and hand items on as Boost.JSON values.

#include <simdjson.h>
#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>

namespace harvest::pipelines {

// What an object with a repeated key keeps.
enum class duplicate_keys {
    first,  // the first value, as a JSON Pointer lookup (simdjson's at_key) finds it
    last,   // the last value, at the first key's place, as a Python dict (extruct's JSON-LD)
};

// A copy of `element`, allocated from `storage` (the default resource when it is empty).
// Depth is bounded by simdjson's own maximum depth (1024).
boost::json::value dom_to_json(simdjson::dom::element element,
                               const boost::json::storage_ptr& storage, duplicate_keys keep);

}  // namespace harvest::pipelines
