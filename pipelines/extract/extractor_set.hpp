#pragma once
// The `extract` and `follow` sections compiled once, applied to every fetched page.
//
// Extraction (docs/config.md, items.md): per extract type (json, jsonld, microdata,
// html), the first rule in config order whose `match` regex is found in the page URL extracts
// items. So one page may give json items from one rule and jsonld items from another, but never
// items from two jsonld rules. The URL matched is the final URL (after redirects), the same one
// the items carry in `url`; the request URL when the response has none.
//
//   json       one item per body (json_extractor.hpp); a body that is not JSON is an `error`.
//   jsonld     schema Product: one item per Product among the page's JSON-LD values
//              (products_from_jsonld), fields url, fetched_at, status, then the product fields
//              of items.md in their order. No schema: one item per page, field `jsonld` = every
//              top-level JSON-LD value (find_jsonld), emitted even when the list is empty.
//   microdata  schema Product: likewise from the microdata items (products_from_microdata). No
//              schema: one item per page, field `microdata` = the page's top-level microdata
//              items (find_microdata, extruct's nested shape), emitted even when empty.
//   html       one item per page from `fields` (css or xpath; text / attribute; as), values as
//              extract_html_fields gives them.
//
// `required` applies to every type: an item with a required field missing, null, or an empty
// list is counted `invalid` and not emitted (so `required: [jsonld]` skips pages without
// JSON-LD).
//
// Only bodies that look like HTML feed jsonld, microdata and html rules (looks_like_html below);
// a matching rule on any other body counts one `error` for its type and gives no item.
//
// Links (`follow`): only from HTML-looking bodies. Every rule's links (link_rule: css or xpath,
// resolved against <base href> or the page URL, fragments dropped, allow / deny on the path) in
// rule order, duplicates across rules dropped. A rule with max_depth N > 0 gives no links on a
// page of depth N or more (its links would have depth page depth + 1 > N); engine.max_depth is
// the crawler's business. The page is parsed into one html_document shared by the html rule and
// the follow rules (microdata parses on its own, JSON-LD is a byte scan).
//
// Thread-safety: immutable after construction; extract() may run on many threads at once
// (documents are per call; compiled XPath is pooled per html_field, see pipelines/html/html.hpp).

#include "engine/crawl/sink.hpp"
#include "pipelines/extract/json_extractor.hpp"
#include "pipelines/extract/product_fields.hpp"
#include "pipelines/html/fast_html.hpp"
#include "pipelines/html/html.hpp"
#include "pipelines/item.hpp"
#include "pipelines/rules.hpp"

#include <array>
#include <cstddef>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace harvest::pipelines {

// Every extract type, in enum order (extract_outcome::per_type and pipeline_stats::extractors
// are indexed by static_cast<std::size_t>(extract_type)).
inline constexpr std::array<extract_type, extract_type_count> all_extract_types = {
    extract_type::json, extract_type::jsonld, extract_type::microdata, extract_type::html,
    extract_type::product};

// True when `response` is an HTML page: a Content-Type of text/html or application/xhtml+xml
// (parameters and case ignored); without a Content-Type header, a body whose first KiB holds
// `<html` or `<!doctype html` (any case).
bool looks_like_html(const net::http_response& response);

class extractor_set {
  public:
    // Throws std::invalid_argument for a bad `match` regex, JSON Pointer, CSS selector, XPath or
    // allow / deny regex, an html rule without fields, a `schema` other than Product, and a
    // `required` name that a schema Product item cannot hold.
    explicit extractor_set(std::vector<extract_rule> rules, std::vector<follow_rule> follow = {});

    // Appends the page's items to `out`. Never throws on what a server can send.
    extract_outcome extract(const crawl::fetched_page& page, std::vector<item>& out) const;

    // The same, and appends the absolute URLs the follow rules find (each once) to `links`.
    extract_outcome extract(const crawl::fetched_page& page, std::vector<item>& out,
                            std::vector<std::string>& links) const;
    // The same, and for each link appended, 1 + the index of the follow rule that found it
    // first (its headers and meta go with the link's request).
    extract_outcome extract(const crawl::fetched_page& page, std::vector<item>& out,
                            std::vector<std::string>& links,
                            std::vector<std::uint32_t>& link_rules) const;

    std::size_t size() const noexcept { return rules_.size(); }
    std::size_t follow_size() const noexcept { return follow_.size(); }

  private:
    // Every applicable follow rule's links, in rule order, each once; `links_of(rule)` gives
    // one rule's.
    template <typename Links>
    std::vector<std::string> merge_links(unsigned link_depth, Links&& links_of,
                                         std::vector<std::uint32_t>& rules) const;
    // merge_links on the tree-less path; nullopt when a rule has none or the page is declined.
    std::optional<std::vector<std::string>> links_fast(std::string_view page, std::string_view url,
                                                       unsigned link_depth,
                                                       std::vector<std::uint32_t>& rules) const;

    struct compiled_rule {
        extract_rule rule;
        std::regex match;                    // ECMAScript, searched (not fully matched) in the URL
        std::optional<json_extractor> json;  // type json
        std::vector<html_field> fields;      // type html and product, one per rule.fields
        // Set when `match` has no regex metacharacter: then searching the regex is finding
        // this substring, without running std::regex's executor on every page.
        std::optional<std::string> literal;
        std::optional<fast_html_selection>
            fast;  // html, product: the tree-less path, if it applies
    };

    extract_outcome run(const compiled_rule& rule, const crawl::fetched_page& page,
                        std::string_view url, const html_document* document, std::vector<item>& out,
                        boost::json::object* fast_fields = nullptr,
                        std::uint64_t fast_invalid = 0) const;

    // type product: one item of the product fields merged from the rule's sources, then its
    // html fields that are not product fields.
    extract_outcome run_product(const compiled_rule& rule, const crawl::fetched_page& page,
                                std::string_view url, const html_document* document,
                                std::vector<item>& out, boost::json::object* fast_fields,
                                std::uint64_t fast_invalid) const;

    std::vector<compiled_rule> rules_;
    std::vector<link_rule> follow_;
};

std::string_view to_string(extract_type type) noexcept;

}  // namespace harvest::pipelines
