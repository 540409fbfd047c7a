#include "pipelines/extract/extractor_set.hpp"

#include "engine/core/text.hpp"
#include "pipelines/extract/product_fields.hpp"
#include "pipelines/html/html.hpp"
#include "pipelines/structured/jsonld.hpp"
#include "pipelines/structured/microdata.hpp"
#include "pipelines/structured/product.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <utility>

namespace harvest::pipelines {

std::string_view to_string(extract_type type) noexcept {
    switch (type) {
        case extract_type::json:
            return "json";
        case extract_type::jsonld:
            return "jsonld";
        case extract_type::microdata:
            return "microdata";
        case extract_type::html:
            return "html";
        case extract_type::product:
            return "product";
    }
    return "unknown";
}

namespace {

using core::iequals;

// The response's Content-Type header, scanned here rather than with http_response::header()
// so the pipelines need only the engine's core library.
const std::string* content_type(const net::http_response& response) {
    for (const auto& [name, value] : response.headers) {
        if (iequals(name, "content-type")) {
            return &value;
        }
    }
    return nullptr;
}

bool required_present(const item& value, const std::vector<std::string>& required) {
    for (const auto& name : required) {
        const auto it = value.find(name);
        if (it == value.end() || it->value().is_null()) {
            return false;
        }
        if (const auto* list = it->value().if_array(); list != nullptr && list->empty()) {
            return false;
        }
    }
    return true;
}

item item_header(std::string_view url, std::chrono::system_clock::time_point fetched_at,
                 unsigned status, std::size_t fields) {
    item result;
    result.reserve(3 + fields);
    result.emplace("url", boost::json::string(url));
    result.emplace("fetched_at", rfc3339_ms(fetched_at).view());
    result.emplace("status", static_cast<std::int64_t>(status));
    return result;
}

// Appends `candidate` to `out` when it has every required field; counts it either way.
void emit(item candidate, const std::vector<std::string>& required, extract_outcome& outcome,
          std::vector<item>& out) {
    if (!required_present(candidate, required)) {
        ++outcome.invalid;
        return;
    }
    out.push_back(std::move(candidate));
    ++outcome.emitted;
}

void emit_products(std::vector<boost::json::object> products, std::string_view url,
                   const crawl::fetched_page& page, const std::vector<std::string>& required,
                   extract_outcome& outcome, std::vector<item>& out) {
    for (auto& product : products) {
        item result = item_header(url, page.fetched_at, page.response.status, product.size());
        for (auto& field : product) {
            result.insert_or_assign(field.key(), std::move(field.value()));
        }
        emit(std::move(result), required, outcome, out);
    }
}

// A product's image as the page wrote it in JSON-LD may be relative: resolved against the page's
// URL and its first <base href>, as browsers resolve it. A value that does not resolve stays as
// written.
void resolve_images(std::vector<boost::json::object>& products, std::string_view body,
                    std::string_view url) {
    std::optional<reference_base> base;
    for (auto& product : products) {
        auto* image = product.if_contains("image");
        if (image == nullptr || !image->is_string()) {
            continue;
        }
        const std::string_view written = image->get_string();
        if (written.starts_with("https://") || written.starts_with("http://")) {
            continue;
        }
        if (!base) {
            const auto href = find_base_href(body);
            base.emplace(url, href ? std::optional<std::string>(std::string(*href)) : std::nullopt);
        }
        if (auto resolved = base->resolve(written)) {
            *image = boost::json::string(*resolved);
        }
    }
}

void emit_list(std::string_view name, std::vector<boost::json::value> values, std::string_view url,
               const crawl::fetched_page& page, const std::vector<std::string>& required,
               extract_outcome& outcome, std::vector<item>& out) {
    item result = item_header(url, page.fetched_at, page.response.status, 1);
    boost::json::array list;
    list.reserve(values.size());
    for (auto& value : values) {
        list.push_back(std::move(value));
    }
    result.emplace(name, std::move(list));
    emit(std::move(result), required, outcome, out);
}

}  // namespace

bool looks_like_html(const net::http_response& response) {
    if (const std::string* type = content_type(response)) {
        std::string_view media = *type;
        media = media.substr(0, media.find(';'));
        const auto first = media.find_first_not_of(" \t");
        if (first == std::string_view::npos) {
            return false;
        }
        media = media.substr(first, media.find_last_not_of(" \t") - first + 1);
        return iequals(media, "text/html") || iequals(media, "application/xhtml+xml");
    }
    // No header: sniff the start, as browsers do for a missing type.
    constexpr std::size_t sniff_bytes = 1024;
    std::string head = response.body.substr(0, sniff_bytes);
    core::ascii_lower_in_place(head);
    return head.find("<html") != std::string::npos ||
           head.find("<!doctype html") != std::string::npos;
}

extractor_set::extractor_set(std::vector<extract_rule> rules, std::vector<follow_rule> follow) {
    rules_.reserve(rules.size());
    for (auto& rule : rules) {
        const std::string type_name(to_string(rule.type));
        std::regex match;
        try {
            match = std::regex(rule.match, std::regex::ECMAScript | std::regex::optimize);
        } catch (const std::regex_error& error) {
            throw std::invalid_argument("extract match \"" + rule.match +
                                        "\" is not a valid regex: " + error.what());
        }
        compiled_rule compiled{rule, std::move(match), std::nullopt,
                               {},   std::nullopt,     std::nullopt};
        if (rule.match.find_first_of("\\^$.|?*+()[]{}") == std::string::npos) {
            compiled.literal = rule.match;
        }
        switch (rule.type) {
            case extract_type::json:
                compiled.json.emplace(rule);
                break;
            case extract_type::html:
                if (rule.fields.empty()) {
                    throw std::invalid_argument("extract type `html` needs at least one field");
                }
                for (const auto& field : rule.fields) {
                    compiled.fields.emplace_back(field);  // throws on a bad selector
                }
                compiled.fast = fast_html_selection::compile(fast_selection_rules(rule.fields));
                break;
            case extract_type::product:
                for (const auto& field : rule.fields) {
                    compiled.fields.emplace_back(field);  // throws on a bad selector
                }
                if (!rule.fields.empty()) {
                    compiled.fast = fast_html_selection::compile(fast_selection_rules(rule.fields));
                }
                for (const auto source : rule.sources) {
                    if (source != extract_type::jsonld && source != extract_type::microdata &&
                        source != extract_type::html) {
                        throw std::invalid_argument(
                            "extract type `product`: its sources are jsonld, microdata and html");
                    }
                }
                for (const auto& name : rule.required) {
                    const bool known =
                        name == "url" || name == "fetched_at" || name == "status" ||
                        std::find(product_field_names.begin(), product_field_names.end(), name) !=
                            product_field_names.end() ||
                        std::any_of(rule.fields.begin(), rule.fields.end(),
                                    [&](const field_rule& f) { return f.name == name; });
                    if (!known) {
                        throw std::invalid_argument("extract type `product`: required field `" +
                                                    name + "` is never in its items");
                    }
                }
                break;
            case extract_type::jsonld:
            case extract_type::microdata:
                if (!rule.schema.empty() && rule.schema != "Product") {
                    throw std::invalid_argument("extract type `" + type_name + "`: schema `" +
                                                rule.schema +
                                                "` is not supported (use Product, or no schema)");
                }
                for (const auto& name : rule.required) {
                    const bool known =
                        name == "url" || name == "fetched_at" || name == "status" ||
                        (rule.schema.empty()
                             ? name == type_name
                             : std::find(product_field_names.begin(), product_field_names.end(),
                                         name) != product_field_names.end());
                    if (!known) {
                        throw std::invalid_argument("extract type `" + type_name +
                                                    "`: required field `" + name +
                                                    "` is never in its items");
                    }
                }
                break;
        }
        rules_.push_back(std::move(compiled));
    }
    follow_.reserve(follow.size());
    for (const auto& rule : follow) {
        follow_.emplace_back(rule);  // throws on a bad selector or regex
    }
}

extract_outcome extractor_set::extract(const crawl::fetched_page& page,
                                       std::vector<item>& out) const {
    std::vector<std::string> ignored;
    return extract(page, out, ignored);
}

extract_outcome extractor_set::extract(const crawl::fetched_page& page, std::vector<item>& out,
                                       std::vector<std::string>& links) const {
    std::vector<std::uint32_t> ignored;
    return extract(page, out, links, ignored);
}

extract_outcome extractor_set::extract(const crawl::fetched_page& page, std::vector<item>& out,
                                       std::vector<std::string>& links,
                                       std::vector<std::uint32_t>& link_rules) const {
    const std::string& url =
        page.response.final_url.empty() ? page.request.http.url : page.response.final_url;
    // The first matching rule per type; the types are independent of each other.
    std::array<const compiled_rule*, extract_type_count> chosen{};
    for (const auto& rule : rules_) {
        auto& slot = chosen[static_cast<std::size_t>(rule.rule.type)];
        if (slot == nullptr && (rule.literal ? url.find(*rule.literal) != std::string::npos
                                             : std::regex_search(url, rule.match))) {
            slot = &rule;
        }
    }

    // One parse per page, shared by the html rule and the follow rules.
    const unsigned link_depth = page.request.depth + 1;
    const bool wants_links = std::any_of(follow_.begin(), follow_.end(), [&](const link_rule& r) {
        return r.rule().max_depth == 0 || link_depth <= r.rule().max_depth;
    });
    const bool wants_html =
        std::any_of(all_extract_types.begin(), all_extract_types.end(), [&](extract_type type) {
            return type != extract_type::json && chosen[static_cast<std::size_t>(type)];
        });
    // Sniffing may copy a KiB: only when some rule would read the page as HTML.
    const bool html_body = (wants_links || wants_html) && looks_like_html(page.response);
    // Links and the html rule's fields without a tree when their selectors allow it; a page the
    // tokenizer declines takes the libxml2 path. (A listing page of 50,000 links parsed into a
    // tree costs tens of MB for a moment; the tokenizer keeps only the hrefs.)
    std::optional<std::vector<std::string>> fast_links;
    std::vector<std::uint32_t> found_rules;
    if (html_body && wants_links) {
        fast_links = links_fast(page.response.body, url, link_depth, found_rules);
    }
    // The html fields of the html rule and of the product rule (its html source).
    std::array<std::optional<boost::json::object>, extract_type_count> fast_fields;
    std::array<std::uint64_t, extract_type_count> fast_invalid{};
    bool needs_tree = false;
    for (const extract_type type : {extract_type::html, extract_type::product}) {
        const compiled_rule* rule = chosen[static_cast<std::size_t>(type)];
        if (!html_body || rule == nullptr || rule->rule.fields.empty()) {
            continue;
        }
        const auto slot = static_cast<std::size_t>(type);
        if ((!wants_links || fast_links) && rule->fast) {
            fast_fields[slot] = extract_html_fields_fast(
                *rule->fast, page.response.body, rule->rule.fields, &fast_invalid[slot], url);
        }
        needs_tree = needs_tree || !fast_fields[slot];
    }
    std::optional<html_document> document;
    if (html_body && ((wants_links && !fast_links) || needs_tree)) {
        document.emplace(html_document::parse(page.response.body, url));
    }

    extract_outcome outcome;
    for (const extract_type type : all_extract_types) {
        const compiled_rule* rule = chosen[static_cast<std::size_t>(type)];
        if (rule == nullptr) {
            continue;
        }
        extract_outcome one;
        if (type != extract_type::json && !html_body) {
            one.error = 1;  // a structured-data or html rule on a JSON, image, ... body
        } else {
            auto& fast = fast_fields[static_cast<std::size_t>(type)];
            one = run(*rule, page, url, document ? &*document : nullptr, out,
                      fast ? &*fast : nullptr, fast_invalid[static_cast<std::size_t>(type)]);
        }
        one.attribute_to(type);
        outcome += one;
    }

    if (wants_links && (fast_links || document)) {
        auto found =
            fast_links
                ? std::move(*fast_links)
                : merge_links(
                      link_depth, [&](const link_rule& rule) { return rule.links(*document, url); },
                      found_rules);
        outcome.links += found.size();
        link_rules.insert(link_rules.end(), found_rules.begin(), found_rules.end());
        links.insert(links.end(), std::make_move_iterator(found.begin()),
                     std::make_move_iterator(found.end()));
    }
    return outcome;
}

template <typename Links>
std::vector<std::string> extractor_set::merge_links(unsigned link_depth, Links&& links_of,
                                                    std::vector<std::uint32_t>& rules) const {
    std::vector<std::string> merged;
    std::unordered_set<std::string> seen;
    rules.clear();
    for (std::size_t index = 0; index < follow_.size(); ++index) {
        const auto& rule = follow_[index];
        if (rule.rule().max_depth != 0 && link_depth > rule.rule().max_depth) {
            continue;
        }
        for (auto& link : links_of(rule)) {
            if (seen.insert(link).second) {
                merged.push_back(std::move(link));
                rules.push_back(static_cast<std::uint32_t>(index + 1));
            }
        }
    }
    return merged;
}

std::optional<std::vector<std::string>> extractor_set::links_fast(
    std::string_view page, std::string_view url, unsigned link_depth,
    std::vector<std::uint32_t>& rules) const {
    bool declined = false;
    auto merged = merge_links(
        link_depth,
        [&](const link_rule& rule) {
            auto found = declined ? std::nullopt : rule.links_fast(page, url);
            declined = declined || !found;
            return found ? std::move(*found) : std::vector<std::string>{};
        },
        rules);
    if (declined) {
        return std::nullopt;
    }
    return merged;
}

extract_outcome extractor_set::run(const compiled_rule& rule, const crawl::fetched_page& page,
                                   std::string_view url, const html_document* document,
                                   std::vector<item>& out, boost::json::object* fast_fields,
                                   std::uint64_t fast_invalid) const {
    extract_outcome outcome;
    const std::string& body = page.response.body;
    switch (rule.rule.type) {
        case extract_type::json:
            return rule.json->extract(url, page.fetched_at, page.response.status, body, out);
        case extract_type::jsonld:
            if (rule.rule.schema.empty()) {
                emit_list("jsonld", find_jsonld(body), url, page, rule.rule.required, outcome, out);
            } else {
                // Each product comes as its item: the header first, then its fields.
                auto items = jsonld_products(
                    body, item_header(url, page.fetched_at, page.response.status, 0));
                resolve_images(items, body, url);
                for (auto& product : items) {
                    emit(std::move(product), rule.rule.required, outcome, out);
                }
            }
            return outcome;
        case extract_type::microdata:
            if (rule.rule.schema.empty()) {
                emit_list("microdata", find_microdata(body, url), url, page, rule.rule.required,
                          outcome, out);
            } else {
                emit_products(products_from_microdata(find_microdata(body, url)), url, page,
                              rule.rule.required, outcome, out);
            }
            return outcome;
        case extract_type::product:
            return run_product(rule, page, url, document, out, fast_fields, fast_invalid);
        case extract_type::html: {
            boost::json::object fields;
            if (fast_fields != nullptr) {
                fields = std::move(*fast_fields);
                outcome.values_invalid += fast_invalid;
            } else {
                fields = extract_html_fields(*document, rule.fields, rule.rule.fields,
                                             &outcome.values_invalid);
            }
            item result = item_header(url, page.fetched_at, page.response.status, fields.size());
            for (auto& field : fields) {
                result.insert_or_assign(field.key(), std::move(field.value()));
            }
            emit(std::move(result), rule.rule.required, outcome, out);
            return outcome;
        }
    }
    return outcome;
}

extract_outcome extractor_set::run_product(const compiled_rule& rule,
                                           const crawl::fetched_page& page, std::string_view url,
                                           const html_document* document, std::vector<item>& out,
                                           boost::json::object* fast_fields,
                                           std::uint64_t fast_invalid) const {
    extract_outcome outcome;
    const std::string& body = page.response.body;
    std::optional<boost::json::object> html;
    if (fast_fields != nullptr) {
        html = std::move(*fast_fields);
        outcome.values_invalid += fast_invalid;
    } else if (document != nullptr && !rule.rule.fields.empty()) {
        html =
            extract_html_fields(*document, rule.fields, rule.rule.fields, &outcome.values_invalid);
    }
    // Each source's product, in the rule's order: of a page's several Products (a bare one the
    // theme names before the shop plugin describes it, a related one), the most complete (most
    // non-null fields; the first among equals).
    std::vector<boost::json::object> sources;
    const auto take_most_complete = [&sources](std::vector<boost::json::object> products) {
        std::size_t best = 0;
        std::ptrdiff_t best_count = -1;
        for (std::size_t i = 0; i < products.size(); ++i) {
            const auto count = std::count_if(products[i].begin(), products[i].end(),
                                             [](const auto& f) { return !f.value().is_null(); });
            if (count > best_count) {
                best = i;
                best_count = count;
            }
        }
        if (!products.empty()) {
            sources.push_back(std::move(products[best]));
        }
    };
    for (const extract_type source : rule.rule.sources) {
        if (source == extract_type::jsonld) {
            auto products = jsonld_products(body);
            resolve_images(products, body, url);
            take_most_complete(std::move(products));
        } else if (source == extract_type::microdata) {
            take_most_complete(products_from_microdata(find_microdata(body, url)));
        } else if (source == extract_type::html && html) {
            sources.push_back(*html);
        }
    }
    const auto first_value = [&](std::string_view name) -> const boost::json::value* {
        for (const auto& source : sources) {
            if (const auto* value = source.if_contains(name); value && !value->is_null()) {
                return value;
            }
        }
        return nullptr;
    };
    // A price and its currency come from one source: the first with a price.
    const boost::json::object* priced = nullptr;
    for (const auto& source : sources) {
        if (const auto* price = source.if_contains("price"); price && !price->is_null()) {
            priced = &source;
            break;
        }
    }
    item result = item_header(url, page.fetched_at, page.response.status,
                              product_field_names.size() + rule.rule.fields.size());
    bool found = false;
    for (const std::string_view name : product_field_names) {
        const boost::json::value* value = nullptr;
        if (name == "currency" && priced != nullptr) {
            value = priced->if_contains("currency");
            value = value != nullptr && value->is_null() ? nullptr : value;
        }
        if (value == nullptr) {
            value = first_value(name);
        }
        found = found || value != nullptr;
        result.insert_or_assign(name, value != nullptr ? *value : boost::json::value(nullptr));
    }
    if (html) {
        for (const auto& field : rule.rule.fields) {
            if (std::find(product_field_names.begin(), product_field_names.end(), field.name) !=
                product_field_names.end()) {
                continue;
            }
            const auto* value = html->if_contains(field.name);
            found = found || (value != nullptr && !value->is_null());
            result.insert_or_assign(field.name,
                                    value != nullptr ? *value : boost::json::value(nullptr));
        }
    }
    if (found) {  // a page without any product data gives no item
        emit(std::move(result), rule.rule.required, outcome, out);
    }
    return outcome;
}

}  // namespace harvest::pipelines
