#include "pipelines/structured/microdata.hpp"

#include "pipelines/structured/html_space.hpp"

#include "engine/core/url_path.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include <cctype>
#include <climits>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace harvest::pipelines {

namespace {

// Deeper nesting of items than this gives null values: pages are untrusted and the item
// extraction recurses.
constexpr int max_item_depth = 128;

// Property elements itemref may bring in per page, all items together.
constexpr std::size_t max_referenced_properties = 100000;

std::string_view name_of(const xmlNode* node) noexcept {
    return node->name == nullptr ? std::string_view{}
                                 : std::string_view(reinterpret_cast<const char*>(node->name));
}

bool is_element(const xmlNode* node) noexcept {
    return node != nullptr && node->type == XML_ELEMENT_NODE;
}

const xmlAttr* find_attr(const xmlNode* node, std::string_view name) noexcept {
    for (const xmlAttr* attr = node->properties; attr != nullptr; attr = attr->next) {
        if (attr->name != nullptr &&
            std::string_view(reinterpret_cast<const char*>(attr->name)) == name) {
            return attr;
        }
    }
    return nullptr;
}

bool has_attr(const xmlNode* node, std::string_view name) noexcept {
    return find_attr(node, name) != nullptr;
}

// The attribute's value, or nullopt when absent (an attribute without a value is "").
std::optional<std::string> attr(const xmlNode* node, std::string_view name) {
    const xmlAttr* a = find_attr(node, name);
    if (a == nullptr) {
        return std::nullopt;
    }
    std::string value;
    for (const xmlNode* child = a->children; child != nullptr; child = child->next) {
        if (child->content != nullptr) {
            value += reinterpret_cast<const char*>(child->content);
        }
    }
    return value;
}

std::string attr_or_empty(const xmlNode* node, std::string_view name) {
    return attr(node, name).value_or(std::string{});
}

// Preorder successor of `node` within `root`'s subtree, optionally not entering `node`'s
// children. Iterative: the tree of a hostile page can be arbitrarily deep.
const xmlNode* next_node(const xmlNode* node, const xmlNode* root, bool enter_children) noexcept {
    if (enter_children && node->children != nullptr && node->type == XML_ELEMENT_NODE) {
        return node->children;
    }
    while (node != nullptr && node != root) {
        if (node->next != nullptr) {
            return node->next;
        }
        node = node->parent;
    }
    return nullptr;
}

// --- text content, as html_text.etree_to_text renders an lxml-cleaned element -------------

bool in_list(std::string_view name, std::initializer_list<std::string_view> names) noexcept {
    for (std::string_view candidate : names) {
        if (candidate == name) {
            return true;
        }
    }
    return false;
}

bool is_newline_tag(std::string_view tag) noexcept {
    return in_list(
        tag, {"article", "aside", "br", "dd", "details", "div", "dt", "fieldset", "figcaption",
              "footer", "form", "header", "hr", "legend", "li", "main", "nav", "table", "tr"});
}

bool is_double_newline_tag(std::string_view tag) noexcept {
    return in_list(tag, {"blockquote", "dl", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "ol",
                         "p", "pre", "title", "ul"});
}

// Elements lxml's Cleaner (as extruct configures it) drops with their content.
bool is_dropped_tag(std::string_view tag) noexcept {
    return in_list(tag, {"script", "style", "link", "meta"});
}

// Length of the Unicode whitespace character (Python's str.isspace) at s[i], or 0.
std::size_t unicode_space_at(std::string_view s, std::size_t i) noexcept {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = byte(i);
    if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) {
        return 1;
    }
    if (c == 0xC2 && i + 1 < s.size() && (byte(i + 1) == 0x85 || byte(i + 1) == 0xA0)) {
        return 2;
    }
    if (i + 2 < s.size()) {
        const unsigned c1 = byte(i + 1);
        const unsigned c2 = byte(i + 2);
        if (c == 0xE1 && c1 == 0x9A && c2 == 0x80) {
            return 3;  // U+1680
        }
        if (c == 0xE2 && c1 == 0x80 &&
            ((c2 >= 0x80 && c2 <= 0x8A) || c2 == 0xA8 || c2 == 0xA9 || c2 == 0xAF)) {
            return 3;  // U+2000..200A, U+2028, U+2029, U+202F
        }
        if (c == 0xE2 && c1 == 0x81 && c2 == 0x9F) {
            return 3;  // U+205F
        }
        if (c == 0xE3 && c1 == 0x80 && c2 == 0x80) {
            return 3;  // U+3000
        }
    }
    return 0;
}

