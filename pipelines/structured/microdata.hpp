#pragma once
// schema.org / W3C microdata of an HTML page, in extruct's JSON shape (the structured_data
// corpus compares against it):
//
//   {"type": "http://schema.org/Product" | [types...], "id": itemid?,
//    "properties": {name: value | [values...]} | "value": text-of-the-item,
//    "textContent": ...?}
//
// A nested item is inlined as a property value (or {"iid_ref": n} when `nested` is false, with
// every item listed at top level carrying its document-order "iid"). Top-level items come in
// document order; an item already used as a property is not repeated (and a second use of it,
// through itemref, is null). With itemref, an item's own properties come first, then each
// referenced id's in the order listed, as extruct gives them (not the W3C tree order).
//
// Values (https://html.spec.whatwg.org/#values): meta@content; a/area/link@href,
// img/audio/video/source/embed/iframe/track@src and object@data, stripped and resolved against
// base_url (falling back to @content); data/meter@value; time@datetime; any element's @content;
// `*-input`/`*-output` properties give {valueRequired, valueName} (schema.org actions); else
// the element's text as html_text renders it (scripts, styles, comments dropped, whitespace
// collapsed, block elements on their own lines).
//
// Parsed with libxml2's HTML parser in recover mode (the tree lxml gives extruct). Pure; safe
// to call from many threads (libxml2 is initialised once).

#include <boost/json/value.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace harvest::pipelines {

struct microdata_options {
    bool nested = true;  // false: items flat, referenced by {"iid_ref": n}
    // true: `type` and every property value are always lists (extruct strict=True);
    // false: single values are not wrapped.
    bool strict = false;
    bool add_text_content = false;  // adds "textContent" (the item element's text) to items
};

// Top-level microdata items of the page, in document order. base_url may be empty (URLs are
// then kept as written). Pages over 2 GiB (libxml2's int length) give no items.
std::vector<boost::json::value> find_microdata(std::string_view html, std::string_view base_url);
std::vector<boost::json::value> find_microdata(std::string_view html, std::string_view base_url,
                                               const microdata_options& options);

// extruct's uniform=True shape: JSON-LD-like objects ({"@context", "@type", props...}); the
// context and type are split from a type URL ("http://schema.org/Product" -> context
// "http://schema.org", type "Product"). Only top-level items get "@context".
std::vector<boost::json::value> microdata_to_uniform(
    const std::vector<boost::json::value>& items,
    std::string_view schema_context = "http://schema.org");

// RFC 3986 reference resolution, as Python's urljoin does it, for the URL values of microdata
// items (itemid, href, src, ...): what extruct shows. Not the crawl's net::resolve_url, which
// follows links and redirects: this one keeps the fragment, resolves any scheme, never fails (a
// reference of another scheme comes back as written) and leaves the reference as written when
// `base` is empty.
std::string urljoin(std::string_view base, std::string_view reference);

}  // namespace harvest::pipelines
