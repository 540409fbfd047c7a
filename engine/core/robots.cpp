#include "engine/core/robots.hpp"

#include "engine/core/text.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace harvest::core {

namespace {

bool is_agent_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
}

// The product token: the leading [A-Za-z_-] characters ("Foo Bar" and "Foo/1.0" -> "Foo").
std::string_view extract_agent(std::string_view ua) {
    std::size_t n = 0;
    while (n < ua.size() && is_agent_char(ua[n])) {
        ++n;
    }
    return ua.substr(0, n);
}

enum class directive { user_agent, allow, disallow, sitemap, crawl_delay, unknown };

// Google accepts frequent typos of the directive names and matches them as prefixes.
directive classify_key(std::string_view key) {
    if (istarts_with(key, "user-agent") || istarts_with(key, "useragent") ||
        istarts_with(key, "user agent")) {
        return directive::user_agent;
    }
    if (istarts_with(key, "allow")) {
        return directive::allow;
    }
    for (std::string_view d :
         {"disallow", "dissallow", "dissalow", "disalow", "diasllow", "disallaw"}) {
        if (istarts_with(key, d)) {
            return directive::disallow;
        }
    }
    if (istarts_with(key, "sitemap") || istarts_with(key, "site-map")) {
        return directive::sitemap;
    }
    if (iequals(key, "crawl-delay") || iequals(key, "crawldelay") || iequals(key, "crawl delay")) {
        return directive::crawl_delay;
    }
    return directive::unknown;
}

// Google's GetKeyAndValueFrom: comment cut, `key: value`, or `key value` when the colon is
// missing and there are exactly two words. False when the line holds no directive.
bool split_line(std::string_view line, std::string_view& key, std::string_view& value) {
    if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) {
        line = line.substr(0, hash);
    }
    line = trim(line);
    std::size_t sep = line.find(':');
    if (sep == std::string_view::npos) {
        sep = line.find_first_of(" \t");
        if (sep == std::string_view::npos) {
            return false;
        }
        const std::size_t val = line.find_first_not_of(" \t", sep);
        if (val != std::string_view::npos &&
            line.find_first_of(" \t", val) != std::string_view::npos) {
            return false;
        }
    }
    key = trim(line.substr(0, sep));
    value = trim(line.substr(sep + 1));
    return true;
}

std::optional<double> parse_delay(std::string_view value) {
    double seconds = 0;
    const auto* end = value.data() + value.size();
    const auto [ptr, ec] = std::from_chars(value.data(), end, seconds);
    if (ec != std::errc() || ptr == value.data() || !std::isfinite(seconds) || seconds < 0) {
        return std::nullopt;
    }
    return seconds;
}

}  // namespace

std::string robots_escape_pattern(std::string_view pattern) {
    std::string out;
    out.reserve(pattern.size());
    static constexpr char k_hex[] = "0123456789ABCDEF";
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        const char c = pattern[i];
        if (c == '%' && i + 2 < pattern.size() && is_ascii_hex(pattern[i + 1]) &&
            is_ascii_hex(pattern[i + 2])) {
            out += '%';
            out += ascii_upper(pattern[i + 1]);
            out += ascii_upper(pattern[i + 2]);
            i += 2;
        } else if ((static_cast<unsigned char>(c) & 0x80) != 0) {
            const auto b = static_cast<unsigned char>(c);
            out += '%';
            out += k_hex[b >> 4];
            out += k_hex[b & 0x0F];
        } else {
            out += c;
        }
    }
    return out;
}

bool robots_pattern_matches(std::string_view path, std::string_view pattern) {
    // Google's matcher: the set of path positions reachable after each pattern character.
    // O(|path| * |pattern|) time, O(|path|) memory, no backtracking blow-up.
    const std::size_t path_len = path.size();
    std::vector<std::size_t> pos(path_len + 1);
    pos[0] = 0;
    std::size_t num_pos = 1;
    for (std::size_t p = 0; p < pattern.size(); ++p) {
        const char pc = pattern[p];
        if (pc == '$' && p + 1 == pattern.size()) {
            return pos[num_pos - 1] == path_len;
        }
        if (pc == '*') {
            num_pos = path_len - pos[0] + 1;
            for (std::size_t i = 1; i < num_pos; ++i) {
                pos[i] = pos[i - 1] + 1;
            }
        } else {
            std::size_t new_num = 0;
            for (std::size_t i = 0; i < num_pos; ++i) {
                if (pos[i] < path_len && path[pos[i]] == pc) {
                    pos[new_num++] = pos[i] + 1;
                }
            }
            num_pos = new_num;
            if (num_pos == 0) {
                return false;
            }
        }
    }
    return true;
}

bool robots_valid_user_agent(std::string_view user_agent) {
    return !user_agent.empty() && extract_agent(user_agent).size() == user_agent.size();
}

std::string robots_path_of(std::string_view url) {
    std::size_t search_start = 0;
    if (url.size() >= 2 && url[0] == '/' && url[1] == '/') {
        search_start = 2;
    }
    const std::size_t early_path = url.find_first_of("/?;", search_start);
    std::size_t protocol_end = url.find("://", search_start);
    if (early_path < protocol_end) {
        // A path, params or query before "://": it does not end a scheme.
        protocol_end = std::string_view::npos;
    }
    protocol_end = protocol_end == std::string_view::npos ? search_start : protocol_end + 3;
    const std::size_t path_start = url.find_first_of("/?;", protocol_end);
    if (path_start == std::string_view::npos) {
        return "/";
    }
    const std::size_t hash = url.find('#', search_start);
    if (hash < path_start) {
        return "/";
    }
    const std::size_t path_end = hash == std::string_view::npos ? url.size() : hash;
    std::string out;
    if (url[path_start] != '/') {
        out += '/';
    }
    out += url.substr(path_start, path_end - path_start);
    return out;
}

