#pragma once
// HTML's ASCII whitespace (the tokenizer's "whitespace": space, tab, LF, CR, FF), as the JSON-LD
// and microdata readers trim and split attribute values and script text by it.

#include <string_view>
#include <vector>

namespace harvest::pipelines {

// JSON's whitespace is the same minus '\f'.
constexpr bool is_html_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

constexpr std::string_view trim_html_space(std::string_view s) noexcept {
    while (!s.empty() && is_html_space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_html_space(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

// The whitespace-separated tokens of `s` (an itemprop, itemtype or itemref value).
inline std::vector<std::string_view> split_html_space(std::string_view s) {
    std::vector<std::string_view> parts;
    std::size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && is_html_space(s[i])) {
            ++i;
        }
        const std::size_t begin = i;
        while (i < s.size() && !is_html_space(s[i])) {
            ++i;
        }
        if (i > begin) {
            parts.push_back(s.substr(begin, i - begin));
        }
    }
    return parts;
}

}  // namespace harvest::pipelines
