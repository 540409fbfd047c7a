#pragma once
// HTML selection for `type: html` extraction and `follow` link discovery
// (docs/config.md): CSS selectors compiled to XPath 1.0, libxml2's HTML parser, compiled
// XPath per field, link resolution with Boost.URL. Pure functions over a page's bytes: no I/O.
//
// Thread-safety: an html_document is immutable after parse(); its const members may run on many
// threads at once. html_field and link_rule are immutable after construction; their const
// members may run on many threads at once (each evaluation uses its own XPath context and its
// own compiled expression, see html_field).
//
// libxml2 is initialized once (std::call_once) and never cleaned up here. Its error output is
// silenced around every parse and evaluation (the per-thread handlers are saved and restored),
// so broken pages do not spam stderr and other libxml2 users keep their handlers.

#include "pipelines/html/fast_html.hpp"
#include "pipelines/rules.hpp"

#include <boost/json/object.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

// libxml2's types, declared here so users of this header do not include libxml2.
struct _xmlDoc;
struct _xmlNode;

namespace harvest::pipelines {

namespace html_detail {
class simple_selector;
}

// A selector that css_to_xpath cannot compile. `offset()` is the 0-based byte offset in the
// selector where the problem was found (the selector's size at its end), so config validation
// can point at the column.
class css_syntax_error : public std::invalid_argument {
  public:
    css_syntax_error(const std::string& message, std::size_t offset)
        : std::invalid_argument(message), offset_(offset) {}
    std::size_t offset() const noexcept { return offset_; }

  private:
    std::size_t offset_;
};

// CSS selectors (Selectors level 3 subset) to an XPath 1.0 expression evaluated from the
// document node. Supported: type selectors (ASCII case-insensitive, as libxml2 lowercases HTML
// names), `*`, `#id`, `.class` (whitespace-separated token match), `[attr]`, `[attr=v]`,
// `[attr~=v]`, `[attr^=v]`, `[attr$=v]`, `[attr*=v]`, `[attr|=v]` with the value quoted or not
// and an optional ` i` / ` s` case flag, the combinators descendant, `>`, `+` and `~`,
// `:first-child`, `:last-child`, `:only-child`, `:nth-child(an+b | odd | even)`,
// `:nth-last-child(...)`, `:not(compound)` and selector lists (`a, b` -> XPath union, document
// order). CSS escapes (`\.`, `\31 `) are decoded. Anything else (pseudo-elements, `:hover`,
// namespaces, relative selectors like `> a`) throws css_syntax_error naming the offset and what
// was expected there.
//
// Matching is right to left (`div.item a` -> `//a[ancestor::div[...]]`), linear in the
// document times the depth. Positional pseudo-classes on the last compound use position() /
// last(); on earlier compounds they count siblings (linear in the siblings per candidate).
std::string css_to_xpath(std::string_view css);

// A parsed HTML page. Move-only owner of a libxml2 document.
//
// Encoding: a byte order mark (UTF-8, UTF-16LE/BE) wins; else a <meta charset> or <meta
// http-equiv="Content-Type" content="...; charset=..."> in the first 8 KiB; else UTF-8. Legacy
// encodings are decoded with iconv (the WHATWG aliases latin1 / iso-8859-1 / us-ascii mean
// windows-1252); an unknown label means UTF-8. Bytes that are invalid in the chosen encoding
// and NUL bytes become U+FFFD, so libxml2 always sees valid UTF-8 (its own encoding switches
// are disabled with HTML_PARSE_IGNORE_ENC).
//
// Broken markup yields what libxml2's recovering parser finds; empty or hopeless input yields
// an empty document (every selection finds nothing). Never throws on input bytes (only
// std::bad_alloc).
class html_document {
  public:
    static html_document parse(std::string_view bytes, std::string_view url);

    html_document(html_document&& other) noexcept;
    html_document& operator=(html_document&& other) noexcept;
    html_document(const html_document&) = delete;
    html_document& operator=(const html_document&) = delete;
    ~html_document();

