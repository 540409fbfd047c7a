#include "pipelines/structured/jsonld.hpp"

#include "engine/core/text.hpp"
#include "pipelines/structured/detail/product_normalize.hpp"
#include "pipelines/structured/dom_to_json.hpp"
#include "pipelines/structured/html_space.hpp"
#include "pipelines/structured/json_tree.hpp"
#include "pipelines/structured/product.hpp"

#include <simdjson.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/stream_parser.hpp>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>

namespace harvest::pipelines {

namespace {

namespace product_rules = detail::product_rules;

constexpr std::size_t npos = std::string_view::npos;

// True when `text` has `literal` at `pos`, ASCII case-insensitively.
bool starts_with_nocase(std::string_view text, std::size_t pos, std::string_view literal) noexcept {
    return pos <= text.size() && core::istarts_with(text.substr(pos), literal);
}

std::size_t find_char(std::string_view text, char c, std::size_t from) noexcept {
    if (from >= text.size()) {
        return npos;
    }
    const void* hit = std::memchr(text.data() + from, c, text.size() - from);
    if (hit == nullptr) {
        return npos;
    }
    return static_cast<std::size_t>(static_cast<const char*>(hit) - text.data());
}

// Position of "</name" (case-insensitive) at or after `from`, else npos. memchr on '<' keeps
// this at memory speed on long scripts.
std::size_t find_end_tag(std::string_view text, std::size_t from, std::string_view name) {
    for (std::size_t lt = find_char(text, '<', from); lt != npos;
         lt = find_char(text, '<', lt + 1)) {
        if (lt + 1 < text.size() && text[lt + 1] == '/' && starts_with_nocase(text, lt + 2, name)) {
            return lt;
        }
    }
    return npos;
}

// "application/ld+json", "Application/LD+JSON ; charset=utf-8" -> true.
bool is_jsonld_type(std::string_view type) noexcept {
    if (auto semicolon = type.find(';'); semicolon != npos) {
        type = type.substr(0, semicolon);
    }
    type = trim_html_space(type);
    constexpr std::string_view wanted = "application/ld+json";
    return type.size() == wanted.size() && starts_with_nocase(type, 0, wanted);
}

struct start_tag {
    std::size_t end = npos;  // index just past '>', npos when the tag never closes
    bool found = false;      // it has the attribute asked for
    std::string_view value;  // the first such attribute's value, as written
};

// Reads the attributes of a start tag from `pos` (just after the tag name) to its '>', keeping
// the value of the first attribute named `wanted` (ASCII lowercase). Follows the HTML
// tokenizer closely enough for attribute values holding '>' or quotes.
start_tag scan_attributes(std::string_view html, std::size_t pos, std::string_view wanted) {
    start_tag tag;
    const std::size_t n = html.size();
    while (pos < n) {
        while (pos < n && (is_html_space(html[pos]) || html[pos] == '/')) {
            ++pos;
        }
        if (pos >= n) {
            break;
        }
        if (html[pos] == '>') {
            tag.end = pos + 1;
            return tag;
        }
        const std::size_t name_begin = pos;
        ++pos;  // a name may start with '=' (the tokenizer takes it as part of the name)
        while (pos < n && !is_html_space(html[pos]) && html[pos] != '/' && html[pos] != '>' &&
               html[pos] != '=') {
            ++pos;
        }
        const std::string_view name = html.substr(name_begin, pos - name_begin);
        while (pos < n && is_html_space(html[pos])) {
            ++pos;
        }
        std::string_view value;
        if (pos < n && html[pos] == '=') {
            ++pos;
            while (pos < n && is_html_space(html[pos])) {
                ++pos;
            }
            if (pos < n && (html[pos] == '"' || html[pos] == '\'')) {
                const std::size_t close = find_char(html, html[pos], pos + 1);
                if (close == npos) {
                    return tag;  // unterminated quote: the tag never ends
                }
                value = html.substr(pos + 1, close - pos - 1);
                pos = close + 1;
            } else {
                const std::size_t value_begin = pos;
                while (pos < n && !is_html_space(html[pos]) && html[pos] != '>') {
                    ++pos;
                }
                value = html.substr(value_begin, pos - value_begin);
            }
        }
        // HTML keeps the first of duplicate attributes.
        if (!tag.found && name.size() == wanted.size() && starts_with_nocase(name, 0, wanted)) {
            tag.found = true;
            tag.value = value;
        }
    }
    return tag;
}

// --- parsing one block ---------------------------------------------------------------------

bool is_truthy(const boost::json::value& v) noexcept {
    switch (v.kind()) {
        case boost::json::kind::null:
            return false;
        case boost::json::kind::bool_:
            return v.get_bool();
        case boost::json::kind::int64:
            return v.get_int64() != 0;
        case boost::json::kind::uint64:
            return v.get_uint64() != 0;
        case boost::json::kind::double_:
            return v.get_double() != 0.0;
        case boost::json::kind::string:
            return !v.get_string().empty();
        case boost::json::kind::array:
            return !v.get_array().empty();
        case boost::json::kind::object:
            return !v.get_object().empty();
    }
    return false;
}

// extruct's rule: an array contributes its truthy elements, an object itself (when non-empty),
// anything else nothing.
void contribute(boost::json::value value, std::vector<boost::json::value>& out) {
    if (value.is_array()) {
        for (auto& element : value.get_array()) {
            if (is_truthy(element)) {
                out.push_back(std::move(element));
            }
        }
    } else if (value.is_object() && !value.get_object().empty()) {
        out.push_back(std::move(value));
    }
}

// JSON-LD goes to Boost.JSON as a Python dict keeps it, as extruct reads it. `storage` is one
// page's monotonic arena: a JSON-LD block of a product page (offers, reviews) is thousands of
// small strings, objects and arrays, all dropped together once its items are built; bump
// allocation there costs a fraction of malloc and free for each.
boost::json::value to_boost(simdjson::dom::element element,
                            const boost::json::storage_ptr& storage) {
    return dom_to_json(element, storage, duplicate_keys::last);
}

// Strict JSON fast path: the parsed document, valid until this thread's next call; nothing when
// simdjson rejects the text. `text` lies within `page`: simdjson reads up to SIMDJSON_PADDING
// bytes past a document's end (their contents do not matter), so a block followed by that much
// of its page, as a JSON-LD block is by its </script> and the rest of the page, is parsed where
// it is; one that is not is copied into a padded buffer first.
std::optional<simdjson::dom::element> parse_strict(std::string_view text, std::string_view page) {
    thread_local simdjson::dom::parser parser;
    thread_local std::string padded;
    const char* data = text.data();
    const std::size_t after = static_cast<std::size_t>(page.data() + page.size() - text.data()) -
                              text.size();  // bytes of the page after the block
    if (after < simdjson::SIMDJSON_PADDING) {
        padded.assign(text);
        padded.append(simdjson::SIMDJSON_PADDING, '\0');
        data = padded.data();
    }
    simdjson::dom::element root;
    if (parser.parse(data, text.size(), false).get(root) != simdjson::SUCCESS) {
        return std::nullopt;
    }
    return root;
}

void append_control_escape(std::string& out, unsigned char c) {
    switch (c) {
        case '\n':
            out += "\\n";
            return;
        case '\r':
            out += "\\r";
            return;
        case '\t':
            out += "\\t";
            return;
        case '\b':
            out += "\\b";
            return;
        case '\f':
            out += "\\f";
            return;
        default: {
            static constexpr char digits[] = "0123456789abcdef";
            out += "\\u00";
            out += digits[c >> 4];
            out += digits[c & 0xF];
        }
    }
}

// Rewrites a lenient block into JSON Boost.JSON can read (with comments and trailing commas
// allowed): comments outside strings become a space, HTML comment markers go, strings get
// their raw control characters escaped and their JavaScript escapes repaired.
std::string sanitize(std::string_view in) {
    std::string out;
    out.reserve(in.size() + 16);
    const std::size_t n = in.size();
    bool in_string = false;
    bool cdata_open = false;
    std::size_t i = 0;
    while (i < n) {
        const char c = in[i];
        if (in_string) {
            if (c == '"') {
                in_string = false;
                out += c;
                ++i;
            } else if (c == '\\') {
                if (i + 1 >= n) {
                    out += "\\\\";
                    ++i;
                    continue;
                }
                const char e = in[i + 1];
                if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                    e == 'r' || e == 't') {
                    out += c;
                    out += e;
                    i += 2;
                } else if (e == 'u' && i + 6 <= n && core::is_ascii_hex(in[i + 2]) &&
                           core::is_ascii_hex(in[i + 3]) && core::is_ascii_hex(in[i + 4]) &&
                           core::is_ascii_hex(in[i + 5])) {
                    out.append(in.substr(i, 6));
                    i += 6;
                } else if (e == 'x' && i + 4 <= n && core::is_ascii_hex(in[i + 2]) &&
                           core::is_ascii_hex(in[i + 3])) {
                    out += "\\u00";  // a JavaScript hex escape
                    out += in[i + 2];
                    out += in[i + 3];
                    i += 4;
                } else if (e == '\'') {
                    out += '\'';  // a JavaScript habit: JSON needs no escape for it
                    i += 2;
                } else {
                    // Most likely a literal backslash (a Windows path, a regex): keep it.
                    out += "\\\\";
                    ++i;
                }
            } else if (static_cast<unsigned char>(c) < 0x20) {
                append_control_escape(out, static_cast<unsigned char>(c));
                ++i;
            } else {
                out += c;
                ++i;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
            out += c;
            ++i;
        } else if (c == '/' && i + 1 < n && in[i + 1] == '/') {
            const std::size_t eol = in.find('\n', i + 2);
            i = eol == npos ? n : eol;
            out += ' ';
        } else if (c == '/' && i + 1 < n && in[i + 1] == '*') {
            const std::size_t close = in.find("*/", i + 2);
            i = close == npos ? n : close + 2;
            out += ' ';
        } else if (c == '<' && in.compare(i, 4, "<!--") == 0) {
            // "<!-- note -->" on one line is a comment; a "<!--" alone opens an old-style
            // wrapper around the whole value and only the marker goes.
            const std::size_t close = in.find("-->", i + 4);
            const std::size_t eol = in.find('\n', i + 4);
            i = (close != npos && (eol == npos || close < eol)) ? close + 3 : i + 4;
            out += ' ';
        } else if (c == '-' && in.compare(i, 3, "-->") == 0) {
            i += 3;
            out += ' ';
        } else if (c == '<' && in.compare(i, 9, "<![CDATA[") == 0) {
            cdata_open = true;
            i += 9;
            out += ' ';
        } else if (cdata_open && c == ']' && in.compare(i, 3, "]]>") == 0) {
            cdata_open = false;
            i += 3;
            out += ' ';
        } else {
            out += c;
            ++i;
        }
    }
    return out;
}

bool is_json_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// Decodes as many complete JSON values as `text` starts with (comments and trailing commas
// allowed); stops at the first thing that is not one.
void decode_leading_values(std::string_view text, std::vector<boost::json::value>& out) {
    boost::json::parse_options options;
    options.allow_comments = true;
    options.allow_trailing_commas = true;
    options.allow_invalid_utf8 = true;
    options.max_depth = 1024;
    boost::json::stream_parser parser({}, options);
    std::size_t pos = 0;
    // Each turn consumes at least one byte or stops: bounded by text.size().
    while (true) {
        while (pos < text.size() && is_json_space(text[pos])) {
            ++pos;
        }
        if (pos >= text.size()) {
            return;
        }
        parser.reset();
        boost::system::error_code ec;
        const std::size_t used = parser.write_some(text.data() + pos, text.size() - pos, ec);
        if (ec) {
            return;
        }
        if (!parser.done()) {
            parser.finish(ec);
            if (ec) {
                return;
            }
        }
        if (used == 0) {
            return;
        }
        contribute(parser.release(), out);
        pos += used;
    }
}

// --- jsonld_scope::products: the Products, found on the parsed document ---------------------

// An object's fields as a Python dict keeps them: each key once, at its first place, with its
// last value.
std::vector<simdjson::dom::key_value_pair> dict_fields(const simdjson::dom::object& object) {
    std::vector<simdjson::dom::key_value_pair> fields;
    fields.reserve(object.size());
    for (simdjson::dom::key_value_pair field : object) {
        const auto same = std::find_if(fields.begin(), fields.end(),
                                       [&](const auto& kept) { return kept.key == field.key; });
        if (same == fields.end()) {
            fields.push_back(field);
        } else {
            same->value = field.value;
        }
    }
    return fields;
}

// True when a Product by its "@type" (else "type"), read in place.
bool dom_is_product(simdjson::dom::element element) {
    return product_rules::is_product_node<json_tree::dom_tree>({element, true});
}

// True when a value holds a node reference ({"@id": ...} and at most a type), which
// products_from_jsonld follows to a node that may be anywhere in the page's JSON-LD. On
// simdjson's document (json_tree::dom_tree::each_field) the earlier values of a repeated key are
// searched too, where a dict keeps only the last: that errs towards yes, which jsonld_products
// answers by taking the exact path.
template <class Tree>
bool holds_reference(typename Tree::node value, int depth) {
    using node = typename Tree::node;
    if (depth > product_search_depth) {
        return false;
    }
    bool found = false;
    if (Tree::is_array(value)) {
        Tree::each_element(value, [&](node element) {
            found = found || holds_reference<Tree>(element, depth + 1);
        });
        return found;
    }
    if (!Tree::is_object(value)) {
        return false;
    }
    bool only_id = true;
    Tree::each_field(value, [&](std::string_view key, node) {
        only_id = only_id && (key == "@id" || key == "@type");
    });
    if (only_id && Tree::is_string(Tree::member(value, "@id"))) {
        return true;
    }
    Tree::each_field(value, [&](std::string_view, node field) {
        found = found || holds_reference<Tree>(field, depth + 1);
    });
    return found;
}

// products_from_jsonld's walk over the document: a Product is taken with only the keys
// normalize_product reads and not searched further; anything else is searched. `references`
// is set when a product taken holds a node reference: the nodes it may name were not kept.
void collect_products(simdjson::dom::element element, int depth,
                      const boost::json::storage_ptr& storage, std::vector<boost::json::value>& out,
                      bool& references) {
    if (depth > product_search_depth) {
        return;
    }
    if (element.type() == simdjson::dom::element_type::ARRAY) {
        for (simdjson::dom::element child : simdjson::dom::array(element)) {
            collect_products(child, depth + 1, storage, out, references);
        }
        return;
    }
    if (element.type() != simdjson::dom::element_type::OBJECT) {
        return;
    }
    const auto fields = dict_fields(simdjson::dom::object(element));
    if (!dom_is_product(element)) {
        for (const auto& field : fields) {
            collect_products(field.value, depth + 1, storage, out, references);
        }
        return;
    }
    boost::json::object product(storage);
    for (const auto& field : fields) {
        if (is_product_field(field.key)) {
            product.emplace(field.key, to_boost(field.value, storage));
        }
    }
    // As a value (a move): holds_reference takes one, and the product given as an object was
    // copied into a temporary value, deep and out of the arena, on every page.
    boost::json::value found(std::move(product));
    references = references || holds_reference<json_tree::boost_tree>({&found}, depth);
    out.push_back(std::move(found));
}

// One block, lying within `page`; with the products scope, `references` is set when a product
// holds a node reference (the caller then takes the whole values instead).
std::vector<boost::json::value> parse_block(std::string_view text, std::string_view page,
                                            jsonld_scope scope, bool& references) {
    std::vector<boost::json::value> out;
    text = trim_html_space(text);
    if (text.empty()) {
        return out;
    }
    if (const auto root = parse_strict(text, page)) {
        // The values own their arena (a shared storage_ptr): moving them, or parts of them,
        // keeps it alive as long as needed.
        auto storage = boost::json::make_shared_resource<boost::json::monotonic_resource>();
        if (scope == jsonld_scope::all) {
            contribute(to_boost(*root, storage), out);
        } else if (root->type() == simdjson::dom::element_type::ARRAY) {
            // The top-level values, as contribute() takes them, each searched from depth 0.
            for (simdjson::dom::element child : simdjson::dom::array(*root)) {
                collect_products(child, 0, storage, out, references);
            }
        } else {
            collect_products(*root, 0, storage, out, references);
        }
        return out;
    }
    decode_leading_values(sanitize(text), out);
    return out;
}

}  // namespace

std::vector<boost::json::value> parse_jsonld_block(std::string_view text, jsonld_scope scope) {
    bool references = false;
    auto out = parse_block(text, text, scope, references);
    return references ? parse_block(text, text, jsonld_scope::all, references) : out;
}

namespace {

// True when the '<' at `i` may open a comment ("<!"), a <script> ("<sc" then 'r') or a <style>
// ("<st" then 'y'), letters in either case. The scans below find each '<' followed by '!', 's'
// or 'S' 16 or 32 positions at once and test those here, in the loop: the tags that fail
// (<span>, <section>, <select>, <strong>: a hundred on a product page) do not end the scan.
inline bool opens_raw_text(const char* data, std::size_t n, std::size_t i) noexcept {
    if (data[i] != '<' || i + 1 >= n) {
        return false;
    }
    if (data[i + 1] == '!') {
        return true;
    }
    if (i + 3 >= n || (data[i + 1] | 0x20) != 's') {
        return false;
    }
    const auto second = static_cast<char>(data[i + 2] | 0x20);
    const auto third = static_cast<char>(data[i + 3] | 0x20);
    return (second == 'c' && third == 'r') || (second == 't' && third == 'y');
}

// The first position of `mask` (bit k: position from + k) that opens_raw_text, else npos.
inline std::size_t first_raw_text_open(const char* data, std::size_t n, std::size_t from,
                                       unsigned mask) noexcept {
    for (; mask != 0; mask &= mask - 1) {
        const std::size_t at = from + static_cast<std::size_t>(__builtin_ctz(mask));
        if (opens_raw_text(data, n, at)) {
            return at;
        }
    }
    return npos;
}

#if defined(__x86_64__) && defined(__GNUC__)
// The same scan, 32 positions at a time (AVX2, chosen at run time: the build targets baseline
// x86-64). Scanning a 35 KB product page for them was a sixth of an HTML crawl's instructions.
__attribute__((target("avx2"))) std::size_t find_raw_text_open_avx2(std::string_view html,
                                                                    std::size_t from) noexcept {
    const char* const data = html.data();
    const std::size_t n = html.size();
    std::size_t i = from;
    const __m256i open = _mm256_set1_epi8('<');
    const __m256i bang = _mm256_set1_epi8('!');
    const __m256i s_letter = _mm256_set1_epi8('s');
    const __m256i case_bit = _mm256_set1_epi8(0x20);
    while (i + 33 <= n) {  // reads data[i .. i + 32]
        const __m256i here = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i));
        const __m256i next = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i + 1));
        const __m256i wanted =
            _mm256_or_si256(_mm256_cmpeq_epi8(next, bang),
                            _mm256_cmpeq_epi8(_mm256_or_si256(next, case_bit), s_letter));
        const auto mask = static_cast<unsigned>(
            _mm256_movemask_epi8(_mm256_and_si256(_mm256_cmpeq_epi8(here, open), wanted)));
        if (mask != 0) {
            if (const std::size_t at = first_raw_text_open(data, n, i, mask); at != npos) {
                return at;
            }
        }
        i += 32;
    }
    return detail::find_raw_text_open(html, i, /*allow_avx2=*/false);
}
#endif

}  // namespace

