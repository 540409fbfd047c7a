#include "engine/crawl/sitemap.hpp"

#include <cctype>

namespace harvest::crawl {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) {
        s.remove_prefix(1);
    }
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) {
        s.remove_suffix(1);
    }
    return s;
}

// XML's predefined entities and numeric references (ASCII range; others are kept as written:
// URLs in sitemaps are ASCII by the sitemaps.org rules).
std::string decode_entities(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '&') {
            out.push_back(text[i]);
            continue;
        }
        const auto end = text.find(';', i);
        if (end == std::string_view::npos || end - i > 10) {
            out.push_back('&');
            continue;
        }
        const std::string_view name = text.substr(i + 1, end - i - 1);
        char decoded = 0;
        if (name == "amp") {
            decoded = '&';
        } else if (name == "lt") {
            decoded = '<';
        } else if (name == "gt") {
            decoded = '>';
        } else if (name == "quot") {
            decoded = '"';
        } else if (name == "apos") {
            decoded = '\'';
        } else if (name.size() > 1 && name[0] == '#') {
            unsigned long code = 0;
            bool hex = name[1] == 'x' || name[1] == 'X';
            bool valid = name.size() > (hex ? 2u : 1u);
            for (char c : name.substr(hex ? 2 : 1)) {
                const int digit = std::isdigit(static_cast<unsigned char>(c)) != 0 ? c - '0'
                                  : hex && std::isxdigit(static_cast<unsigned char>(c)) != 0
                                      ? std::tolower(static_cast<unsigned char>(c)) - 'a' + 10
                                      : -1;
                if (digit < 0 || code > 0x10ffff) {
                    valid = false;
                    break;
                }
                code = code * (hex ? 16 : 10) + static_cast<unsigned>(digit);
            }
            if (valid && code > 0 && code < 0x80) {
                decoded = static_cast<char>(code);
            }
        }
        if (decoded == 0) {
            out.push_back('&');
            continue;
        }
        out.push_back(decoded);
        i = end;
    }
    return out;
}

// Finds `<name` followed by '>' or whitespace or '/', case-sensitively as XML is, allowing a
// namespace prefix ("<sm:loc>").
std::size_t find_tag(std::string_view xml, std::string_view name, std::size_t from,
                     bool closing) {
    for (std::size_t pos = xml.find('<', from); pos != std::string_view::npos;
         pos = xml.find('<', pos + 1)) {
        std::size_t p = pos + 1;
        if (closing) {
            if (p >= xml.size() || xml[p] != '/') {
                continue;
            }
            ++p;
        }
        // Skip a namespace prefix.
        const auto colon = xml.find_first_of(":> \t\r\n/", p);
        if (colon != std::string_view::npos && xml[colon] == ':') {
            p = colon + 1;
        }
        if (xml.compare(p, name.size(), name) != 0) {
            continue;
        }
        const std::size_t after = p + name.size();
        if (after < xml.size() &&
            (xml[after] == '>' || xml[after] == '/' ||
             std::isspace(static_cast<unsigned char>(xml[after])) != 0)) {
            return pos;
        }
    }
    return std::string_view::npos;
}

}  // namespace

sitemap_entries parse_sitemap(std::string_view xml) {
    sitemap_entries out;
    const auto index_at = find_tag(xml, "sitemapindex", 0, false);
    const auto urlset_at = find_tag(xml, "urlset", 0, false);
    if (index_at == std::string_view::npos && urlset_at == std::string_view::npos) {
        return out;
    }
    out.is_index = index_at != std::string_view::npos &&
                   (urlset_at == std::string_view::npos || index_at < urlset_at);
    std::size_t pos = 0;
    while ((pos = find_tag(xml, "loc", pos, false)) != std::string_view::npos) {
        const auto open_end = xml.find('>', pos);
        if (open_end == std::string_view::npos) {
            break;
        }
        const auto close = find_tag(xml, "loc", open_end + 1, true);
        if (close == std::string_view::npos) {
            break;
        }
        std::string_view value = trim(xml.substr(open_end + 1, close - open_end - 1));
        constexpr std::string_view cdata_open = "<![CDATA[";
        constexpr std::string_view cdata_close = "]]>";
        std::string location;
        if (value.substr(0, cdata_open.size()) == cdata_open &&
            value.size() >= cdata_open.size() + cdata_close.size() &&
            value.substr(value.size() - cdata_close.size()) == cdata_close) {
            location = std::string(trim(value.substr(
                cdata_open.size(), value.size() - cdata_open.size() - cdata_close.size())));
        } else {
            location = decode_entities(value);
        }
        if (!location.empty()) {
            out.locations.push_back(std::move(location));
        }
        pos = close + 1;
    }
    return out;
}

}  // namespace harvest::crawl
