// `follow:` and `extract:` (docs/config.md), with the selectors and regexes they read.

#include "config/loader/reader.hpp"

#include "pipelines/extract/product_fields.hpp"
#include "pipelines/html/html.hpp"

#include <memory>

namespace harvest::config::reading {

std::vector<std::string> regex_list(const reader& r, const node& n, const std::string& path) {
    std::vector<std::string> result;
    const auto& items = r.list(n, path);
    for (std::size_t i = 0; i < items.size(); ++i) {
        result.push_back(r.regex(items[i], path + "." + std::to_string(i)));
    }
    return result;
}

// Selectors are compiled here exactly as the pipelines will compile them, so a bad one is
// reported at its place in the file instead of when the crawl starts.
std::string css_selector(const reader& r, const node& n, const std::string& path) {
    const auto& css = r.text(n, path);
    try {
        (void)pipelines::css_to_xpath(css);
    } catch (const pipelines::css_syntax_error& e) {
        // The message names the offset in the selector (the node's column may point at a quote).
        r.error(n.where,
                "'" + path + "' must be a CSS selector like \"a.product-link\" (" + e.what() + ")");
    }
    return css;
}

std::string xpath_expression(const reader& r, const node& n, const std::string& path) {
    const auto& xpath = r.text(n, path);
    pipelines::field_rule probe;
    probe.name = path;
    probe.xpath = xpath;
    try {
        const pipelines::html_field compiled(probe);
    } catch (const std::invalid_argument& e) {
        r.error(n.where, "'" + path + "' must be an XPath 1.0 expression like " +
                             "\"//a[@rel='next']/@href\" (" + e.what() + ")");
    }
    return xpath;
}

// follow.N.meta: names to single-line texts, copied into items under "meta".
std::vector<std::pair<std::string, std::string>> read_meta(const reader& r, const node& n,
                                                           const std::string& path) {
    if (n.type != node::kind::map) {
        r.expected(n, path, "a map of names to texts, like {category: shoes}");
    }
    std::vector<std::pair<std::string, std::string>> meta;
    for (const auto& entry : n.entries) {
        if (entry.key.empty()) {
            r.error(entry.key_where, "'" + path + "': a meta name cannot be empty");
        }
        meta.emplace_back(entry.key, entry.value.type == node::kind::null
                                         ? std::string()
                                         : r.text(entry.value, path + "." + entry.key));
    }
    return meta;
}

std::vector<pipelines::follow_rule> read_follow(const reader& r, const node& n) {
    std::vector<pipelines::follow_rule> rules;
    const auto& items = r.list(n, "follow");
    for (std::size_t i = 0; i < items.size(); ++i) {
        r.attempt([&] {
            const std::string path = "follow." + std::to_string(i);
            section s(r, items[i], path,
                      {"css", "xpath", "allow", "deny", "max_depth", "render", "headers", "meta"});
            pipelines::follow_rule rule;
            const auto* css = s.get("css");
            const auto* xpath = s.get("xpath");
            if ((css == nullptr) == (xpath == nullptr)) {
                r.error(items[i].where,
                        "'" + path + "' must have exactly one of css, xpath (the links to follow)");
            }
            if (css != nullptr) {
                rule.css = css_selector(r, *css, s.path_of("css"));
            } else {
                rule.xpath = xpath_expression(r, *xpath, s.path_of("xpath"));
            }
            if (const auto* v = s.get("allow")) {
                rule.allow = regex_list(r, *v, s.path_of("allow"));
            }
            if (const auto* v = s.get("deny")) {
                rule.deny = regex_list(r, *v, s.path_of("deny"));
            }
            if (const auto* v = s.get("max_depth")) {
                rule.max_depth = r.count(*v, s.path_of("max_depth"));
            }
            if (const auto* v = s.get("render")) {
                rule.render = read_render_rule(r, *v, s.path_of("render"));
            }
            if (const auto* v = s.get("headers")) {
                rule.headers = r.headers(*v, s.path_of("headers"));
            }
            if (const auto* v = s.get("meta")) {
                rule.meta = read_meta(r, *v, s.path_of("meta"));
            }
            rules.push_back(std::move(rule));
        });
    }
    if (!rules.empty()) {
        r.check_supported("follow", "", n.where, "follow");
    }
    return rules;
}

// The JSON Pointer syntax of RFC 6901: empty, or '/'-separated tokens where '~' is ~0 or ~1.
bool is_json_pointer(std::string_view text) {
    if (!text.empty() && text.front() != '/') {
        return false;
    }
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '~' &&
            (i + 1 >= text.size() || (text[i + 1] != '0' && text[i + 1] != '1'))) {
            return false;
        }
    }
    return true;
}