robots_rules robots_rules::allow_all() {
    return robots_rules{};
}

robots_rules robots_rules::disallow_all() {
    robots_rules r;
    r.disallow_everything_ = true;
    return r;
}

robots_rules robots_rules::parse(std::string_view body) {
    robots_rules r;
    body = body.substr(0, std::min(body.size(), max_body_bytes));

    // Index of the group being filled; a user-agent line after a rule starts a new one.
    std::optional<std::size_t> current;
    bool current_has_rules = false;

    auto emit = [&](std::size_t line_num, std::string_view line) {
        std::string_view key;
        std::string_view value;
        if (!split_line(line, key, value)) {
            return;
        }
        r.stats_.last_line_seen = line_num;
        const directive d = classify_key(key);
        if (d == directive::unknown || d == directive::crawl_delay) {
            ++r.stats_.unknown_directives;  // Google's parser does not know crawl-delay either
        } else {
            ++r.stats_.valid_directives;
        }
        switch (d) {
            case directive::user_agent: {
                if (!current || current_has_rules) {
                    r.groups_.emplace_back();
                    current = r.groups_.size() - 1;
                    current_has_rules = false;
                }
                group& g = r.groups_[*current];
                // Google: "*" followed by whitespace and more is still the global agent.
                if (!value.empty() && value[0] == '*' &&
                    (value.size() == 1 || is_ascii_space(value[1]))) {
                    g.global = true;
                } else {
                    g.agents.emplace_back(extract_agent(value));
                }
                break;
            }
            case directive::allow:
            case directive::disallow: {
                if (!current) {
                    break;  // rules before any user-agent belong to no group
                }
                current_has_rules = true;
                rule ru;
                ru.allow = d == directive::allow;
                ru.pattern = robots_escape_pattern(value);
                if (ru.allow) {
                    const std::size_t slash = ru.pattern.rfind('/');
                    if (slash != std::string::npos &&
                        std::string_view(ru.pattern).substr(slash).substr(0, 10) == "/index.htm") {
                        ru.index_alternative = ru.pattern.substr(0, slash + 1) + "$";
                    }
                }
                r.groups_[*current].rules.push_back(std::move(ru));
                break;
            }
            case directive::sitemap:
                if (!value.empty()) {
                    r.sitemaps_.emplace_back(value);
                }
                break;
            case directive::crawl_delay:
                if (current && !r.groups_[*current].crawl_delay) {
                    r.groups_[*current].crawl_delay = parse_delay(value);
                }
                break;
            case directive::unknown:
                break;
        }
    };

    static constexpr unsigned char k_bom[] = {0xEF, 0xBB, 0xBF};
    std::size_t bom_pos = 0;
    std::string line;
    line.reserve(256);
    std::size_t line_num = 0;
    bool last_was_cr = false;
    for (const char ch : body) {
        // A UTF-8 BOM (even a partial one) at the very start is skipped.
        if (bom_pos < sizeof(k_bom) && static_cast<unsigned char>(ch) == k_bom[bom_pos++]) {
            continue;
        }
        bom_pos = sizeof(k_bom);
        if (ch != '\n' && ch != '\r') {
            if (line.size() < max_line_bytes) {
                line += ch;
            }
            continue;
        }
        // The LF of a CRLF ends no extra (empty) line.
        const bool crlf_continuation = line.empty() && last_was_cr && ch == '\n';
        if (!crlf_continuation) {
            emit(++line_num, line);
        }
        line.clear();
        last_was_cr = ch == '\r';
    }
    emit(++line_num, line);
    return r;
}

std::vector<const robots_rules::group*> robots_rules::groups_for(
    std::string_view user_agent) const {
    std::vector<const group*> specific;
    std::vector<const group*> global;
    const std::string_view token = extract_agent(user_agent);
    for (const auto& g : groups_) {
        const bool named =
            !token.empty() && std::any_of(g.agents.begin(), g.agents.end(),
                                          [&](const auto& a) { return iequals(a, token); });
        if (named) {
            specific.push_back(&g);
        } else if (g.global) {
            global.push_back(&g);
        }
    }
    return specific.empty() ? global : specific;
}

bool robots_rules::allowed(std::string_view user_agent, std::string_view path_and_query) const {
    // RFC 9309 §2.2.2: the robots.txt URI itself is always allowed.
    const std::string_view path = path_and_query.substr(0, path_and_query.find('?'));
    if (path == "/robots.txt") {
        return true;
    }
    if (disallow_everything_) {
        return false;
    }
    // Longest match wins; -1 = no match, and an empty pattern (priority 0) decides nothing.
    long best_allow = -1;
    long best_disallow = -1;
    for (const group* g : groups_for(user_agent)) {
        for (const rule& ru : g->rules) {
            long priority = -1;
            if (robots_pattern_matches(path_and_query, ru.pattern)) {
                priority = static_cast<long>(ru.pattern.size());
            } else if (!ru.index_alternative.empty() &&
                       robots_pattern_matches(path_and_query, ru.index_alternative)) {
                priority = static_cast<long>(ru.index_alternative.size());
            }
            long& best = ru.allow ? best_allow : best_disallow;
            best = std::max(best, priority);
        }
    }
    if (best_allow <= 0 && best_disallow <= 0) {
        return true;
    }
    return best_disallow <= best_allow;  // allow wins a tie
}

std::optional<double> robots_rules::crawl_delay(std::string_view user_agent) const {
    if (disallow_everything_) {
        return std::nullopt;
    }
    for (const group* g : groups_for(user_agent)) {
        if (g->crawl_delay) {
            return g->crawl_delay;
        }
    }
    return std::nullopt;
}

}  // namespace harvest::core
