#pragma once
// The html fields of a page through both extraction paths, which must agree: the libxml2 tree
// (extract_html_fields) and the tree-less tokenizer (extract_html_fields_fast). Used by the
// tests of url fields and of field post-processing.

#include "pipelines/html/fast_html.hpp"
#include "pipelines/html/html.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace html_test {

// The fields of `page` at `url`; both paths must give the same fields and count the same
// invalid values, which `invalid` receives when given.
inline boost::json::object extract_both(const std::string& page, const std::string& url,
                                        const std::vector<harvest::pipelines::field_rule>& rules,
                                        std::uint64_t* invalid = nullptr) {
    using namespace harvest::pipelines;
    const std::vector<html_field> fields(rules.begin(), rules.end());
    std::uint64_t tree_invalid = 0;
    auto tree = extract_html_fields(html_document::parse(page, url), fields, rules, &tree_invalid);
    const auto selection = fast_html_selection::compile(fast_selection_rules(rules));
    REQUIRE(selection);
    std::uint64_t fast_invalid = 0;
    const auto fast = extract_html_fields_fast(*selection, page, rules, &fast_invalid, url);
    REQUIRE(fast);
    CHECK(*fast == tree);
    CHECK(fast_invalid == tree_invalid);
    if (invalid != nullptr) {
        *invalid = tree_invalid;
    }
    return tree;
}

}  // namespace html_test