// Strips and collapses Unicode whitespace runs to one ' '.
std::string normalize_whitespace(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    bool pending_space = false;
    std::size_t i = 0;
    while (i < s.size()) {
        if (const std::size_t len = unicode_space_at(s, i); len != 0) {
            pending_space = !out.empty();
            i += len;
            continue;
        }
        if (pending_space) {
            out += ' ';
            pending_space = false;
        }
        out += s[i];
        ++i;
    }
    return out;
}

bool ends_with_space(std::string_view s) noexcept {
    if (s.empty()) {
        return false;
    }
    // Look at the last code point only.
    std::size_t start = s.size() - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80 &&
           s.size() - start < 4) {
        --start;
    }
    return unicode_space_at(s, start) == s.size() - start;
}

class text_renderer {
  public:
    std::string render(const xmlNode* root) {
        if (is_dropped_tag(name_of(root))) {
            return {};
        }
        enter(root);
        const xmlNode* node = root->children;
        while (node != nullptr) {
            bool descend = false;
            if (node->type == XML_TEXT_NODE || node->type == XML_CDATA_SECTION_NODE) {
                if (node->content != nullptr) {
                    pending_ += reinterpret_cast<const char*>(node->content);
                }
            } else if (node->type == XML_ELEMENT_NODE && !is_dropped_tag(name_of(node))) {
                enter(node);
                descend = node->children != nullptr;
                if (!descend) {
                    leave(node);
                }
            }
            // Comments, PIs and dropped elements vanish; text around them joins (as after
            // lxml's drop_tree).
            if (descend) {
                node = node->children;
                continue;
            }
            while (node != nullptr && node != root && node->next == nullptr) {
                node = node->parent;
                if (node != root) {
                    leave(node);
                }
            }
            node = (node == nullptr || node == root) ? nullptr : node->next;
        }
        leave(root);
        std::string_view text = out_;
        while (!text.empty() && (text.front() == ' ' || text.front() == '\n')) {
            text.remove_prefix(1);
        }
        while (!text.empty() && (text.back() == ' ' || text.back() == '\n')) {
            text.remove_suffix(1);
        }
        return std::string(text);
    }

  private:
    enum class previous { text, newline, double_newline };

    void enter(const xmlNode* node) {
        flush();
        add_newlines(name_of(node));
    }

    void leave(const xmlNode* node) {
        flush();
        add_newlines(name_of(node));
    }

    void add_newlines(std::string_view tag) {
        if (prev_ == previous::double_newline) {
            return;  // never more than one blank line
        }
        if (is_double_newline_tag(tag)) {
            out_ += prev_ == previous::newline ? "\n" : "\n\n";
            prev_ = previous::double_newline;
        } else if (is_newline_tag(tag)) {
            if (prev_ != previous::newline) {
                out_ += '\n';
            }
            prev_ = previous::newline;
        }
    }

    void flush() {
        if (pending_.empty()) {
            return;
        }
        const std::string text = normalize_whitespace(pending_);
        if (!text.empty()) {
            if (needs_space(text)) {
                out_ += ' ';
            }
            out_ += text;
            prev_ = previous::text;
            prev_text_ = std::move(pending_);
        }
        pending_.clear();
    }

    // html_text's guess_punct_space: no space before punctuation or after '('.
    bool needs_space(std::string_view text) const {
        if (prev_ != previous::text) {
            return false;
        }
        if (!ends_with_space(prev_text_)) {
            const char first = text.front();
            if (std::strchr(",:;.!?\")", first) != nullptr || prev_text_.back() == '(') {
                return false;
            }
        }
        return true;
    }

    std::string out_;
    std::string pending_;
    std::string prev_text_;  // the raw text of the last chunk written
    previous prev_ = previous::double_newline;
};

std::string text_content(const xmlNode* node) {
    return text_renderer{}.render(node);
}

// --- URL resolution -------------------------------------------------------------------------

struct url_parts {
    std::string_view scheme;  // without ':'
    std::optional<std::string_view> authority;
    std::string_view path;
    std::optional<std::string_view> query;
    std::optional<std::string_view> fragment;
};

