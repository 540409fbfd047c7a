// A field's `regex` post-processing (docs/config.md, "Field post-processing").

#include "pipelines/html/html.hpp"

#include <regex>
#include <stdexcept>

namespace harvest::pipelines {

struct field_pattern {
    std::regex regex;
    bool grouped = false;  // it has a capture group: the first group's text is the value
};

std::shared_ptr<const field_pattern> make_field_pattern(const std::string& regex) {
    auto pattern = std::make_shared<field_pattern>();
    try {
        pattern->regex = std::regex(regex, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
        throw std::invalid_argument("regex '" + regex + "' does not compile: " + e.what());
    }
    pattern->grouped = pattern->regex.mark_count() > 0;
    return pattern;
}

std::optional<std::string> apply_field_pattern(const field_pattern& pattern,
                                               std::string_view text) {
    std::match_results<std::string_view::const_iterator> match;
    if (!std::regex_search(text.begin(), text.end(), match, pattern.regex)) {
        return std::nullopt;
    }
    const auto& kept = pattern.grouped ? match[1] : match[0];
    if (!kept.matched) {
        return std::nullopt;
    }
    return kept.str();
}

}  // namespace harvest::pipelines