// Position of the next '<' at or after `from` that may open a comment, a <script> or a <style>
// (opens_raw_text), else npos. A product page has a thousand tags or more and a handful of
// those: with SSE2, 16 positions are tested at once and the other tags never stop the scan (a
// memchr per tag cost a quarter of an HTML crawl's instructions).
std::size_t detail::find_raw_text_open(std::string_view html, std::size_t from,
                                       bool allow_avx2) noexcept {
#if defined(__x86_64__) && defined(__GNUC__)
    static const bool has_avx2 = __builtin_cpu_supports("avx2");
    if (allow_avx2 && has_avx2) {
        return find_raw_text_open_avx2(html, from);
    }
#else
    (void)allow_avx2;
#endif
    const char* const data = html.data();
    const std::size_t n = html.size();
    std::size_t i = from;
#if defined(__SSE2__)
    const __m128i open = _mm_set1_epi8('<');
    const __m128i bang = _mm_set1_epi8('!');
    const __m128i s_letter = _mm_set1_epi8('s');
    const __m128i case_bit = _mm_set1_epi8(0x20);  // 'S' | 0x20 == 's'; no other byte maps there
    while (i + 17 <= n) {                          // reads data[i .. i + 16]
        const __m128i here = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
        const __m128i next = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i + 1));
        const __m128i wanted = _mm_or_si128(_mm_cmpeq_epi8(next, bang),
                                            _mm_cmpeq_epi8(_mm_or_si128(next, case_bit), s_letter));
        const auto mask = static_cast<unsigned>(
            _mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(here, open), wanted)));
        if (mask != 0) {
            if (const std::size_t at = first_raw_text_open(data, n, i, mask); at != npos) {
                return at;
            }
        }
        i += 16;
    }