    // Null when the parser produced no document at all (e.g. empty input).
    _xmlDoc* get() const noexcept { return doc_; }
    const std::string& url() const noexcept { return url_; }
    // The charset the bytes were decoded from ("UTF-8", "windows-1252", "UTF-16LE", ...).
    const std::string& encoding() const noexcept { return encoding_; }

  private:
    html_document() = default;

    _xmlDoc* doc_ = nullptr;
    std::string url_;
    std::string encoding_;
};

// One field's compiled selection (a field_rule's css or xpath; css wins when both are set).
//
// An element's normalized text is the text as a reader sees it: its text nodes in document
// order (script, style, template and noscript contents left out), a space at <br> and at
// block-level element boundaries (so "<td>a</td><td>b</td>" reads "a b"), entities decoded by
// the parser, then normalize_space.
//
// Values per selected node:
// - `attribute: NAME` set: the attribute's value on selected elements (elements without it are
//   skipped; normalize_space applied when `text: true` too); attribute or text nodes selected
//   by xpath give their string value.
// - `text: true`: normalized text of elements; normalize_space of attribute, text node and
//   string results.
// - neither: elements give normalized text; attribute, text, comment nodes and string results
//   give their string value as is.
// An XPath returning a string gives it unless it is empty (string(//missing) is ""); a number
// gives its shortest text ("12", "1.5"); a boolean "true" / "false".
//
// One evaluation is bounded to 200 million libxml2 XPath operations (a few seconds): a
// selection that would take longer (a quadratic selector on a hostile page) selects nothing.
//
// A css selector made only of type / `*`, `#id`, `.class`, `[attr]`, `[attr=v]` compounds and
// descendant / `>` combinators is matched on the tree directly (same nodes, same order, no
// XPath: several times faster); the xpath() string is still its translation.
//
// The XPath is compiled in the constructor (errors throw std::invalid_argument) and again per
// concurrent evaluation: libxml2 caches function lookups inside a compiled expression while
// evaluating it, so one compiled expression is never evaluated by two threads at once. Compiled
// copies are kept in a small pool shared by copies of this object.
class html_field {
  public:
    explicit html_field(const field_rule& rule);

    std::optional<std::string> first(const html_document& document) const;
    std::vector<std::string> all(const html_document& document) const;

    const std::string& xpath() const noexcept { return xpath_; }

  private:
    struct compiled_pool;

    std::vector<std::string> select(const html_document& document, bool first_only) const;
    // The value(s) one selected node gives (see above), appended to `values`.
    void append_value(const _xmlNode* node, std::vector<std::string>& values) const;

    std::string xpath_;
    std::string attribute_;  // lowercased: libxml2 lowercases HTML attribute names
    bool text_ = false;
    std::shared_ptr<compiled_pool> pool_;
    std::shared_ptr<const html_detail::simple_selector> simple_;  // null: XPath
};

// Links for one `follow` rule.
//
// The rule's css (elements: their `href`) or xpath (elements: their `href`; attributes, text
// and strings: their value) selects the candidates. Each is stripped of surrounding whitespace
// and inner tabs / newlines, has characters URLs cannot hold percent-encoded (spaces, non-ASCII,
// `"<>\^`{|}`, a stray `%`; `\` becomes `/` as browsers do), and is resolved against the first
// <base href> (itself resolved against page_url) or page_url. Kept: absolute http and https
// URLs without their fragment, at most 8 KiB long (longer ones are skipped: no server accepts
// them and std::regex recursion grows with the input). Skipped: empty and fragment-only
// references ("#top": the page itself), other schemes (javascript:, mailto:, data:, tel:, ...),
// references that do not parse. Then the allow / deny regexes (ECMAScript, searched in the
// resolved URL's encoded path): deny wins; no allow means allow all. Duplicates are dropped,
// document order is kept.
class link_rule {
  public:
    // Throws std::invalid_argument on a bad selector or regex.
    explicit link_rule(const follow_rule& rule);

    std::vector<std::string> links(const html_document& document, std::string_view page_url) const;
    // The same links without a tree (fast_html.hpp's tokenizer), for a css rule in the simple
    // subset; nullopt when the rule has no such path or the tokenizer declines the page (then
    // parse the page and call links()).
    std::optional<std::vector<std::string>> links_fast(std::string_view page,
                                                       std::string_view page_url) const;

