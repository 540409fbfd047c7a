// Fuzzes the tree-less html tokenizer differentially: whenever it accepts a page, every field
// must give what the libxml2 path (html_document + html_field) gives; a difference aborts.

#include "pipelines/html/fast_html.hpp"
#include "pipelines/html/html.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::vector<harvest::pipelines::field_rule> make_rules() {
    std::vector<harvest::pipelines::field_rule> rules;
    const char* const selectors[] = {"p", "div.box span", "ul > li", "a[href]", "td", "#a", "b"};
    for (const char* css : selectors) {
        for (const char* attribute : {"", "href", "class"}) {
            harvest::pipelines::field_rule rule;
            rule.name = "f" + std::to_string(rules.size());
            rule.css = css;
            rule.attribute = attribute;
            rule.text = rules.size() % 2 == 0;
            rules.push_back(rule);
        }
    }
    return rules;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace pl = harvest::pipelines;
    static const std::vector<pl::field_rule> rules = make_rules();
    static const std::vector<pl::html_field> fields(rules.begin(), rules.end());
    static const auto selection = pl::fast_html_selection::compile(rules);
    const std::string_view page(reinterpret_cast<const char*>(data), size);
    const bool first_only = size % 2 == 0;
    const auto fast = selection->select(page, first_only);
    if (!fast) {
        return 0;
    }
    const auto document = pl::html_document::parse(page, "http://127.0.0.1/");
    for (std::size_t i = 0; i < rules.size(); ++i) {
        std::vector<std::string> expected = fields[i].all(document);
        if (first_only && expected.size() > 1) {
            expected.resize(1);
        }
        if ((*fast)[i] != expected) {
            std::abort();
        }
    }
    return 0;
}