#endif
    for (; i < n; ++i) {
        if (opens_raw_text(data, n, i)) {
            return i;
        }
    }
    return npos;
}

namespace {

// Calls `block(text)` with the text of each JSON-LD <script> of the page, in document order,
// while it returns true. Comments and the raw text of other scripts and styles are skipped.
template <class Block>
void each_jsonld_block(std::string_view html, Block&& block) {
    std::size_t pos = 0;
    const std::size_t n = html.size();
    while (pos < n) {
        const std::size_t lt = detail::find_raw_text_open(html, pos);
        if (lt == npos) {
            break;
        }
        if (html.compare(lt, 4, "<!--") == 0) {
            const std::size_t close = html.find("-->", lt + 4);
            if (close == npos) {
                break;  // an unclosed comment hides the rest of the page
            }
            pos = close + 3;
            continue;
        }
        std::string_view raw_text_tag;
        if (starts_with_nocase(html, lt + 1, "script")) {
            raw_text_tag = "script";
        } else if (starts_with_nocase(html, lt + 1, "style")) {
            raw_text_tag = "style";
        }
        const std::size_t after_name = lt + 1 + raw_text_tag.size();
        if (raw_text_tag.empty() || after_name >= n ||
            !(is_html_space(html[after_name]) || html[after_name] == '/' ||
              html[after_name] == '>')) {
            pos = lt + 1;
            continue;
        }
        const start_tag tag = scan_attributes(html, after_name, "type");
        if (tag.end == npos) {
            break;
        }
        // Raw text: nothing inside is markup until the matching end tag.
        const std::size_t close = find_end_tag(html, tag.end, raw_text_tag);
        const std::size_t content_end = close == npos ? n : close;
        if (tag.found && is_jsonld_type(tag.value) &&
            !block(html.substr(tag.end, content_end - tag.end))) {
            return;
        }
        pos = close == npos ? n : close + 2 + raw_text_tag.size();
    }
}

// collect_products' walk, each product normalized from the document in place. False (and `out`
// incomplete) when a product holds a node reference: products_from_jsonld must resolve it.
bool normalize_in_place(simdjson::dom::element element, int depth,
                        const boost::json::object& header, std::vector<boost::json::object>& out) {
    if (depth > product_search_depth) {
        return true;
    }
    if (element.type() == simdjson::dom::element_type::ARRAY) {
        for (simdjson::dom::element child : simdjson::dom::array(element)) {
            if (!normalize_in_place(child, depth + 1, header, out)) {
                return false;
            }
        }
        return true;
    }
    if (element.type() != simdjson::dom::element_type::OBJECT) {
        return true;
    }
    const auto fields = dict_fields(simdjson::dom::object(element));
    if (!dom_is_product(element)) {
        for (const auto& field : fields) {
            if (!normalize_in_place(field.value, depth + 1, header, out)) {
                return false;
            }
        }
        return true;
    }
    for (const auto& field : fields) {
        if (is_product_field(field.key) &&
            holds_reference<json_tree::dom_tree>({field.value, true}, depth + 1)) {
            return false;
        }
    }
    out.push_back(product_rules::normalize<json_tree::dom_tree>({element, true}, nullptr,
                                                                boost::json::object(header)));
    return true;
}

}  // namespace

