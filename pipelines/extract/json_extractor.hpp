#pragma once
// `type: json` extraction: one item per response body, each field read with a JSON Pointer
// (RFC 6901) and converted by its `as` (docs/config.md, items.md).
//
// Conversion decisions (each documented here because config.md leaves them open):
// - A missing pointer or a JSON null gives null.
// - A value `as` cannot convert (e.g. 1.5 as integer, "abc" as number, an object as string, an
//   availability phrase that maps to no known value) also gives null, and is counted in
//   extract_outcome::values_invalid. So a `required` field with a bad value makes the item
//   invalid, and an optional one is written as null (never the unconverted original).
// - `as: string` renders numbers in their shortest round-trip text and booleans as
//   "true"/"false"; objects and arrays are invalid values.
// - `as: price` keeps a JSON number as is and parses a string with parse_price and the field's
//   hints. The currency found (or hinted) goes into the item's `currency` field after every
//   field is extracted, only when the item has no non-null `currency`; the first price field in
//   config order wins.
// - A body that is not valid JSON (empty, truncated, binary, trailing junk) is an `error`:
//   no item, no exception. The whole body is validated, not only the parts the pointers touch.
// - Duplicate keys: the first one counts (as simdjson's at_key and a pointer lookup find it),
//   whatever other fields the rule has; a later duplicate is never searched.
//
// Thread-safety: extract() is const and may run on many threads at once; the simdjson parser
// is thread_local (one per thread, reused: its buffers grow to the largest body seen).

#include "engine/crawl/sink.hpp"
#include "pipelines/item.hpp"
#include "pipelines/rules.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace harvest::pipelines {

// How many extract types there are (extract_type's enumerators are 0 .. count - 1).
inline constexpr std::size_t extract_type_count = 5;

// One extract type's share of an extract_outcome.
struct extract_counts {
    std::uint64_t emitted = 0;
    std::uint64_t invalid = 0;
    std::uint64_t error = 0;
};

// What extraction did with one page (or several pages, when summed).
struct extract_outcome {
    std::uint64_t emitted = 0;  // items appended to the output vector
    std::uint64_t invalid = 0;  // items dropped: a required field was null or missing
    // Pages a rule could not read: not valid JSON (json), not HTML (jsonld, microdata, html).
    std::uint64_t error = 0;
    std::uint64_t values_invalid = 0;  // field values `as` could not convert (written as null)
    std::uint64_t links = 0;           // links found by the follow rules (after dedup)
    // The same emitted / invalid / error split by the type of the rule that extracted, indexed
    // by static_cast<std::size_t>(extract_type); the totals above are their sums.
    std::array<extract_counts, extract_type_count> per_type{};

    // For the outcome of one rule of `type`: sets per_type[type] to emitted / invalid / error.
    void attribute_to(extract_type type) noexcept;

    extract_outcome& operator+=(const extract_outcome& other) noexcept;
};

// An RFC 6901 pointer split into unescaped reference tokens ("/a~1b/0" -> {"a/b", "0"}).
struct json_pointer {
    std::string text;  // as written in the config
    std::vector<std::string> tokens;
    // Per token: the array index it denotes ("0", "12"; not "01", "-", "+1"), if any.
    std::vector<std::optional<std::size_t>> indices;

    // Throws std::invalid_argument when `text` is neither empty nor starts with '/', or holds a
    // '~' not followed by '0' or '1'.
    static json_pointer parse(std::string_view text);
};

namespace detail {
enum class json_path {
    automatic,  // the DOM parser; On-Demand for documents with integers beyond 64 bits
    dom,        // only the DOM parser (for tests)
    on_demand,  // only the On-Demand walk (for tests)
};
// Validates the whole document and resolves each pointer: one value per pointer (nullopt where
// it leads nowhere), or nullopt when the document is not valid JSON. Parses in place when
// `body` has simdjson's padding in its capacity (the HTTP client reserves it), else a copy.
std::optional<std::vector<std::optional<boost::json::value>>> find_json_fields(
    const std::string& body, const std::vector<json_pointer>& pointers, json_path path);
}  // namespace detail

class json_extractor {
  public:
    // Throws std::invalid_argument for a rule that is not `type: json` or has a bad pointer.
    explicit json_extractor(extract_rule rule);

    // Appends at most one item to `out`. `body` must stay alive and unchanged during the call;
    // when body.capacity() >= body.size() + 64 (SIMDJSON_PADDING) it is parsed in place, else
    // copied once into a padded buffer.
    extract_outcome extract(const crawl::fetched_page& page, std::vector<item>& out) const;

    // The same from the parts (tests, tools): `url`, `fetched_at` and `status` start the item.
    extract_outcome extract(std::string_view url, std::chrono::system_clock::time_point fetched_at,
                            unsigned status, const std::string& body, std::vector<item>& out) const;

    const extract_rule& rule() const noexcept { return rule_; }

  private:
    extract_rule rule_;
    std::vector<json_pointer> pointers_;  // one per rule_.fields, same order
};

}  // namespace harvest::pipelines