    const follow_rule& rule() const noexcept { return rule_; }

  private:
    std::vector<std::string> resolve_all(const std::vector<std::string>& candidates,
                                         const std::optional<std::string>& base_href,
                                         std::string_view page_url) const;

    follow_rule rule_;
    html_field selection_;
    // The rule's hrefs and the first <base href>, in one pass of the tokenizer.
    std::optional<fast_html_selection> fast_;
    std::vector<std::regex> allow_;
    std::vector<std::regex> deny_;
};

// A field's `regex` (ECMAScript), compiled: throws std::invalid_argument when it does not
// compile.
std::shared_ptr<const field_pattern> make_field_pattern(const std::string& regex);

// What a field's `regex` keeps of `text`: its first match's first group (the whole match when
// the regex has no group); nullopt when it does not match (or the group did not take part).
std::optional<std::string> apply_field_pattern(const field_pattern& pattern, std::string_view text);

// Where a page's relative references point: its first <base href> (itself resolved against the
// page's URL) or its URL.
class reference_base {
  public:
    reference_base(std::string_view page_url, const std::optional<std::string>& base_href);

    // `reference` (cleaned as browsers do: see link_rule) as an absolute URL, fragment kept;
    // nullopt when it is empty or does not resolve.
    std::optional<std::string> resolve(std::string_view reference) const;

  private:
    std::string base_;  // an absolute URL, or empty (only absolute references resolve)
};

// The first <base> with an href on the page, its href as written.
std::optional<std::string> first_base_href(const html_document& document);

// Attributes whose value is a URL (href, src, srcset, action, poster, cite, data, formaction,
// longdesc, background, usemap, manifest, ping, itemid): an html field reading one is as: url
// unless it says `as` or `raw: true`.
bool is_url_attribute(std::string_view attribute);
// The kind a field's first value is converted to (`as`, or url by the rule above).
value_kind effective_kind(const field_rule& rule);
// True when some field is url-valued (the page's base is needed).
bool needs_reference_base(const std::vector<field_rule>& rules);

// The candidate of a srcset attribute a client would fetch at the largest size: the largest
// width descriptor (w), else the largest density (x; 1x when none), the first on a tie; "" when
// there is none. (HTML's srcset parsing: a URL is a run of non-whitespace whose trailing commas
// end the candidate.)
std::string best_srcset_candidate(std::string_view srcset);

// Runs of ASCII whitespace and U+00A0 (no-break space) collapsed to one space, trimmed. The
// last step of an element's normalized text (html_field).
std::string normalize_space(std::string_view text);

// `type: html` extraction of one page: fields[i] selects rules[i] (same order, same size), the
// first value converted by rules[i].as like the JSON extractor does: raw / string keep the text;
// number, integer and boolean read the trimmed text ("12.5", "3", "true" / "false", any case);
// price uses parse_price with the rule's hints; availability uses normalize_availability. A
// missing value or one `as` cannot convert is null (the latter also counted in
// *values_invalid when given). The currency of the first price field (in order) that found or
// was hinted one goes into a `currency` field unless the item already has a non-null one.
// url resolves the value (a srcset's best candidate, for a srcset attribute) against the page's
// reference_base; one that does not resolve is null and counted invalid.
// Returns the fields only; the caller puts url / fetched_at / status first.
boost::json::object extract_html_fields(const html_document& document,
                                        const std::vector<html_field>& fields,
                                        const std::vector<field_rule>& rules,
                                        std::uint64_t* values_invalid = nullptr);

// The conversion half of extract_html_fields: selected[i] holds the values rules[i] selected
// (every one for an `all` field, else the first or none), post-processed (regex, join,
// default), converted and collected the same way: an `all` field gives a list of its values
// that convert (invalid ones counted, left out). `base` resolves url values (null: a url value
// is null, counted invalid).
boost::json::object convert_html_fields(std::vector<std::vector<std::string>> selected,
                                        const std::vector<field_rule>& rules,
                                        std::uint64_t* values_invalid = nullptr,
                                        const reference_base* base = nullptr);

}  // namespace harvest::pipelines
