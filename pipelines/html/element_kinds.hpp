#pragma once
// Internal to harvest_html: the element names normalized text (html_field, docs/items.md) reads
// specially, shared by the libxml2 tree walk (html_field.cpp) and the tree-less one
// (fast_html.cpp) so the two cannot disagree.

#include <algorithm>
#include <iterator>
#include <string_view>

namespace harvest::pipelines::html_detail {

// Elements whose contents are not text a reader sees: left out of normalized text.
inline constexpr std::string_view hidden_elements[] = {"script", "style", "template", "noscript"};

// Elements that start a new line when rendered: their boundaries separate words.
inline constexpr std::string_view block_elements[] = {
    "address", "article", "aside",  "blockquote", "br",      "caption",  "dd",
    "details", "dialog",  "div",    "dl",         "dt",      "fieldset", "figcaption",
    "figure",  "footer",  "form",   "h1",         "h2",      "h3",       "h4",
    "h5",      "h6",      "header", "hr",         "li",      "main",     "nav",
    "ol",      "option",  "p",      "pre",        "section", "summary",  "table",
    "tbody",   "td",      "tfoot",  "th",         "thead",   "tr",       "ul"};

inline bool is_hidden_element_name(std::string_view name) {
    return std::find(std::begin(hidden_elements), std::end(hidden_elements), name) !=
           std::end(hidden_elements);
}

inline bool is_block_element_name(std::string_view name) {
    return std::find(std::begin(block_elements), std::end(block_elements), name) !=
           std::end(block_elements);
}

}  // namespace harvest::pipelines::html_detail