url_parts split_url(std::string_view url) {
    url_parts parts;
    // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"
    std::size_t i = 0;
    if (!url.empty() && std::isalpha(static_cast<unsigned char>(url[0]))) {
        i = 1;
        while (i < url.size() && (std::isalnum(static_cast<unsigned char>(url[i])) ||
                                  url[i] == '+' || url[i] == '-' || url[i] == '.')) {
            ++i;
        }
        if (i < url.size() && url[i] == ':') {
            parts.scheme = url.substr(0, i);
            url.remove_prefix(i + 1);
        }
    }
    if (auto hash = url.find('#'); hash != std::string_view::npos) {
        parts.fragment = url.substr(hash + 1);
        url = url.substr(0, hash);
    }
    if (auto question = url.find('?'); question != std::string_view::npos) {
        parts.query = url.substr(question + 1);
        url = url.substr(0, question);
    }
    if (url.substr(0, 2) == "//") {
        const std::size_t slash = url.find('/', 2);
        parts.authority =
            url.substr(2, slash == std::string_view::npos ? std::string_view::npos : slash - 2);
        url = slash == std::string_view::npos ? std::string_view{} : url.substr(slash);
    }
    parts.path = url;
    return parts;
}

}  // namespace

std::string urljoin(std::string_view base, std::string_view reference) {
    if (base.empty()) {
        return std::string(reference);
    }
    const url_parts ref = split_url(reference);
    const url_parts b = split_url(base);
    if (!ref.scheme.empty() && ref.scheme != b.scheme) {
        return std::string(reference);
    }
    std::string_view scheme = b.scheme;
    std::optional<std::string_view> authority;
    std::string path;
    std::optional<std::string_view> query;
    if (ref.authority) {
        authority = ref.authority;
        path = core::remove_dot_segments(ref.path);
        query = ref.query;
    } else {
        authority = b.authority;
        if (ref.path.empty()) {
            path = std::string(b.path);
            query = ref.query ? ref.query : b.query;
        } else {
            if (ref.path.front() == '/') {
                path = core::remove_dot_segments(ref.path);
            } else {
                std::string merged;
                if (b.authority && b.path.empty()) {
                    merged = "/";
                } else if (auto slash = b.path.rfind('/'); slash != std::string_view::npos) {
                    merged = std::string(b.path.substr(0, slash + 1));
                }
                merged += ref.path;
                path = core::remove_dot_segments(merged);
            }
            query = ref.query;
        }
    }
    std::string out;
    if (!scheme.empty()) {
        out += scheme;
        out += ':';
    }
    if (authority) {
        out += "//";
        out += *authority;
    }
    out += path;
    if (query) {
        out += '?';
        out += *query;
    }
    if (ref.fragment) {
        out += '#';
        out += *ref.fragment;
    }
    return out;
}

namespace {

// --- microdata items --------------------------------------------------------------------------

struct xml_doc_deleter {
    void operator()(xmlDoc* doc) const noexcept { xmlFreeDoc(doc); }
};

class microdata_reader {
  public:
    microdata_reader(const xmlNode* root, std::string_view base_url,
                     const microdata_options& options)
        : root_(root), base_url_(base_url), options_(options) {
        for (const xmlNode* node = root_; node != nullptr; node = next_node(node, root_, true)) {
            if (is_element(node)) {
                if (has_attr(node, "itemscope")) {
                    item_ids_.emplace(node, item_ids_.size() + 1);
                    items_.push_back(node);
                }
            }
        }
    }

    std::vector<boost::json::value> read() {
        std::vector<boost::json::value> out;
        for (const xmlNode* item : items_) {
            boost::json::value value = read_item(item, 0);
            if (value.is_object() && !value.get_object().empty()) {
                out.push_back(std::move(value));
            }
        }
        return out;
    }

  private:
    using property_list = std::vector<std::pair<std::string, boost::json::value>>;

