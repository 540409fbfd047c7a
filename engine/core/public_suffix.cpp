#include "engine/core/public_suffix.hpp"

#include "engine/core/idna.hpp"
#include "engine/core/text.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace harvest::core {

public_suffix_list public_suffix_list::parse(std::string_view text) {
    public_suffix_list list;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        std::string_view line = trim(text.substr(pos, end - pos));
        pos = end + 1;
        if (line.empty() || line.starts_with("//")) {
            continue;
        }
        // A rule is the line's first word; the rest is ignored (the list's format says so).
        line = line.substr(0, line.find_first_of(" \t"));
        bool exception = false;
        bool wildcard = false;
        if (line.starts_with('!')) {
            exception = true;
            line.remove_prefix(1);
        } else if (line.starts_with("*.")) {
            wildcard = true;
            line.remove_prefix(2);
        }
        if (line.empty()) {
            continue;
        }
        std::string rule;
        if (is_valid_utf8(line) &&
            std::any_of(line.begin(), line.end(), [](char c) { return (c & 0x80) != 0; })) {
            auto ascii = idna_to_ascii(line);
            if (!ascii) {
                continue;
            }
            rule = std::move(*ascii);
        } else {
            rule = ascii_lowered(line);
        }
        auto& set = exception ? list.exception_ : wildcard ? list.wildcard_ : list.exact_;
        set.insert(std::move(rule));
        ++list.rules_;
    }
    return list;
}

public_suffix_list public_suffix_list::load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return {};
    }
    std::ostringstream text;
    text << in.rdbuf();
    return parse(text.str());
}

const public_suffix_list& public_suffix_list::system() {
    static const public_suffix_list list = load(std::string(system_path));
    return list;
}

bool public_suffix_list::is_public_suffix(std::string_view domain) const {
    if (domain.empty()) {
        return true;
    }
    const std::string name(domain);
    if (exception_.contains(name)) {
        return false;  // "!www.ck": www.ck is registrable although *.ck is a rule
    }
    if (exact_.contains(name)) {
        return true;
    }
    const auto dot = domain.find('.');
    if (dot == std::string_view::npos) {
        return true;  // the implicit "*" rule: every top-level label is a suffix
    }
    return wildcard_.contains(std::string(domain.substr(dot + 1)));
}

}  // namespace harvest::core
