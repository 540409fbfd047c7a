// html_field: compiled XPath selection and the value of each selected node.

#include "engine/core/text.hpp"
#include "pipelines/html/element_kinds.hpp"
#include "pipelines/html/html.hpp"
#include "pipelines/html/libxml_support.hpp"
#include "pipelines/html/simple_selector.hpp"

#include <libxml/tree.h>
#include <libxml/xpath.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>

namespace harvest::pipelines {
namespace {

// Pooled compiled expressions kept per field: more than this means more threads than cores
// evaluated it at once; extra copies are freed instead of kept.
constexpr std::size_t max_pooled = 32;

// libxml2 counts XPath operations and nodes visited (about 40-100 million a second): a
// compound selector on a 10 MB page of 350,000 elements takes 1-10 million; quadratic ones
// (`p.a ~ p.a` over 30,000 siblings) take billions. This bound is a few seconds of work.
constexpr unsigned long max_xpath_operations = 200'000'000;

std::string_view as_view(const xmlChar* text) {
    return text == nullptr ? std::string_view{}
                           : std::string_view(reinterpret_cast<const char*>(text));
}

bool is_hidden_element(const xmlNode* node) {
    return html_detail::is_hidden_element_name(as_view(node->name));
}

bool is_block_element(const xmlNode* node) {
    return html_detail::is_block_element_name(as_view(node->name));
}

// Raw text under `root` in document order, without recursion (pages nest deeply).
void append_element_text(const xmlNode* root, std::string& out) {
    const xmlNode* node = root->children;
    while (node != nullptr) {
        bool descend = false;
        if (node->type == XML_TEXT_NODE || node->type == XML_CDATA_SECTION_NODE) {
            out += as_view(node->content);
        } else if (node->type == XML_ELEMENT_NODE && !is_hidden_element(node)) {
            if (is_block_element(node)) {
                out.push_back(' ');
            }
            descend = node->children != nullptr;
        }
        if (descend) {
            node = node->children;
            continue;
        }
        while (node != root && node->next == nullptr) {
            node = node->parent;
            if (node == nullptr) {
                return;
            }
            if (node != root && node->type == XML_ELEMENT_NODE && is_block_element(node)) {
                out.push_back(' ');
            }
        }
        if (node == root) {
            return;
        }
        node = node->next;
    }
}

std::string node_string_value(const xmlNode* node) {
    xmlChar* content = xmlNodeGetContent(node);
    std::string value(as_view(content));
    xmlFree(content);
    return value;
}

std::string format_number(double number) {
    char buffer[64];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, number);
    return std::string(buffer, result.ptr);
}

}  // namespace

std::string normalize_space(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    bool pending_space = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        const bool nbsp = c == '\xC2' && i + 1 < text.size() && text[i + 1] == '\xA0';
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || nbsp) {
            pending_space = true;
            i += nbsp ? 1 : 0;
            continue;
        }
        if (pending_space && !out.empty()) {
            out.push_back(' ');
        }
        pending_space = false;
        out.push_back(c);
    }
    return out;
}

struct html_field::compiled_pool {
    std::string xpath;
    std::mutex mutex;
    std::vector<xmlXPathCompExprPtr> idle;

    ~compiled_pool() {
        for (auto* expression : idle) {
            xmlXPathFreeCompExpr(expression);
        }
    }

    // Throws std::invalid_argument when the expression does not compile.
    xmlXPathCompExprPtr compile() const {
        std::string message;
        const html_detail::quiet_libxml quiet(&message);
        xmlXPathCompExprPtr expression =
            xmlXPathCompile(reinterpret_cast<const xmlChar*>(xpath.c_str()));
        if (expression == nullptr) {
            while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
                message.pop_back();
            }
            throw std::invalid_argument("XPath \"" + xpath + "\" does not compile" +
                                        (message.empty() ? "" : ": " + message));
        }
        return expression;
    }

    xmlXPathCompExprPtr acquire() {
        {
            const std::lock_guard lock(mutex);
            if (!idle.empty()) {
                xmlXPathCompExprPtr expression = idle.back();
                idle.pop_back();
                return expression;
            }
        }
        return compile();  // compiled once already: cannot throw but for memory
    }

    void release(xmlXPathCompExprPtr expression) {
        {
            const std::lock_guard lock(mutex);
            if (idle.size() < max_pooled) {
                idle.push_back(expression);
                return;
            }
        }
        xmlXPathFreeCompExpr(expression);
    }
};