    boost::json::value read_item(const xmlNode* node, int depth) {
        if (depth > max_item_depth) {
            return nullptr;
        }
        if (options_.nested) {
            if (!seen_.insert(node).second) {
                return nullptr;
            }
        }
        boost::json::object item;
        if (!options_.nested) {
            item["iid"] = item_ids_.at(node);
        }
        const std::string itemtype = attr_or_empty(node, "itemtype");
        const std::vector<std::string_view> type_names = split_html_space(itemtype);
        if (!type_names.empty()) {
            if (!options_.strict && type_names.size() == 1) {
                item["type"] = type_names.front();
            } else {
                boost::json::array list;
                for (const auto& t : type_names) {
                    list.emplace_back(t);
                }
                item["type"] = std::move(list);
            }
            if (auto itemid = attr(node, "itemid"); itemid && !itemid->empty()) {
                item["id"] = trim_html_space(*itemid);
            }
        }

        // Property elements in extruct's order, which is not the W3C one (that sorts them all in
        // tree order and drops repeats): first the item's own (descendants with itemprop not
        // inside a nested itemscope) in document order, then, for each itemref id in the order
        // listed, the elements it brings in. A referenced block before the item still comes
        // after the item's own properties, and an element owned and referenced, or an id listed
        // twice, gives its values twice (a nested item's second use is null, as for a cycle).
        // extruct's tests/samples/w3c/microdata.5.3 is the case (see tests/data SOURCES.md).
        std::vector<const xmlNode*> property_nodes;
        for (const xmlNode* child = node->children; child != nullptr;) {
            bool enter = true;
            if (is_element(child)) {
                if (has_attr(child, "itemprop")) {
                    property_nodes.push_back(child);
                }
                enter = !has_attr(child, "itemscope");
            }
            child = next_node(child, node, enter);
        }
        if (auto refs = attr(node, "itemref"); refs) {
            for (std::string_view id : split_html_space(*refs)) {
                const std::vector<const xmlNode*>& referenced = referenced_properties(id);
                // Budget: references can multiply work (every item referencing one big block);
                // past it a hostile page gets its items without their references.
                if (referenced.size() > reference_budget_) {
                    break;
                }
                reference_budget_ -= referenced.size();
                property_nodes.insert(property_nodes.end(), referenced.begin(), referenced.end());
            }
        }
        property_list properties;
        for (const xmlNode* property : property_nodes) {
            read_property(property, depth, properties);
        }

        if (!properties.empty()) {
            boost::json::object props;
            // Group by name in first-appearance order.
            std::vector<std::string> order;
            std::unordered_map<std::string, boost::json::array> grouped;
            for (auto& [name, value] : properties) {
                auto [it, inserted] = grouped.try_emplace(name);
                if (inserted) {
                    order.push_back(name);
                }
                it->second.push_back(std::move(value));
            }
            for (const auto& name : order) {
                boost::json::array& values = grouped[name];
                if (!options_.strict && values.size() == 1) {
                    props[name] = std::move(values.front());
                } else {
                    props[name] = std::move(values);
                }
            }
            item["properties"] = std::move(props);
        } else {
            item["value"] = property_value(node, depth, true);
        }
        if (options_.add_text_content) {
            if (std::string text = text_content(node); !text.empty()) {
                item["textContent"] = std::move(text);
            }
        }
        return item;
    }

    void read_property(const xmlNode* node, int depth, property_list& out) {
        const std::string itemprop = attr_or_empty(node, "itemprop");
        const std::vector<std::string_view> names = split_html_space(itemprop);
        if (names.empty()) {
            return;
        }
        boost::json::value value = property_value(node, depth, false);
        for (std::size_t k = 0; k < names.size(); ++k) {
            out.emplace_back(std::string(names[k]),
                             k + 1 == names.size() ? std::move(value) : boost::json::value(value));
        }
    }

    // The property elements an itemref id brings in; computed once per id and page.
    const std::vector<const xmlNode*>& referenced_properties(std::string_view id) {
        auto [it, inserted] = references_.try_emplace(std::string(id));
        if (inserted) {
            collect_reference(id, it->second);
        }
        return it->second;
    }

    void collect_reference(std::string_view id, std::vector<const xmlNode*>& out) {
        const xmlNode* ref = element_by_id(id);
        if (ref == nullptr) {
            return;
        }
        if (has_attr(ref, "itemprop") && has_attr(ref, "itemscope")) {
            out.push_back(ref);  // a whole item: its own properties are its business
            return;
        }
        const xmlNode* base_scope = scope_of(ref, true);
        for (const xmlNode* node = ref; node != nullptr; node = next_node(node, ref, true)) {
            if (is_element(node) && has_attr(node, "itemprop") &&
                scope_of(node, false) == base_scope) {
                out.push_back(node);
            }
        }
    }