std::vector<boost::json::value> find_jsonld(std::string_view html, jsonld_scope scope) {
    std::vector<boost::json::value> out;
    bool references = false;
    each_jsonld_block(html, [&](std::string_view text) {
        for (auto& value : parse_block(text, html, scope, references)) {
            out.push_back(std::move(value));
        }
        return !references || scope == jsonld_scope::all;
    });
    if (references && scope != jsonld_scope::all) {
        // A product names a node by "@id", which may be anywhere in the page's JSON-LD: the
        // page's whole values, as products_from_jsonld resolves them.
        return find_jsonld(html, jsonld_scope::all);
    }
    return out;
}

std::optional<std::vector<boost::json::object>> detail::jsonld_products_in_place(
    std::string_view html, const boost::json::object& header) {
    std::vector<boost::json::object> out;
    bool in_place = true;
    each_jsonld_block(html, [&](std::string_view text) {
        text = trim_html_space(text);
        if (text.empty()) {
            return true;
        }
        const auto root = parse_strict(text, html);
        if (!root) {
            in_place = false;  // not strict JSON: the lenient reader's values
            return false;
        }
        if (root->type() == simdjson::dom::element_type::ARRAY) {
            // The top-level values, as contribute() takes them, each searched from depth 0.
            for (simdjson::dom::element child : simdjson::dom::array(*root)) {
                in_place = in_place && normalize_in_place(child, 0, header, out);
            }
        } else {
            in_place = normalize_in_place(*root, 0, header, out);
        }
        return in_place;
    });
    if (!in_place) {
        return std::nullopt;
    }
    return out;
}