html_field::html_field(const field_rule& rule)
    : text_(rule.text), pool_(std::make_shared<compiled_pool>()) {
    html_detail::ensure_libxml_initialized();
    if (!rule.css.empty()) {
        xpath_ = css_to_xpath(rule.css);
    } else if (!rule.xpath.empty()) {
        xpath_ = rule.xpath;
    } else {
        throw std::invalid_argument("field \"" + rule.name + "\": needs css or xpath");
    }
    if (xpath_.find('\0') != std::string::npos) {
        throw std::invalid_argument("field \"" + rule.name + "\": the XPath holds a NUL byte");
    }
    attribute_ = core::ascii_lowered(rule.attribute);
    pool_->xpath = xpath_;
    pool_->idle.push_back(pool_->compile());
    if (!rule.css.empty()) {
        if (auto simple = html_detail::simple_selector::compile(rule.css)) {
            simple_ = std::make_shared<const html_detail::simple_selector>(std::move(*simple));
        }
    }
}

void html_field::append_value(const _xmlNode* node, std::vector<std::string>& values) const {
    const auto finish = [this](std::string value) {
        return text_ ? normalize_space(value) : value;
    };
    switch (node->type) {
        case XML_ELEMENT_NODE:
            if (!attribute_.empty()) {
                xmlChar* value =
                    xmlGetProp(node, reinterpret_cast<const xmlChar*>(attribute_.c_str()));
                if (value != nullptr) {
                    values.push_back(finish(std::string(as_view(value))));
                    xmlFree(value);
                }
            } else {
                std::string text;
                append_element_text(node, text);
                values.push_back(normalize_space(text));
            }
            break;
        case XML_DOCUMENT_NODE:
        case XML_HTML_DOCUMENT_NODE: {
            std::string text;
            append_element_text(node, text);
            values.push_back(normalize_space(text));
            break;
        }
        case XML_ATTRIBUTE_NODE:
        case XML_TEXT_NODE:
        case XML_CDATA_SECTION_NODE:
        case XML_COMMENT_NODE:
        case XML_PI_NODE:
            values.push_back(finish(node_string_value(node)));
            break;
        default:
            break;  // namespace nodes (not xmlNode at all), DTDs, ...
    }
}

std::vector<std::string> html_field::select(const html_document& document, bool first_only) const {
    std::vector<std::string> values;
    xmlDocPtr doc = document.get();
    if (doc == nullptr) {
        return values;
    }
    if (simple_) {
        const bool finished = simple_->for_each_match(
            reinterpret_cast<const xmlNode*>(doc), max_xpath_operations, [&](const xmlNode* node) {
                append_value(node, values);
                return first_only && !values.empty();
            });
        if (!finished) {
            values.clear();  // over the work bound: nothing selected, as with XPath
        }
        return values;
    }
    const html_detail::quiet_libxml quiet;
    // A context per call: contexts hold evaluation state and are not shareable across threads.
    const std::unique_ptr<xmlXPathContext, decltype(&xmlXPathFreeContext)> context(
        xmlXPathNewContext(doc), &xmlXPathFreeContext);
    if (!context) {
        throw std::bad_alloc();
    }
    context->node = reinterpret_cast<xmlNodePtr>(doc);
    // Bounds the work of one evaluation: a hostile page (say a million nested elements under
    // `div.a div.a`) must not hold a worker for hours. Exceeding it selects nothing.
    context->opLimit = max_xpath_operations;
    context->opCount = 0;
    xmlXPathCompExprPtr expression = pool_->acquire();
    const std::unique_ptr<xmlXPathObject, decltype(&xmlXPathFreeObject)> result(
        xmlXPathCompiledEval(expression, context.get()), &xmlXPathFreeObject);
    pool_->release(expression);
    if (!result) {
        return values;  // a runtime XPath error (e.g. a type error): nothing selected
    }
    const auto finish = [this](std::string value) {
        return text_ ? normalize_space(value) : value;
    };
    switch (result->type) {
        case XPATH_NODESET: {
            const xmlNodeSet* nodes = result->nodesetval;
            const int count = nodes == nullptr ? 0 : nodes->nodeNr;
            for (int i = 0; i < count && !(first_only && !values.empty()); ++i) {
                append_value(nodes->nodeTab[i], values);
            }
            break;
        }
        case XPATH_STRING: {
            std::string value = finish(std::string(as_view(result->stringval)));
            if (!value.empty()) {
                values.push_back(std::move(value));
            }
            break;
        }
        case XPATH_NUMBER:
            if (std::isfinite(result->floatval)) {
                values.push_back(format_number(result->floatval));
            }
            break;
        case XPATH_BOOLEAN:
            values.emplace_back(result->boolval != 0 ? "true" : "false");
            break;
        default:
            break;
    }
    return values;
}

std::optional<std::string> html_field::first(const html_document& document) const {
    std::vector<std::string> values = select(document, true);
    if (values.empty()) {
        return std::nullopt;
    }
    return std::move(values.front());
}

std::vector<std::string> html_field::all(const html_document& document) const {
    return select(document, false);
}

}  // namespace harvest::pipelines
