#pragma once
// JSON-LD blocks of an HTML page (docs/items.md, the raw `jsonld` list).
//
// The page is scanned as bytes, without a DOM: a JSON-LD block is the raw text of a <script>
// element whose `type` attribute, trimmed and lowercased, is `application/ld+json` (parameters
// after ';' ignored). Tag and attribute names match case-insensitively; values may be double-,
// single- or un-quoted. Like an HTML parser, the scanner skips comments (<!-- -->) and the raw
// text of other <script>/<style> elements, and an unclosed script runs to the end of the page.
//
// Each block is parsed with simdjson (DOM). A block that is not strict JSON gets a lenient
// second pass, modelled on extruct: JS comments (//, /* */) and HTML comment lines are dropped,
// raw control characters in strings are escaped, JavaScript escapes (\' \xNN, stray
// backslashes) are repaired, trailing commas are allowed, and as many complete JSON values as
// the block starts with are kept (trailing junk dropped). A block that still yields nothing
// contributes nothing; it never affects the other blocks.
//
// A block holding an array contributes its elements, an object contributes itself, a bare
// scalar nothing; "falsy" values (null, false, 0, "", {}, []) are dropped, as extruct does.
//
// Thread-safety: pure; the simdjson parser is thread_local.

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

namespace harvest::pipelines {

enum class jsonld_scope {
    all,       // every value, whole
    products,  // only the Product objects products_from_jsonld would find (product.hpp), each
               // with only the keys normalize_product reads: the same products, without
               // converting the rest of the page's JSON-LD (reviews, breadcrumbs, ...). A page
               // where such a product names a node by "@id" gives its whole values instead
               // (the node may be anywhere in its graph).
};

// Every top-level JSON-LD value of the page, in document order.
std::vector<boost::json::value> find_jsonld(std::string_view html,
                                            jsonld_scope scope = jsonld_scope::all);

// The page's products, normalized (product.hpp): products_from_jsonld(find_jsonld(html,
// jsonld_scope::products)), but read from simdjson's parsed document in place, with no copy
// into Boost.JSON, when every JSON-LD block is strict JSON and no product names a node by "@id"
// (most pages); any other page takes that path. Each product's fields follow a copy of
// `header`'s (an item's url, fetched_at and status), so a product is its item as built.
std::vector<boost::json::object> jsonld_products(std::string_view html,
                                                 const boost::json::object& header = {});

// The values one block's text contributes (exposed for tests and for callers that already
// hold a script's text). Same rules as find_jsonld.
std::vector<boost::json::value> parse_jsonld_block(std::string_view text,
                                                   jsonld_scope scope = jsonld_scope::all);

// The href of the page's first <base> element with one, as written (trimmed), looked for before
// <body> (where a <base> belongs); comments and the raw text of scripts and styles skipped.
std::optional<std::string_view> find_base_href(std::string_view html);

namespace detail {
// Where the next '<' that may open a comment, <script> or <style> is ("<!", or "<sc" then 'r',
// or "<st" then 'y', letters in either case), from `from` on; npos when none. AVX2 when the CPU has
// it and `allow_avx2`, else SSE2 (exposed so tests check the two agree).
std::size_t find_raw_text_open(std::string_view html, std::size_t from,
                               bool allow_avx2 = true) noexcept;

// jsonld_products' first way: the products read in place, or nothing when the page needs
// products_from_jsonld (a block that is not strict JSON, a product naming a node by "@id").
std::optional<std::vector<boost::json::object>> jsonld_products_in_place(
    std::string_view html, const boost::json::object& header = {});
}  // namespace detail

}  // namespace harvest::pipelines