std::vector<boost::json::object> jsonld_products(std::string_view html,
                                                 const boost::json::object& header) {
    if (auto products = detail::jsonld_products_in_place(html, header)) {
        return std::move(*products);
    }
    auto products = products_from_jsonld(find_jsonld(html, jsonld_scope::products));
    if (!header.empty()) {
        for (auto& product : products) {
            boost::json::object headed(header);
            headed.reserve(header.size() + product.size());
            for (auto& field : product) {
                headed.insert_or_assign(field.key(), std::move(field.value()));
            }
            product = std::move(headed);
        }
    }
    return products;
}

std::optional<std::string_view> find_base_href(std::string_view html) {
    std::size_t pos = 0;
    const std::size_t n = html.size();
    const auto tag_named = [&](std::size_t lt, std::string_view name) {
        const std::size_t after = lt + 1 + name.size();
        return starts_with_nocase(html, lt + 1, name) && after < n &&
               (is_html_space(html[after]) || html[after] == '/' || html[after] == '>');
    };
    while (pos < n) {
        const std::size_t lt = find_char(html, '<', pos);
        if (lt == npos) {
            break;
        }
        if (html.compare(lt, 4, "<!--") == 0) {
            const std::size_t close = html.find("-->", lt + 4);
            if (close == npos) {
                break;
            }
            pos = close + 3;
            continue;
        }
        if (tag_named(lt, "body")) {
            break;
        }
        if (tag_named(lt, "base")) {
            const start_tag tag = scan_attributes(html, lt + 5, "href");
            if (tag.end == npos) {
                break;
            }
            if (tag.found) {
                return trim_html_space(tag.value);
            }
            pos = tag.end;
            continue;
        }
        for (std::string_view raw_text : {std::string_view("script"), std::string_view("style")}) {
            if (tag_named(lt, raw_text)) {
                const start_tag tag = scan_attributes(html, lt + 1 + raw_text.size(), "type");
                const std::size_t close =
                    tag.end == npos ? npos : find_end_tag(html, tag.end, raw_text);
                if (close == npos) {
                    return std::nullopt;
                }
                pos = close;  // at the end tag's '<'
                break;
            }
        }
        pos = std::max(pos, lt + 1);
    }
    return std::nullopt;
}

}  // namespace harvest::pipelines
