#pragma once
// Tree-less `type: html` selection (issue #4): a streaming HTML tokenizer that tracks the open
// elements the way libxml2's HTML parser does (implied html / head / body, void elements, the
// start tags that close open ones, end-tag priorities, unclosed elements at the end) and matches
// the common CSS selectors (simple_selector.hpp) against that stack as elements open. Building
// and freeing libxml2's tree is ~85% of html extraction; this path never builds one.
//
// The values are the ones html_field gives on html_document::parse of the same bytes (same
// decoding, same entity decoding, same normalized text). Whenever the tokenizer meets something
// whose libxml2 recovery it does not model (text outside body, stray `<`, a misplaced or second
// html / head / body tag, unterminated tags or comments, processing instructions, invalid
// character references, a selection that could exceed html_field's work bound, ...) it declines
// and the caller uses the libxml2 path. tests/unit/html/fast_html_test.cpp checks both paths
// against each other on fixed, generated and random malformed pages.

#include "pipelines/rules.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace harvest::pipelines {

// The fields of one html rule, compiled for the tree-less path. Immutable after compile(); its
// const members may run on many threads at once.
class fast_html_selection {
  public:
    // The selection when every field is a `css` rule in the simple subset (at most 64 compounds
    // in all), else nullopt (then only the libxml2 path applies).
    static std::optional<fast_html_selection> compile(const std::vector<field_rule>& rules);

    // Per field, in rule order: the values html_field::all (first_only: html_field::first, at
    // most one value) gives for the page `bytes`. nullopt when the tokenizer declined the page.
    std::optional<std::vector<std::vector<std::string>>> select(std::string_view bytes,
                                                                bool first_only) const;

    struct program;

  private:
    std::shared_ptr<const program> program_;
};

// The rules to compile a fast_html_selection from for extract_html_fields_fast: `rules`, plus
// the first <base href> when some field is url-valued.
std::vector<field_rule> fast_selection_rules(const std::vector<field_rule>& rules);

// extract_html_fields on the tree-less path, with a selection compiled from
// fast_selection_rules(rules): nullopt when the page was declined (then parse it and call
// extract_html_fields). `page_url` resolves url-valued fields.
std::optional<boost::json::object> extract_html_fields_fast(const fast_html_selection& selection,
                                                            std::string_view bytes,
                                                            const std::vector<field_rule>& rules,
                                                            std::uint64_t* values_invalid = nullptr,
                                                            std::string_view page_url = {});

}  // namespace harvest::pipelines
