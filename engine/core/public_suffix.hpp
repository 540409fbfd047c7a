#pragma once
// The Public Suffix List (publicsuffix.org): which domains are registries ("com", "co.uk",
// "github.io") under which nobody may set a cookie for every site. Pure, no I/O apart from
// reading the list file once.

#include <string>
#include <string_view>
#include <unordered_set>

namespace harvest::core {

class public_suffix_list {
  public:
    // Where Debian's `publicsuffix` package installs the list.
    static constexpr std::string_view system_path =
        "/usr/share/publicsuffix/public_suffix_list.dat";

    // An empty list: only the implicit "*" rule applies (every single-label name is a suffix).
    public_suffix_list() = default;

    // Parses the list's text (rules, "*." wildcards, "!" exceptions, "//" comments); Unicode
    // rules are converted to their ASCII (punycode) form, as hosts are compared in it.
    static public_suffix_list parse(std::string_view text);
    // Reads and parses a list file; an empty list (loaded() false) when it cannot be read.
    static public_suffix_list load(const std::string& path);
    // The system list, read once on first use (thread-safe). When the file is missing, the
    // empty list: Domain= is then refused on single-label names only.
    static const public_suffix_list& system();

    // Whether `domain` (ASCII, lower-case, no trailing dot) is itself a public suffix.
    [[nodiscard]] bool is_public_suffix(std::string_view domain) const;
    [[nodiscard]] bool loaded() const noexcept { return rules_ != 0; }
    [[nodiscard]] std::size_t rules() const noexcept { return rules_; }

  private:
    std::unordered_set<std::string> exact_;
    std::unordered_set<std::string> wildcard_;   // "*.ck" stored as "ck"
    std::unordered_set<std::string> exception_;  // "!www.ck" stored as "www.ck"
    std::size_t rules_ = 0;
};

}  // namespace harvest::core
