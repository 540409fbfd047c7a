// simple_selector: the common CSS selectors matched on libxml2's tree without XPath.

#include "pipelines/html/simple_selector.hpp"

#include "engine/core/text.hpp"

#include <libxml/tree.h>

#include <cstring>

namespace harvest::pipelines::html_detail {
namespace {

bool is_css_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

// XPath's whitespace, which normalize-space splits class attributes at.
bool is_xpath_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool is_name_start(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool is_name_char(char c) noexcept {
    return is_name_start(c) || (c >= '0' && c <= '9') || c == '-';
}

std::string_view as_view(const xmlChar* text) {
    return text == nullptr ? std::string_view{}
                           : std::string_view(reinterpret_cast<const char*>(text));
}

// A plain ASCII identifier (no escapes, no leading '-' or digit: css_to_xpath treats those
// specially); empty when there is none at `pos`.
std::string_view take_name(std::string_view css, std::size_t& pos) {
    const std::size_t start = pos;
    if (pos >= css.size() || !is_name_start(css[pos])) {
        return {};
    }
    while (pos < css.size() && is_name_char(css[pos])) {
        ++pos;
    }
    return css.substr(start, pos - start);
}

// An id or class: digits and '-' may lead there (`#1a` is the id "1a").
std::string_view take_token(std::string_view css, std::size_t& pos) {
    const std::size_t start = pos;
    while (pos < css.size() && is_name_char(css[pos])) {
        ++pos;
    }
    return css.substr(start, pos - start);
}

// The attribute's string value when the HTML parser stored it as one text node (always, in
// practice), without copying; else nullopt and the caller copies.
std::optional<std::string_view> single_text(const xmlAttr* attribute) {
    const xmlNode* child = attribute->children;
    if (child == nullptr) {
        return std::string_view{};
    }
    if (child->next == nullptr && child->type == XML_TEXT_NODE) {
        return as_view(child->content);
    }
    return std::nullopt;
}

const xmlAttr* find_attribute(const xmlNode* node, std::string_view name) {
    for (const xmlAttr* attribute = node->properties; attribute != nullptr;
         attribute = attribute->next) {
        if (attribute->ns == nullptr && as_view(attribute->name) == name) {
            return attribute;
        }
    }
    return nullptr;
}

template <typename Test>
bool attribute_value_is(const xmlAttr* attribute, Test&& test) {
    if (const auto text = single_text(attribute)) {
        return test(*text);
    }
    xmlChar* copy = xmlNodeListGetString(attribute->doc, attribute->children, 1);
    const bool result = test(as_view(copy));
    xmlFree(copy);
    return result;
}

}  // namespace

bool has_class_token(std::string_view classes, std::string_view token) {
    std::size_t pos = 0;
    while (pos < classes.size()) {
        while (pos < classes.size() && is_xpath_space(classes[pos])) {
            ++pos;
        }
        const std::size_t start = pos;
        while (pos < classes.size() && !is_xpath_space(classes[pos])) {
            ++pos;
        }
        if (pos > start && classes.substr(start, pos - start) == token) {
            return true;
        }
    }
    return false;
}

std::optional<simple_selector> simple_selector::compile(std::string_view css) {
    while (!css.empty() && is_css_space(css.front())) {
        css.remove_prefix(1);
    }
    while (!css.empty() && is_css_space(css.back())) {
        css.remove_suffix(1);
    }
    simple_selector selector;
    std::size_t pos = 0;
    bool child = false;
    while (true) {
        compound test;
        test.child_of_previous = child;
        bool any = false;
        if (pos < css.size() && css[pos] == '*') {
            ++pos;
            any = true;
        } else if (const auto type = take_name(css, pos); !type.empty()) {
            test.type = core::ascii_lowered(type);
            any = true;
        }
        while (pos < css.size()) {
            const char c = css[pos];
            if (c == '#' || c == '.') {
                ++pos;
                const auto token = take_token(css, pos);
                if (token.empty()) {
                    return std::nullopt;
                }
                (c == '#' ? test.ids : test.classes).emplace_back(token);
            } else if (c == '[') {
                ++pos;
                const auto name = take_name(css, pos);
                if (name.empty() || pos >= css.size()) {
                    return std::nullopt;
                }
                attribute_test attribute{core::ascii_lowered(name), std::nullopt};
                if (css[pos] == '=') {
                    ++pos;
                    if (pos < css.size() && (css[pos] == '"' || css[pos] == '\'')) {
                        const char quote = css[pos];
                        const auto end = css.find(quote, pos + 1);
                        if (end == std::string_view::npos) {
                            return std::nullopt;
                        }
                        const auto value = css.substr(pos + 1, end - pos - 1);
                        // Escapes and line breaks mean something else inside CSS strings.
                        if (value.find_first_of("\\\n\r\f") != std::string_view::npos) {
                            return std::nullopt;
                        }
                        attribute.value = std::string(value);
                        pos = end + 1;
                    } else {
                        const auto value = take_token(css, pos);
                        if (value.empty()) {
                            return std::nullopt;
                        }
                        attribute.value = std::string(value);
                    }
                }
                if (pos >= css.size() || css[pos] != ']') {
                    return std::nullopt;  // other operators, case flags, spaces: XPath
                }
                ++pos;
                test.attributes.push_back(std::move(attribute));
            } else {
                break;
            }
            any = true;
        }
        if (!any) {
            return std::nullopt;
        }
        selector.compounds_.push_back(std::move(test));
        if (pos == css.size()) {
            return selector;
        }
        // A combinator: whitespace and / or '>'.
        bool space = false;
        while (pos < css.size() && is_css_space(css[pos])) {
            ++pos;
            space = true;
        }
        child = pos < css.size() && css[pos] == '>';
        if (child) {
            ++pos;
            while (pos < css.size() && is_css_space(css[pos])) {
                ++pos;
            }
        } else if (!space) {
            return std::nullopt;  // ':', ',', '+', '~' and anything else: XPath
        }
        if (pos == css.size()) {
            return std::nullopt;
        }
    }
}

bool simple_selector::matches_compound(const xmlNode* node, const compound& test) {
    if (!test.type.empty() && (node->ns != nullptr || as_view(node->name) != test.type)) {
        return false;
    }
    if (!test.ids.empty()) {
        const xmlAttr* id = find_attribute(node, "id");
        if (id == nullptr) {
            return false;
        }
        for (const auto& wanted : test.ids) {
            if (!attribute_value_is(id, [&](std::string_view v) { return v == wanted; })) {
                return false;
            }
        }
    }
    if (!test.classes.empty()) {
        const xmlAttr* classes = find_attribute(node, "class");
        if (classes == nullptr) {
            return false;
        }
        for (const auto& wanted : test.classes) {
            if (!attribute_value_is(
                    classes, [&](std::string_view v) { return has_class_token(v, wanted); })) {
                return false;
            }
        }
    }
    for (const auto& attribute_test : test.attributes) {
        const xmlAttr* attribute = find_attribute(node, attribute_test.name);
        if (attribute == nullptr) {
            return false;
        }
        if (attribute_test.value && !attribute_value_is(attribute, [&](std::string_view v) {
                return v == *attribute_test.value;
            })) {
            return false;
        }
    }
    return true;
}

bool simple_selector::matches(const xmlNode* node, std::size_t index, unsigned long& steps,
                              unsigned long max_steps) const {
    // Right to left. The recursion is as deep as the selector has compounds; the ancestor loop
    // is iterative (pages nest deeply) and counted in `steps`.
    const compound& test = compounds_[index];
    if (!matches_compound(node, test)) {
        return false;
    }
    if (index == 0) {
        return true;
    }
    const xmlNode* parent = node->parent;
    if (test.child_of_previous) {
        return parent != nullptr && parent->type == XML_ELEMENT_NODE &&
               matches(parent, index - 1, steps, max_steps);
    }
    for (const xmlNode* ancestor = parent;
         ancestor != nullptr && ancestor->type == XML_ELEMENT_NODE; ancestor = ancestor->parent) {
        // Past the bound the whole selection gives up (for_each_match sees steps > max_steps).
        if (++steps > max_steps) {
            return false;
        }
        if (matches(ancestor, index - 1, steps, max_steps)) {
            return true;
        }
    }
    return false;
}

const xmlNode* simple_selector::next_element(const xmlNode* node, const xmlNode* root) {
    // Down to the first child element, else along to the next sibling, else up and along.
    const xmlNode* next = node->children;
    while (true) {
        while (next != nullptr && next->type != XML_ELEMENT_NODE) {
            next = next->next;
        }
        if (next != nullptr) {
            return next;
        }
        // No element below `node` (or after it among its siblings): go along, then up.
        if (node == root) {
            return nullptr;
        }
        next = node->next;
        while (next != nullptr && next->type != XML_ELEMENT_NODE) {
            next = next->next;
        }
        if (next != nullptr) {
            return next;
        }
        node = node->parent;
        if (node == nullptr || node == root) {
            return nullptr;
        }
        next = nullptr;
    }
}

}  // namespace harvest::pipelines::html_detail
