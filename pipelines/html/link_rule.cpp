// link_rule: `follow` link discovery (see html.hpp for the rules).

#include "pipelines/html/html.hpp"

#include "engine/core/text.hpp"

#include <boost/url.hpp>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>

namespace harvest::pipelines {
namespace {

namespace urls = boost::urls;

// No server takes longer request targets; longer ones are also where std::regex's recursive
// matcher would start to eat the stack.
constexpr std::size_t max_link_size = 8192;

using core::is_ascii_hex;

// What a browser's URL parser tolerates and RFC 3986 does not: surrounding whitespace, tabs
// and newlines inside, spaces, non-ASCII, a few ASCII characters, stray '%', more than one '#',
// '\' for '/'. `brackets` also encodes '[' and ']' (a retry for paths like /a[1]).
std::string clean_reference(std::string_view raw_reference, bool brackets) {
    const std::string_view raw = core::trim_c0_control_or_space(raw_reference);
    const std::size_t end = raw.size();
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(end);
    bool fragment = false;
    for (std::size_t i = 0; i < end; ++i) {
        const char c = raw[i];
        const auto u = static_cast<unsigned char>(c);
        if (c == '\t' || c == '\n' || c == '\r') {
            continue;
        }
        if (c == '\\') {
            out.push_back('/');
            continue;
        }
        bool encode = u <= 0x20 || u >= 0x7F || c == '"' || c == '<' || c == '>' || c == '^' ||
                      c == '`' || c == '{' || c == '}' || c == '|' ||
                      (brackets && (c == '[' || c == ']')) || (c == '#' && fragment);
        if (c == '%' && !(i + 2 < end && is_ascii_hex(raw[i + 1]) && is_ascii_hex(raw[i + 2]))) {
            encode = true;
        }
        if (c == '#') {
            fragment = true;
        }
        if (encode) {
            out.push_back('%');
            out.push_back(digits[u >> 4]);
            out.push_back(digits[u & 15]);
        } else {
            out.push_back(c);
        }
    }
    return out;
}

std::optional<urls::url> parse_reference(std::string_view raw) {
    for (const bool brackets : {false, true}) {
        const std::string cleaned = clean_reference(raw, brackets);
        auto parsed = urls::parse_uri_reference(cleaned);
        if (parsed) {
            return urls::url(*parsed);
        }
    }
    return std::nullopt;
}

// `reference` resolved against `base` (absent: only absolute references resolve).
std::optional<urls::url> resolve_reference(const std::optional<urls::url>& base,
                                           const urls::url& reference) {
    if (reference.has_scheme()) {
        urls::url absolute = reference;
        // Dot segments in an absolute reference are removed by resolution too.
        absolute.normalize_path();
        return absolute;
    }
    if (!base) {
        return std::nullopt;
    }
    urls::url out;
    if (!urls::resolve(*base, reference, out)) {
        return std::nullopt;
    }
    return out;
}

const html_field& base_href_field() {
    static const html_field field = [] {
        field_rule rule;
        rule.name = "base";
        rule.xpath = "(//base[@href])[1]/@href";
        return html_field(rule);
    }();
    return field;
}

// base_href_field for the tokenizer: the first <base> that has an href, its href.
field_rule base_href_rule() {
    field_rule rule;
    rule.name = "base";
    rule.css = "base[href]";
    rule.attribute = "href";
    return rule;
}

std::vector<std::regex> compile_patterns(const std::vector<std::string>& patterns,
                                         std::string_view list) {
    std::vector<std::regex> compiled;
    compiled.reserve(patterns.size());
    for (const auto& pattern : patterns) {
        try {
            compiled.emplace_back(pattern, std::regex::ECMAScript);
        } catch (const std::regex_error& error) {
            throw std::invalid_argument("follow " + std::string(list) + " regex \"" + pattern +
                                        "\": " + error.what());
        }
    }
    return compiled;
}

field_rule selection_rule(const follow_rule& rule) {
    if (rule.css.empty() && rule.xpath.empty()) {
        throw std::invalid_argument("follow rule: needs css or xpath");
    }
    field_rule field;
    field.name = "follow";
    field.css = rule.css;
    field.xpath = rule.css.empty() ? rule.xpath : std::string();
    field.attribute = "href";
    return field;
}

}  // namespace

link_rule::link_rule(const follow_rule& rule)
    : rule_(rule),
      selection_(selection_rule(rule)),
      fast_(rule.css.empty()
                ? std::nullopt
                : fast_html_selection::compile({selection_rule(rule), base_href_rule()})),
      allow_(compile_patterns(rule.allow, "allow")),
      deny_(compile_patterns(rule.deny, "deny")) {}

std::vector<std::string> link_rule::links(const html_document& document,
                                          std::string_view page_url) const {
    const std::vector<std::string> candidates = selection_.all(document);
    if (candidates.empty()) {
        return {};
    }
    return resolve_all(candidates, base_href_field().first(document), page_url);
}

std::optional<std::vector<std::string>> link_rule::links_fast(std::string_view page,
                                                              std::string_view page_url) const {
    if (!fast_) {
        return std::nullopt;
    }
    auto selected = fast_->select(page, /*first_only=*/false);
    if (!selected) {
        return std::nullopt;
    }
    const std::vector<std::string>& candidates = (*selected)[0];
    if (candidates.empty()) {
        return std::vector<std::string>{};
    }
    std::vector<std::string>& bases = (*selected)[1];
    std::optional<std::string> base_href;
    if (!bases.empty()) {
        base_href = std::move(bases.front());
    }
    return resolve_all(candidates, base_href, page_url);
}

reference_base::reference_base(std::string_view page_url,
                               const std::optional<std::string>& base_href) {
    std::optional<urls::url> base;
    if (auto page = urls::parse_uri(page_url)) {
        base = urls::url(*page);
        base->remove_fragment();
    }
    if (base_href) {
        if (auto reference = parse_reference(*base_href)) {
            if (auto resolved = resolve_reference(base, *reference)) {
                base = std::move(resolved);
            }
        }
    }
    if (base) {
        base_ = std::string(base->buffer());
    }
}

std::optional<std::string> reference_base::resolve(std::string_view reference) const {
    while (!reference.empty() && static_cast<unsigned char>(reference.front()) <= 0x20) {
        reference.remove_prefix(1);
    }
    while (!reference.empty() && static_cast<unsigned char>(reference.back()) <= 0x20) {
        reference.remove_suffix(1);
    }
    if (reference.empty() || reference.size() > max_link_size) {
        return std::nullopt;
    }
    const auto parsed = parse_reference(reference);
    if (!parsed) {
        return std::nullopt;
    }
    std::optional<urls::url> base;
    if (!base_.empty()) {
        base = urls::url(base_);
    }
    auto resolved = resolve_reference(base, *parsed);
    if (!resolved) {
        return std::nullopt;
    }
    if (resolved->has_authority() && resolved->encoded_path().empty() &&
        (resolved->scheme_id() == urls::scheme::http ||
         resolved->scheme_id() == urls::scheme::https)) {
        resolved->set_path_absolute(true);  // http://host -> http://host/
    }
    return std::string(resolved->buffer());
}

std::optional<std::string> first_base_href(const html_document& document) {
    return base_href_field().first(document);
}

bool is_url_attribute(std::string_view attribute) {
    static constexpr std::string_view names[] = {
        "href",       "src",      "srcset",     "action", "poster",   "cite", "data",
        "formaction", "longdesc", "background", "usemap", "manifest", "ping", "itemid"};
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    for (const auto name : names) {
        if (name.size() == attribute.size() &&
            std::equal(name.begin(), name.end(), attribute.begin(),
                       [&](char a, char b) { return a == lower(b); })) {
            return true;
        }
    }
    return false;
}

value_kind effective_kind(const field_rule& rule) {
    if (rule.as == value_kind::raw && !rule.raw && is_url_attribute(rule.attribute)) {
        return value_kind::url;
    }
    return rule.as;
}

bool needs_reference_base(const std::vector<field_rule>& rules) {
    return std::any_of(rules.begin(), rules.end(),
                       [](const field_rule& r) { return effective_kind(r) == value_kind::url; });
}

std::string best_srcset_candidate(std::string_view srcset) {
    const auto space = [](char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
    };
    std::string best;
    double best_width = -1;
    double best_density = -1;
    bool best_has_width = false;
    std::size_t i = 0;
    while (i < srcset.size()) {
        while (i < srcset.size() && (space(srcset[i]) || srcset[i] == ',')) {
            ++i;
        }
        const std::size_t url_start = i;
        while (i < srcset.size() && !space(srcset[i])) {
            ++i;
        }
        std::string_view url = srcset.substr(url_start, i - url_start);
        double width = -1;
        double density = -1;
        if (url.empty()) {
            break;
        }
        if (url.back() == ',') {
            while (!url.empty() && url.back() == ',') {
                url.remove_suffix(1);  // no descriptors: the comma ends the candidate
            }
        } else {
            // Descriptors up to the next comma outside parentheses.
            int depth = 0;
            std::size_t token_start = i;
            const auto take = [&](std::string_view token) {
                if (token.size() < 2) {
                    return;
                }
                const char unit = token.back();
                std::string number(token.substr(0, token.size() - 1));
                char* end = nullptr;
                const double value = std::strtod(number.c_str(), &end);
                if (end != number.c_str() + number.size() || !(value > 0)) {
                    return;
                }
                if (unit == 'w') {
                    width = value;
                } else if (unit == 'x') {
                    density = value;
                }
            };
            for (; i <= srcset.size(); ++i) {
                const bool at_end = i == srcset.size();
                const char c = at_end ? ',' : srcset[i];
                if (c == '(') {
                    ++depth;
                } else if (c == ')' && depth > 0) {
                    --depth;
                }
                if ((space(c) || c == ',') && depth == 0) {
                    take(srcset.substr(token_start, i - token_start));
                    token_start = i + 1;
                    if (c == ',') {
                        ++i;
                        break;
                    }
                }
            }
        }
        if (url.empty()) {
            continue;
        }
        const bool has_width = width > 0;
        if (density <= 0) {
            density = 1;
        }
        const bool better = best.empty() || (has_width && !best_has_width) ||
                            (has_width == best_has_width &&
                             (has_width ? width > best_width : density > best_density));
        if (better) {
            best = std::string(url);
            best_width = width;
            best_density = density;
            best_has_width = has_width;
        }
    }
    return best;
}

std::vector<std::string> link_rule::resolve_all(const std::vector<std::string>& candidates,
                                                const std::optional<std::string>& base_href,
                                                std::string_view page_url) const {
    std::vector<std::string> found;
    std::optional<urls::url> base;
    if (auto page = urls::parse_uri(page_url)) {
        base = urls::url(*page);
        base->remove_fragment();
    }
    if (const auto& href = base_href) {
        if (auto reference = parse_reference(*href)) {
            if (auto resolved = resolve_reference(base, *reference)) {
                base = std::move(resolved);
            }
        }
    }
    std::unordered_set<std::string> seen;
    for (const auto& candidate : candidates) {
        const std::string_view trimmed = [&] {
            std::string_view view = candidate;
            while (!view.empty() && static_cast<unsigned char>(view.front()) <= 0x20) {
                view.remove_prefix(1);
            }
            return view;
        }();
        if (trimmed.empty() || trimmed.front() == '#' || trimmed.size() > max_link_size) {
            continue;  // the page itself, or nothing a server takes
        }
        const auto reference = parse_reference(trimmed);
        if (!reference) {
            continue;
        }
        auto resolved = resolve_reference(base, *reference);
        if (!resolved) {
            continue;
        }
        urls::url& link = *resolved;
        const auto scheme = link.scheme_id();
        if ((scheme != urls::scheme::http && scheme != urls::scheme::https) ||
            !link.has_authority() || link.encoded_host().empty()) {
            continue;
        }
        link.remove_fragment();
        link.normalize_scheme();
        if (link.encoded_path().empty()) {
            // What a request for the bare authority asks for. (Boost.URL 1.81's
            // set_encoded_path("/") writes "/./" here; set_path_absolute does not.)
            link.set_path_absolute(true);
        }
        if (link.buffer().size() > max_link_size) {
            continue;
        }
        const std::string path(link.encoded_path());
        const auto matches = [&path](const std::regex& pattern) {
            return std::regex_search(path, pattern);
        };
        if (std::any_of(deny_.begin(), deny_.end(), matches)) {
            continue;
        }
        if (!allow_.empty() && std::none_of(allow_.begin(), allow_.end(), matches)) {
            continue;
        }
        std::string text(link.buffer());
        if (seen.insert(text).second) {
            found.push_back(std::move(text));
        }
    }
    return found;
}

}  // namespace harvest::pipelines