// Where a node's `type:` says how the rest is read, the type is read before the section.
const node* peek(const reader& r, const node& n, const std::string& path, std::string_view key) {
    if (n.type != node::kind::map) {
        r.expected(n, path, "a map of settings (key: value)");
    }
    for (const auto& entry : n.entries) {
        if (entry.key == key && entry.value.type != node::kind::null) {
            return &entry.value;
        }
    }
    return nullptr;
}

pipelines::field_rule read_field(const reader& r, const node& n, const std::string& path,
                                 const std::string& name, pipelines::extract_type type) {
    pipelines::field_rule field;
    field.name = name;
    const bool json = type == pipelines::extract_type::json;
    if (json && n.type == node::kind::scalar) {
        field.pointer = n.scalar;
        if (!is_json_pointer(field.pointer)) {
            r.expected(n, path, "a JSON Pointer like /price or /offers/0/price");
        }
        return field;
    }
    if (n.type != node::kind::map) {
        r.expected(n, path,
                   json ? "a JSON Pointer like /price, or a map like {pointer: /price, as: price}"
                        : "a map like {css: \"h1\", text: true}");
    }
    std::unique_ptr<section> s;
    if (json) {
        s = std::make_unique<section>(r, n, path,
                                      std::initializer_list<std::string_view>{
                                          "pointer", "as", "decimal_separator", "currency"});
        const auto* pointer = s->get("pointer");
        if (pointer == nullptr) {
            r.missing(*s, "pointer", "a JSON Pointer like /price");
        }
        field.pointer = r.text(*pointer, s->path_of("pointer"));
        if (!is_json_pointer(field.pointer)) {
            r.expected(*pointer, s->path_of("pointer"),
                       "a JSON Pointer like /price or /offers/0/price");
        }
    } else {
        s = std::make_unique<section>(
            r, n, path,
            std::initializer_list<std::string_view>{"css", "xpath", "text", "attribute", "raw",
                                                    "as", "decimal_separator", "currency", "regex",
                                                    "default", "all", "join", "strip"});
        const auto* css = s->get("css");
        const auto* xpath = s->get("xpath");
        if ((css == nullptr) == (xpath == nullptr)) {
            r.error(n.where, "'" + path + "' must have exactly one of css, xpath");
        }
        if (css != nullptr) {
            field.css = css_selector(r, *css, s->path_of("css"));
        } else {
            field.xpath = xpath_expression(r, *xpath, s->path_of("xpath"));
        }
        if (const auto* v = s->get("text")) {
            field.text = r.boolean(*v, s->path_of("text"));
        }
        if (const auto* v = s->get("attribute")) {
            field.attribute = r.text(*v, s->path_of("attribute"));
            if (field.text) {
                r.error(v->where, "'" + path + "' takes either text: true or attribute, not both");
            }
        }
        if (const auto* v = s->get("raw")) {
            field.raw = r.boolean(*v, s->path_of("raw"));
        }
        if (const auto* v = s->get("regex")) {
            field.pattern = pipelines::make_field_pattern(r.regex(*v, s->path_of("regex")));
        }
        if (const auto* v = s->get("default")) {
            field.default_value = r.text(*v, s->path_of("default"));
        }
        if (const auto* v = s->get("all")) {
            field.all = r.boolean(*v, s->path_of("all"));
        }
        if (const auto* v = s->get("strip")) {
            field.strip = r.boolean(*v, s->path_of("strip"));
        }
        if (const auto* v = s->get("join")) {
            field.join = r.text(*v, s->path_of("join"));
            if (!field.all) {
                r.error(v->where, "'" + s->path_of("join") + "' applies only with all: true");
            }
        }
    }
    if (const auto* v = s->get("as")) {
        static constexpr auto kinds = std::to_array<std::string_view>(
            {"string", "number", "int", "bool", "price", "availability", "url"});
        static constexpr auto values = std::to_array<pipelines::value_kind>(
            {pipelines::value_kind::string, pipelines::value_kind::number,
             pipelines::value_kind::integer, pipelines::value_kind::boolean,
             pipelines::value_kind::price, pipelines::value_kind::availability,
             pipelines::value_kind::url});
        field.as = values[r.choice(*v, s->path_of("as"), kinds)];
        if (field.as == pipelines::value_kind::url && json) {
            r.error(v->where, "'" + s->path_of("as") +
                                  "': url applies to html fields (resolved against the page)");
        }
        if (field.as != pipelines::value_kind::raw && field.raw) {
            r.error(v->where, "'" + path + "' takes either raw: true or as, not both");
        }
    }
    const bool price = field.as == pipelines::value_kind::price;
    if (const auto* v = s->get("decimal_separator")) {
        const auto& separator = r.text(*v, s->path_of("decimal_separator"));
        if (separator != "," && separator != ".") {
            r.expected(*v, s->path_of("decimal_separator"), R"("," or ".")");
        }
        if (!price) {
            r.error(v->where,
                    "'" + s->path_of("decimal_separator") + "' applies only with as: price");
        }
        field.decimal_separator = separator[0];
    }
    if (const auto* v = s->get("currency")) {
        const auto& currency = r.text(*v, s->path_of("currency"));
        if (currency.size() != 3 || !std::all_of(currency.begin(), currency.end(),
                                                 [](char c) { return c >= 'A' && c <= 'Z'; })) {
            r.expected(*v, s->path_of("currency"), "an ISO 4217 code like EUR or USD");
        }
        if (!price) {
            r.error(v->where, "'" + s->path_of("currency") + "' applies only with as: price");
        }
        field.currency = currency;
    }
    return field;
}

