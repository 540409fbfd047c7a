#pragma once
// Internal to harvest_html: the common CSS selectors matched directly on libxml2's tree.
//
// Profiling `type: html` extraction on catalog product pages showed libxml2's XPath evaluation
// of css_to_xpath's output at ~40% of the time: `//span[contains(concat(' ',
// normalize-space(@class), ' '), ' price ')]` builds and frees several strings per element.
// Selectors made only of type / `*`, `#id`, `.class`, `[attr]` and `[attr=value]` compounds
// joined by descendant and `>` combinators (most extraction rules) are matched here instead,
// by one walk in document order without allocating. Everything else keeps going through XPath.
//
// The result is the node set css_to_xpath's expression selects, in the same (document) order:
// names as libxml2's HTML parser stores them (type and attribute names lowercased, no
// namespace), id / class / values compared byte for byte, class tokens split at XPath's
// whitespace (space, tab, CR, LF) as normalize-space does. tests/unit/html checks the two
// against each other.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct _xmlNode;

namespace harvest::pipelines::html_detail {

// True when the class attribute value `classes`, split at XPath's whitespace, holds `token`:
// what `.token` selects, in both matchers (this one and fast_html's).
bool has_class_token(std::string_view classes, std::string_view token);

class simple_selector {
  public:
    // The selector when it is in the subset above, else nullopt (then use XPath). Only called
    // with selectors css_to_xpath accepted.
    static std::optional<simple_selector> compile(std::string_view css);

    // Calls visit(node) for each matching element in document order until it returns true.
    // Returns false when more than `max_steps` steps were needed (a hostile page): then the
    // caller selects nothing, as XPath does past its operation limit.
    template <typename Visit>
    bool for_each_match(const _xmlNode* root, unsigned long max_steps, Visit&& visit) const;

    struct attribute_test {
        std::string name;
        std::optional<std::string> value;  // nullopt: presence only
    };
    struct compound {
        std::string type;  // empty: any element
        std::vector<std::string> ids;
        std::vector<std::string> classes;
        std::vector<attribute_test> attributes;
        bool child_of_previous = false;  // `>` before this compound (else descendant)
    };

    // Left to right; read by the tree-less matcher (fast_html.cpp).
    const std::vector<compound>& compounds() const noexcept { return compounds_; }

  private:
    bool matches(const _xmlNode* node, std::size_t index, unsigned long& steps,
                 unsigned long max_steps) const;
    static bool matches_compound(const _xmlNode* node, const compound& test);
    // Preorder walk; next element after `node` under `root`, or null.
    static const _xmlNode* next_element(const _xmlNode* node, const _xmlNode* root);

    std::vector<compound> compounds_;  // left to right
};

template <typename Visit>
bool simple_selector::for_each_match(const _xmlNode* root, unsigned long max_steps,
                                     Visit&& visit) const {
    unsigned long steps = 0;
    for (const _xmlNode* node = next_element(root, root); node != nullptr;
         node = next_element(node, root)) {
        if (++steps > max_steps) {
            return false;
        }
        if (matches(node, compounds_.size() - 1, steps, max_steps) && visit(node)) {
            return true;
        }
        if (steps > max_steps) {
            return false;
        }
    }
    return true;
}

}  // namespace harvest::pipelines::html_detail