    // Nearest ancestor (or self, when include_self) carrying itemscope.
    static const xmlNode* scope_of(const xmlNode* node, bool include_self) {
        for (const xmlNode* n = include_self ? node : node->parent; n != nullptr; n = n->parent) {
            if (is_element(n) && has_attr(n, "itemscope")) {
                return n;
            }
        }
        return nullptr;
    }

    const xmlNode* element_by_id(std::string_view id) {
        if (!ids_built_) {
            ids_built_ = true;
            for (const xmlNode* node = root_; node != nullptr;
                 node = next_node(node, root_, true)) {
                if (is_element(node)) {
                    if (auto value = attr(node, "id"); value) {
                        ids_.try_emplace(std::move(*value), node);  // the first one wins
                    }
                }
            }
        }
        auto it = ids_.find(std::string(id));
        return it == ids_.end() ? nullptr : it->second;
    }

    std::string url_value(const xmlNode* node, std::string_view attribute) {
        std::optional<std::string> raw = attr(node, attribute);
        if (!raw || raw->empty()) {
            raw = attr(node, "content");  // lazy-loaded images keep the URL there
        }
        if (!raw) {
            return {};
        }
        const std::string_view url = trim_html_space(*raw);
        if (url.empty()) {
            return {};
        }
        return urljoin(base_url_, url);
    }

    boost::json::value property_value(const xmlNode* node, int depth, bool force) {
        const std::string_view tag = name_of(node);
        if (!force && has_attr(node, "itemscope")) {
            if (options_.nested) {
                return read_item(node, depth + 1);
            }
            boost::json::object ref;
            ref["iid_ref"] = item_ids_.at(node);
            return ref;
        }
        if (tag == "meta") {
            return boost::json::string(attr_or_empty(node, "content"));
        }
        if (in_list(tag, {"audio", "embed", "iframe", "img", "source", "track", "video"})) {
            return boost::json::string(url_value(node, "src"));
        }
        if (in_list(tag, {"a", "area", "link"})) {
            return boost::json::string(url_value(node, "href"));
        }
        if (tag == "object") {
            return boost::json::string(url_value(node, "data"));
        }
        if (tag == "data" || tag == "meter") {
            return boost::json::string(attr_or_empty(node, "value"));
        }
        if (tag == "time") {
            return boost::json::string(attr_or_empty(node, "datetime"));
        }
        if (auto content = attr(node, "content"); content && !content->empty()) {
            return boost::json::string(*content);  // not W3C, but used by schema.org examples
        }
        const std::string itemprop = attr_or_empty(node, "itemprop");
        const auto ends_with = [&](std::string_view suffix) {
            return itemprop.size() >= suffix.size() &&
                   std::string_view(itemprop).substr(itemprop.size() - suffix.size()) == suffix;
        };
        if (!itemprop.empty() && (ends_with("-input") || ends_with("-output"))) {
            // https://schema.org/docs/actions.html#part-4
            boost::json::object spec;
            if (has_attr(node, "required")) {
                spec["valueRequired"] = true;
            }
            if (auto name = attr(node, "name"); name && !name->empty()) {
                spec["valueName"] = *name;
            }
            return spec;
        }
        return boost::json::string(text_content(node));
    }