// A product rule's `sources`: its merge order, each of jsonld, microdata and html at most once.
std::vector<pipelines::extract_type> read_sources(const reader& r, const section& s) {
    static constexpr auto names = std::to_array<std::string_view>({"jsonld", "microdata", "html"});
    static constexpr auto kinds = std::to_array<pipelines::extract_type>(
        {pipelines::extract_type::jsonld, pipelines::extract_type::microdata,
         pipelines::extract_type::html});
    const auto* v = s.get("sources");
    if (v == nullptr) {
        return {kinds.begin(), kinds.end()};
    }
    const auto& items = r.list(*v, s.path_of("sources"));
    if (items.empty()) {
        r.expected(*v, s.path_of("sources"), "a list of sources like [jsonld, microdata, html]");
    }
    std::vector<pipelines::extract_type> sources;
    for (std::size_t j = 0; j < items.size(); ++j) {
        const std::string item_path = s.path_of("sources") + "." + std::to_string(j);
        const auto kind = kinds[r.choice(items[j], item_path, names)];
        if (std::find(sources.begin(), sources.end(), kind) != sources.end()) {
            r.error(items[j].where, "'" + item_path + "' names a source given before; keep one");
        }
        sources.push_back(kind);
    }
    return sources;
}

std::vector<pipelines::extract_rule> read_extract(const reader& r, const node& n) {
    static constexpr auto types =
        std::to_array<std::string_view>({"json", "jsonld", "microdata", "html", "product"});
    std::vector<pipelines::extract_rule> rules;
    const auto& items = r.list(n, "extract");
    for (std::size_t i = 0; i < items.size(); ++i) {
        r.attempt([&] {
            const std::string path = "extract." + std::to_string(i);
            const node& type_node = required_type(r, items[i], path, types);
            pipelines::extract_rule rule;
            rule.type =
                static_cast<pipelines::extract_type>(r.choice(type_node, path + ".type", types));
            const bool product = rule.type == pipelines::extract_type::product;
            const bool has_fields = rule.type == pipelines::extract_type::json ||
                                    rule.type == pipelines::extract_type::html || product;
            // A vector, not an initializer_list: a braced list in a conditional expression dies at
            // the end of that expression.
            const std::vector<std::string_view> keys =
                product ? std::vector<std::string_view>{"match",  "type",     "sources",
                                                        "fields", "required", "render"}
                : rule.type == pipelines::extract_type::json
                    ? std::vector<std::string_view>{"match", "type", "fields", "required"}
                : has_fields
                    ? std::vector<std::string_view>{"match", "type", "fields", "required", "render"}
                    : std::vector<std::string_view>{"match", "type", "schema", "required",
                                                    "render"};
            section s(r, items[i], path, keys);
            if (const auto* v = s.get("render")) {
                rule.render = read_render_rule(r, *v, s.path_of("render"));
            }
            if (const auto* v = s.get("match")) {
                rule.match = r.regex(*v, s.path_of("match"));
            }
            if (product) {
                rule.sources = read_sources(r, s);
            }
            bool fields_read = true;
            if (has_fields && (!product || s.get("fields") != nullptr)) {
                const auto* fields = s.get("fields");
                if (fields == nullptr) {
                    r.missing(s, "fields", "a map of field names to what to extract");
                }
                if (fields->type != node::kind::map || fields->entries.empty()) {
                    r.expected(*fields, s.path_of("fields"),
                               "a map of field names to what to extract, like {title: /title}");
                }
                for (const auto& entry : fields->entries) {
                    // Each field on its own; `required` is checked only when they all were read.
                    fields_read &= r.attempt([&] {
                        const std::string field_path = s.path_of("fields") + "." + entry.key;
                        for (const auto& field : rule.fields) {
                            if (field.name == entry.key) {
                                r.error(entry.key_where, "field '" + entry.key +
                                                             "' is given twice in '" +
                                                             s.path_of("fields") + "'; keep one");
                            }
                        }
                        if (entry.key.empty()) {
                            r.error(entry.key_where, "a field name must not be empty");
                        }
                        rule.fields.push_back(
                            read_field(r, entry.value, field_path, entry.key, rule.type));
                    });
                }
            } else if (const auto* v = s.get("schema")) {
                rule.schema = r.text(*v, s.path_of("schema"));
                if (rule.schema.empty() ||
                    !std::all_of(rule.schema.begin(), rule.schema.end(),
                                 [](unsigned char c) { return std::isalnum(c) != 0; })) {
                    r.expected(*v, s.path_of("schema"), "a schema.org type name like Product");
                }
                if (rule.schema != "Product") {
                    r.error(v->where,
                            "'" + s.path_of("schema") + "' must be Product, the schema.org " +
                                "type the items are normalized from (got " +
                                quote_text(rule.schema) + "); leave it out to get the raw values");
                }
            }
            if (product && !rule.fields.empty() &&
                std::find(rule.sources.begin(), rule.sources.end(),
                          pipelines::extract_type::html) == rule.sources.end()) {
                r.error(s.get("sources")->where, "'" + s.path_of("sources") +
                                                     "' must list html when the rule has fields " +
                                                     "(they are its html source)");
            }
            if (const auto* v = s.get("required"); v != nullptr && fields_read) {
                const auto& names = r.list(*v, s.path_of("required"));
                for (std::size_t j = 0; j < names.size(); ++j) {
                    const std::string item_path = s.path_of("required") + "." + std::to_string(j);
                    const auto& name = r.text(names[j], item_path);
                    const bool product_field =
                        product && (name == "url" || name == "fetched_at" || name == "status" ||
                                    std::find(pipelines::product_field_names.begin(),
                                              pipelines::product_field_names.end(),
                                              name) != pipelines::product_field_names.end());
                    if (has_fields && !product_field &&
                        std::none_of(
                            rule.fields.begin(), rule.fields.end(),
                            [&](const pipelines::field_rule& f) { return f.name == name; })) {
                        std::vector<std::string> field_names;
                        if (product) {
                            field_names.insert(field_names.end(),
                                               pipelines::product_field_names.begin(),
                                               pipelines::product_field_names.end());
                        }
                        for (const auto& f : rule.fields) {
                            field_names.push_back(f.name);
                        }
                        r.error(names[j].where, "'" + item_path + "' names no field of '" +
                                                    s.path_of("fields") + "' (got " +
                                                    quote_text(name) +
                                                    "); fields are: " + join_names(field_names));
                    }
                    if (!has_fields) {
                        // What a structured-data item can hold: the product fields with a schema,
                        // else the raw list named after the type.
                        std::vector<std::string> field_names = {"url", "fetched_at", "status"};
                        if (rule.schema.empty()) {
                            field_names.emplace_back(types[static_cast<std::size_t>(rule.type)]);
                        } else {
                            field_names.insert(field_names.end(),
                                               pipelines::product_field_names.begin(),
                                               pipelines::product_field_names.end());
                        }
                        if (std::find(field_names.begin(), field_names.end(), name) ==
                            field_names.end()) {
                            r.error(names[j].where,
                                    "'" + item_path + "' names no field of " +
                                        (rule.schema.empty() ? "the" : "a " + rule.schema) +
                                        " item (got " + quote_text(name) +
                                        "); fields are: " + join_names(field_names));
                        }
                    }
                    rule.required.push_back(name);
                }
            }
            r.check_supported("extract.type", types[static_cast<std::size_t>(rule.type)],
                              type_node.where, path + ".type");
            rules.push_back(std::move(rule));
        });
    }
    return rules;
}

}  // namespace harvest::config::reading
