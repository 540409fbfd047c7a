#pragma once
// The `extract` section compiled once: for each page, the first rule (in config order) whose
// `match` regex is found in the page URL, per extract type, extracts items.
//
// The URL matched is the final URL (after redirects), the same one the items carry in `url`;
// the request URL when the response has none.
//
// Thread-safety: immutable after construction; extract() may run on many threads at once.

#include "engine/crawl/sink.hpp"
#include "pipelines/extract/json_extractor.hpp"
#include "pipelines/item.hpp"
#include "pipelines/rules.hpp"

#include <regex>
#include <string_view>
#include <vector>

namespace harvest::pipelines {

class extractor_set {
public:
    // Throws std::invalid_argument for a bad `match` regex or JSON Pointer, and for the
    // extract types not implemented yet (jsonld, microdata, html: "not supported yet").
    explicit extractor_set(std::vector<extract_rule> rules);

    // Appends the page's items to `out`. Never throws on what a server can send.
    extract_outcome extract(const crawl::fetched_page& page, std::vector<item>& out) const;

    std::size_t size() const noexcept { return rules_.size(); }

private:
    struct compiled_rule {
        extract_type type;
        std::regex match;  // ECMAScript, searched (not fully matched) in the URL
        json_extractor json;
    };
    std::vector<compiled_rule> rules_;
};

std::string_view to_string(extract_type type) noexcept;

}  // namespace harvest::pipelines