    const xmlNode* root_;
    std::string_view base_url_;
    microdata_options options_;
    std::vector<const xmlNode*> items_;
    std::unordered_map<const xmlNode*, std::int64_t> item_ids_;  // document order, from 1
    std::unordered_set<const xmlNode*> seen_;
    std::unordered_map<std::string, const xmlNode*> ids_;
    std::unordered_map<std::string, std::vector<const xmlNode*>> references_;
    std::size_t reference_budget_ = max_referenced_properties;
    bool ids_built_ = false;
};

void init_libxml_once() {
    static std::once_flag once;
    // xmlInitParser must run once before threads parse concurrently.
    std::call_once(once, [] { xmlInitParser(); });
}

boost::json::value flatten(const boost::json::value& value, std::string_view context,
                           bool add_context, int depth);

// extruct's infer_context: "http://schema.org/Product" -> ("http://schema.org", "Product"),
// "http://x.org/ns#Thing" -> ("http://x.org/ns", "Thing").
std::pair<std::string, std::string> infer_context(std::string_view type, std::string_view context) {
    const url_parts parts = split_url(type);
    if (parts.authority && !parts.authority->empty()) {
        const std::string base = std::string(parts.scheme) + "://" + std::string(*parts.authority);
        const auto strip_slashes = [](std::string_view s) {
            while (!s.empty() && s.front() == '/') {
                s.remove_prefix(1);
            }
            while (!s.empty() && s.back() == '/') {
                s.remove_suffix(1);
            }
            return std::string(s);
        };
        if (!parts.path.empty() && parts.fragment && !parts.fragment->empty()) {
            return {urljoin(base, parts.path), strip_slashes(*parts.fragment)};
        }
        if (!parts.path.empty()) {
            return {base, strip_slashes(parts.path)};
        }
    }
    return {std::string(context), std::string(type)};
}

boost::json::value flatten_element(const boost::json::value& value, std::string_view context,
                                   int depth) {
    if (value.is_object()) {
        return flatten(value, context, false, depth + 1);
    }
    if (value.is_array()) {
        boost::json::array out;
        for (const auto& element : value.get_array()) {
            out.push_back(element.is_object() ? flatten(element, context, false, depth + 1)
                                              : element);
        }
        return out;
    }
    return value;
}

boost::json::value flatten(const boost::json::value& value, std::string_view context,
                           bool add_context, int depth) {
    const boost::json::object& in = value.get_object();
    const boost::json::value* type = in.if_contains("type");
    const bool has_type =
        type != nullptr && !((type->is_string() && type->get_string().empty()) ||
                             (type->is_array() && type->get_array().empty()) || type->is_null());
    if (!has_type || depth > max_item_depth) {
        return value;
    }
    boost::json::object out;
    std::string item_context(context);
    if (type->is_string()) {
        auto [ctx, name] = infer_context(type->get_string(), context);
        item_context = std::move(ctx);
        out["@type"] = name;
    } else {
        out["@type"] = *type;
    }
    if (add_context) {
        out["@context"] = item_context;
    }
    for (const auto& field : in) {
        if (field.key() == "type" || field.key() == "properties") {
            continue;
        }
        out[field.key()] = field.value();
    }
    if (const auto* props = in.if_contains("properties"); props && props->is_object()) {
        for (const auto& field : props->get_object()) {
            out[field.key()] = flatten_element(field.value(), context, depth);
        }
    }
    return out;
}

}  // namespace

std::vector<boost::json::value> find_microdata(std::string_view html, std::string_view base_url,
                                               const microdata_options& options) {
    if (html.empty() || html.size() > static_cast<std::size_t>(INT_MAX)) {
        return {};
    }
    init_libxml_once();
    // NONET: never fetch a DTD; COMPACT: smaller text nodes; the rest keeps libxml2 quiet and
    // lenient on broken markup (pages are untrusted).
    const int flags = HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                      HTML_PARSE_NONET | HTML_PARSE_COMPACT;
    std::unique_ptr<xmlDoc, xml_doc_deleter> doc(
        htmlReadMemory(html.data(), static_cast<int>(html.size()), nullptr, "UTF-8", flags));
    if (!doc) {
        return {};
    }
    const xmlNode* root = xmlDocGetRootElement(doc.get());
    if (root == nullptr) {
        return {};
    }
    // The document's base URL: the first <base href> of its <head> (where the parser puts a
    // <base>), resolved against base_url.
    std::string document_base;
    const xmlNode* head = root->children;
    while (head != nullptr && !(is_element(head) && name_of(head) == "head")) {
        head = head->next;
    }
    if (!base_url.empty() && head != nullptr) {
        for (const xmlNode* node = head; node != nullptr; node = next_node(node, head, true)) {
            if (is_element(node) && name_of(node) == "base") {
                if (auto href = attr(node, "href")) {
                    document_base = urljoin(base_url, trim_html_space(*href));
                    break;
                }
            }
        }
    }
    return microdata_reader(root, document_base.empty() ? base_url : document_base, options).read();
}

std::vector<boost::json::value> find_microdata(std::string_view html, std::string_view base_url) {
    return find_microdata(html, base_url, microdata_options{});
}

std::vector<boost::json::value> microdata_to_uniform(const std::vector<boost::json::value>& items,
                                                     std::string_view schema_context) {
    std::vector<boost::json::value> out;
    out.reserve(items.size());
    for (const auto& item : items) {
        out.push_back(item.is_object() ? flatten(item, schema_context, true, 0) : item);
    }
    return out;
}

}  // namespace harvest::pipelines
