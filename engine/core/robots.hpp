#pragma once
// robots.txt rules (RFC 9309 with Google's robots.txt semantics): a parsed value, no I/O.
// Checked against google/robotstxt's test suite in tests/data/robots_txt.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace harvest::core {

// What the parser saw (diagnostics and tests): lines are 1-based; CR, LF and CRLF end a line.
struct robots_parse_stats {
    std::size_t valid_directives = 0;    // user-agent / allow / disallow / sitemap lines
    std::size_t unknown_directives = 0;  // other `name: value` lines (crawl-delay included)
    std::size_t last_line_seen = 0;      // line of the last directive, 0 if none
};

class robots_rules {
  public:
    // Bodies are read up to this many bytes; the rest is ignored (RFC 9309 §2.5: >= 500 KiB).
    static constexpr std::size_t max_body_bytes = 500 * 1024;
    // Longer lines are cut here (Google: 8 x 2083 bytes).
    static constexpr std::size_t max_line_bytes = 8 * 2083 - 1;

    robots_rules() = default;  // no rules: everything allowed

    // Parses a robots.txt body. Never fails: garbage lines are skipped, a (partial) UTF-8 BOM,
    // CR/LF/CRLF and missing blank lines are tolerated; rules before any user-agent are ignored.
    static robots_rules parse(std::string_view body);
    static robots_rules allow_all();     // robots.txt answered 4xx
    static robots_rules disallow_all();  // 5xx / unreachable (RFC 9309 §2.3.1.4)

    // user_agent: the crawler's product token ("harvest"; anything from the first character
    // outside [A-Za-z_-] on is ignored, so "harvest/1.0" works). Groups are matched
    // case-insensitively; every group naming the agent applies, else the `*` groups.
    // path_and_query: the URL's path (+ params + query), as robots_path_of() gives it. The
    // longest matching pattern wins, allow on a tie; `*` and a final `$` are wildcards;
    // "/robots.txt" is always allowed.
    [[nodiscard]] bool allowed(std::string_view user_agent, std::string_view path_and_query) const;

    // Crawl-delay (seconds, non-negative) of the group that applies to the agent, if any.
    [[nodiscard]] std::optional<double> crawl_delay(std::string_view user_agent) const;

    // Sitemap URLs, in file order, whatever group they appear in.
    [[nodiscard]] const std::vector<std::string>& sitemaps() const { return sitemaps_; }

    [[nodiscard]] const robots_parse_stats& stats() const { return stats_; }

  private:
    struct rule {
        bool allow = false;
        std::string pattern;  // escaped (robots_escape_pattern)
        // Google: "Allow: /dir/index.html" also allows "/dir/" (as "/dir/$").
        std::string index_alternative;
    };
    struct group {
        std::vector<std::string> agents;  // product tokens as written (prefix [A-Za-z_-]*)
        bool global = false;              // has a `*` user-agent line
        std::vector<rule> rules;
        std::optional<double> crawl_delay;
    };

    // Groups that apply to the agent: the ones naming it, else the global ones.
    [[nodiscard]] std::vector<const group*> groups_for(std::string_view user_agent) const;

    std::vector<group> groups_;
    std::vector<std::string> sitemaps_;
    robots_parse_stats stats_;
    bool disallow_everything_ = false;
};

// Path + params + query of a URL for matching (Google's GetPathParamsQuery): the fragment is
// dropped, "/" when empty; works on absolute URLs, "//host/path" and "host/path".
[[nodiscard]] std::string robots_path_of(std::string_view url);

// Percent-encodes non-ASCII bytes of a pattern as %XX and upper-cases existing %xx escapes.
[[nodiscard]] std::string robots_escape_pattern(std::string_view pattern);

// True if `pattern` (with `*` and a final `$`) matches a prefix of `path` (all of it with `$`).
[[nodiscard]] bool robots_pattern_matches(std::string_view path, std::string_view pattern);

// A user-agent token a crawler can obey: non-empty, [A-Za-z_-] only.
[[nodiscard]] bool robots_valid_user_agent(std::string_view user_agent);

}  // namespace harvest::core
