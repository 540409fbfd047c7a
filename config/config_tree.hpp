#pragma once
// Internal to the config module: the YAML document as a small owned tree that remembers where
// every node came from (file position or a `--set` override), so that overrides, ${ENV}
// substitution and validation can all report errors at the right place. yaml-cpp is used only
// to read the text (config_tree.cpp); nothing outside config/ includes this header.

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace harvest::config::detail {

// Where a node came from: 1-based line/column in the source, or the `--set` text that made it.
struct origin {
    int line = 1;
    int column = 1;
    std::shared_ptr<const std::string> set_override;  // non-null: came from this `--set`
};

struct map_entry;

struct node {
    enum class kind { null, scalar, sequence, map };
    kind type = kind::null;
    std::string scalar;
    std::vector<node> items;         // kind::sequence
    std::vector<map_entry> entries;  // kind::map, in document order (duplicates kept)
    origin where;
};

struct map_entry {
    std::string key;
    origin key_where;
    node value;
};

// Throws config_error for `where` (file:line:col: or --set ...: prefix).
[[noreturn]] void fail(const std::string& source_name, const origin& where,
                       const std::string& message);

// Parses YAML text into a tree; a syntax error becomes config_error at yaml-cpp's mark. An
// empty document gives a null root.
node parse_yaml(std::string_view text, const std::string& source_name);

// Applies one `dotted.path=value` override to the tree (see loader.hpp for the syntax).
void apply_override(node& root, const std::string& override_text, const std::string& source_name);

// Replaces ${NAME} and ${NAME:-default} in every scalar value (not keys); `$${` is a literal
// `${`. An unset variable without a default is an error at that scalar.
void substitute_environment(node& root, const std::string& source_name);

// Optimal string alignment distance, for "did you mean" hints.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate nearest to `word` when it is near enough to be a likely misspelling of it (fewer
// than max(2, |word| / 3) + 1 edits), else "": the "did you mean" of every config error.
template <typename Range>
std::string closest(std::string_view word, const Range& candidates) {
    std::string best;
    std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
    for (const auto& candidate : candidates) {
        const auto distance = edit_distance(word, candidate);
        if (distance < best_distance) {
            best_distance = distance;
            best = std::string(candidate);
        }
    }
    return best;
}

}  // namespace harvest::config::detail
