// The shared reading helpers of the config loader (private to config/): the `reader` that
// reports file:line:col errors, the `section` that checks a map's keys, the scalar readers, and
// the section readers, one file each under config/loader/ (loader.cpp puts them together).

#pragma once

#include "config/config_tree.hpp"
#include "config/file_checks.hpp"
#include "config/loader.hpp"
#include "engine/core/failure_kind.hpp"
#include "engine/core/url_canonical.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace harvest::config::reading {

using detail::node;
using detail::origin;

// ---------------------------------------------------------------------------------------------
// What the spec names but the engine does not implement yet. Each is fully parsed and validated
// first, then rejected here, so supporting one is removing its line (and, for robots_txt, the
// default set in build_config). `value` empty = the setting at all; otherwise that value of it.
struct unsupported_feature {
    std::string_view setting;  // spec path with list indices removed, e.g. "extract.type"
    std::string_view value;
    std::string_view advice;
};

// Every feature of the spec is built today; the table stays for the next one.
// Entry form: {"frontier.backend", "redis", "use backend memory (the default)"}.
inline constexpr std::array<unsupported_feature, 0> unsupported_features{};
// ---------------------------------------------------------------------------------------------

// The names retry.on_errors accepts, for its error message.
inline constexpr auto retry_on_errors_names = [] {
    std::array<std::string_view, core::retry_on_errors_kinds.size()> names{};
    for (std::size_t i = 0; i < names.size(); ++i) {
        names[i] = core::to_string(core::retry_on_errors_kinds[i]);
    }
    return names;
}();

// `name` as a kind retry.on_errors may list, or nothing.
inline std::optional<core::failure_kind> retry_on_errors_kind(std::string_view name) {
    const auto kind = core::parse_failure_kind(name);
    const auto& allowed = core::retry_on_errors_kinds;
    if (kind && std::find(allowed.begin(), allowed.end(), *kind) != allowed.end()) {
        return kind;
    }
    return std::nullopt;
}

inline std::string quote_text(std::string_view text) {
    return "\"" + std::string(text) + "\"";
}

inline std::string describe(const node& n) {
    switch (n.type) {
        case node::kind::null:
            return "nothing";
        case node::kind::scalar:
            return quote_text(n.scalar);
        case node::kind::sequence:
            return "a list";
        case node::kind::map:
            return "a map";
    }
    return "?";
}

template <typename Range>
std::string join_names(const Range& names, std::string_view separator = ", ") {
    std::string result;
    for (const auto& name : names) {
        if (!result.empty()) {
            result += separator;
        }
        result += name;
    }
    return result;
}

inline bool is_token_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

inline bool is_method(std::string_view text) {
    return !text.empty() &&
           std::all_of(text.begin(), text.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

class reader;

// A YAML map read as one config section: checks the node is a map, has no duplicate and no
// unknown keys (with a "did you mean" hint), and hands out its values.
class section {
  public:
    section(const reader& r, const node& n, std::string path,
            const std::vector<std::string_view>& keys);

    // The value of `key`, or nullptr when absent or null (`key: ~` means "the default").
    const node* get(std::string_view key) const {
        for (const auto& entry : node_->entries) {
            if (entry.key == key) {
                return entry.value.type == node::kind::null ? nullptr : &entry.value;
            }
        }
        return nullptr;
    }

    const origin* key_origin(std::string_view key) const {
        for (const auto& entry : node_->entries) {
            if (entry.key == key) {
                return &entry.key_where;
            }
        }
        return nullptr;
    }

    std::string path_of(std::string_view key) const {
        return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
    }

    const std::string& path() const { return path_; }
    const node& self() const { return *node_; }

  private:
    const node* node_;
    std::string path_;
};

// Where an output's `key` and `columns` are in the file, for the warnings of check mode.
struct output_field_places {
    std::size_t output = 0;  // index into crawl_config::outputs
    std::vector<std::pair<std::string, origin>> fields;
};

// What check mode collects while reading (see check_config_text).
struct check_state {
    std::vector<config_problem> problems;
    std::size_t extract_errors = 0;  // errors reported while reading `extract`
    std::vector<output_field_places> output_fields;
    // Where http.cache.dir is set, else where http.cache is (the default folder is checked at
    // its mode), for the check of the cache folder once state.dir is known.
    std::optional<origin> http_cache_where;
};

class reader {
  public:
    reader(std::string source_name, std::string base_dir, check_state* check = nullptr)
        : source_name_(std::move(source_name)), base_dir_(std::move(base_dir)), check_(check) {}

    [[noreturn]] void error(const origin& where, const std::string& message) const {
        detail::fail(source_name_, where, message);
    }

    // An error the reading can go on after (an unknown key, a file that cannot be read): thrown
    // when loading, collected in check mode.
    void report(const origin& where, const std::string& message) const {
        if (check_ == nullptr) {
            error(where, message);
        }
        try {
            error(where, message);
        } catch (const config_error& e) {
            check_->problems.push_back({config_problem::severity::error, e});
        }
    }

    // Check mode only (loading ignores warnings).
    void warn(const origin& where, const std::string& message) const {
        if (check_ == nullptr) {
            return;
        }
        try {
            error(where, message);
        } catch (const config_error& e) {
            check_->problems.push_back({config_problem::severity::warning, e});
        }
    }

    // Runs `read`, one independent part of the config. When loading, its first error ends the
    // load; in check mode it is collected and the reading goes on with the next part. Returns
    // whether `read` finished.
    template <typename Read>
    bool attempt(Read&& read) const {
        if (check_ == nullptr) {
            read();
            return true;
        }
        try {
            read();
            return true;
        } catch (const config_error& e) {
            check_->problems.push_back({config_problem::severity::error, e});
            return false;
        }
    }

    check_state* checking() const { return check_; }

    // Check mode: what `harvest run` would find about the file system when it starts.
    void check_readable(const origin& where, const std::string& path, const std::string& file,
                        const std::string& what) const {
        if (check_ == nullptr) {
            return;
        }
        if (const auto reason = detail::unreadable_file_reason(file); !reason.empty()) {
            report(where, "'" + path + "' cannot be read: " + reason + "; " + what);
        }
    }

    void check_writable(const origin& where, const std::string& path, const std::string& file,
                        bool folder, const std::string& what) const {
        if (check_ == nullptr) {
            return;
        }
        const auto reason =
            folder ? detail::unwritable_folder_reason(file) : detail::unwritable_file_reason(file);
        if (!reason.empty()) {
            report(where, "'" + path + "' cannot be written: " + reason + "; " + what);
        }
    }

    [[noreturn]] void expected(const node& n, const std::string& path,
                               const std::string& what) const {
        error(n.where, "'" + path + "' must be " + what + " (got " + describe(n) + ")");
    }

    void check_supported(std::string_view setting, std::string_view value, const origin& where,
                         const std::string& path) const {
        for (const auto& feature : unsupported_features) {
            if (feature.setting == setting && (feature.value.empty() || feature.value == value)) {
                const std::string what =
                    feature.value.empty() ? path : path + ": " + std::string(value);
                error(where, "'" + what + "' is not supported yet; " + std::string(feature.advice));
            }
        }
    }

    std::string resolve_path(const std::string& path) const {
        if (path.empty() || base_dir_.empty() || std::filesystem::path(path).is_absolute()) {
            return path;
        }
        return (std::filesystem::path(base_dir_) / path).lexically_normal().string();
    }

    // ---- scalars ----------------------------------------------------------------------------

    const std::string& text(const node& n, const std::string& path) const {
        if (n.type != node::kind::scalar) {
            expected(n, path, "a single value");
        }
        return n.scalar;
    }

    std::string header_value(const node& n, const std::string& path) const {
        const auto& value = text(n, path);
        if (value.find_first_of("\r\n") != std::string::npos) {
            expected(n, path, "a single line (no CR or LF)");
        }
        return value;
    }

    std::uint64_t integer(const node& n, const std::string& path, std::uint64_t min,
                          std::uint64_t max) const {
        // Limits at or beyond 2^32 - 1 are overflow guards, not worth naming to a user.
        const std::string what =
            min == 0 && max >= UINT32_MAX ? "a non-negative integer"
            : min == 1 && max >= UINT32_MAX
                ? "a positive integer"
                : "an integer from " + std::to_string(min) + " to " + std::to_string(max);
        if (n.type != node::kind::scalar) {
            expected(n, path, what);
        }
        std::uint64_t value = 0;
        const char* begin = n.scalar.data();
        const char* end = begin + n.scalar.size();
        const auto [ptr, ec] = std::from_chars(begin, end, value);
        if (ec != std::errc() || ptr != end || n.scalar.empty() || value < min || value > max) {
            expected(n, path, what);
        }
        return value;
    }

    unsigned count(const node& n, const std::string& path, unsigned min = 0) const {
        return static_cast<unsigned>(integer(n, path, min, UINT32_MAX));
    }

    double number(const node& n, const std::string& path, double min, double max,
                  bool min_exclusive, const std::string& what) const {
        if (n.type != node::kind::scalar) {
            expected(n, path, what);
        }
        double value = 0;
        const char* begin = n.scalar.data();
        const char* end = begin + n.scalar.size();
        const auto [ptr, ec] = std::from_chars(begin, end, value, std::chars_format::fixed);
        if (ec != std::errc() || ptr != end || n.scalar.empty() || !std::isfinite(value) ||
            value < min || (min_exclusive && value == min) || value > max) {
            expected(n, path, what);
        }
        return value;
    }

    double rate(const node& n, const std::string& path) const {
        return number(n, path, 0, 1e9, false, "a number >= 0");
    }

    bool boolean(const node& n, const std::string& path) const {
        if (n.type == node::kind::scalar) {
            std::string lower = n.scalar;
            std::transform(lower.begin(), lower.end(), lower.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            // YAML 1.1 spellings too, since yaml-cpp users write them.
            if (lower == "true" || lower == "yes" || lower == "on") {
                return true;
            }
            if (lower == "false" || lower == "no" || lower == "off") {
                return false;
            }
        }
        expected(n, path, "true or false");
    }

    std::chrono::milliseconds duration(const node& n, const std::string& path,
                                       bool positive = false) const {
        const std::string what =
            std::string(positive ? "a positive" : "a") + " duration like 250ms, 5s, 2m, 1h";
        if (n.type != node::kind::scalar) {
            expected(n, path, what);
        }
        std::chrono::milliseconds value{};
        try {
            value = parse_duration(n.scalar);
        } catch (const std::invalid_argument&) {
            expected(n, path, what);
        }
        if (positive && value.count() == 0) {
            expected(n, path, what);
        }
        return value;
    }

    std::uint64_t size(const node& n, const std::string& path) const {
        const std::string what = "a positive size like 512KiB, 8MiB, 1GiB or a number of bytes";
        if (n.type != node::kind::scalar) {
            expected(n, path, what);
        }
        std::uint64_t value = 0;
        try {
            value = parse_size(n.scalar);
        } catch (const std::invalid_argument&) {
            expected(n, path, what);
        }
        if (value == 0) {
            expected(n, path, what);
        }
        return value;
    }

    template <std::size_t N>
    std::size_t choice(const node& n, const std::string& path,
                       const std::array<std::string_view, N>& options) const {
        if (n.type == node::kind::scalar) {
            for (std::size_t i = 0; i < N; ++i) {
                if (n.scalar == options[i]) {
                    return i;
                }
            }
        }
        std::string what = "one of " + join_names(options);
        if (n.type == node::kind::scalar) {
            const auto hint = detail::closest(n.scalar, options);
            if (!hint.empty()) {
                error(n.where, "'" + path + "' must be " + what + " (got " + describe(n) +
                                   "); did you mean '" + hint + "'?");
            }
        }
        expected(n, path, what);
    }

    std::string regex(const node& n, const std::string& path) const {
        const auto& pattern = text(n, path);
        try {
            std::regex compiled(pattern, std::regex::ECMAScript);
        } catch (const std::regex_error& e) {
            error(n.where, "'" + path + "' must be a valid regular expression (ECMAScript) (got " +
                               quote_text(pattern) + ": " + e.what() + ")");
        }
        return pattern;
    }

    std::string method(const node& n, const std::string& path) const {
        const auto& value = text(n, path);
        if (!is_method(value)) {
            expected(n, path, "an HTTP method in capitals like GET or POST");
        }
        return value;
    }

    std::string http_url(const node& n, const std::string& path) const {
        const auto& value = text(n, path);
        if (!core::is_http_url(value)) {
            expected(n, path, "an absolute http:// or https:// URL");
        }
        return value;
    }

    // ---- collections ------------------------------------------------------------------------

    const std::vector<node>& list(const node& n, const std::string& path) const {
        if (n.type != node::kind::sequence) {
            expected(n, path, "a list like [a, b] or one '- item' per line");
        }
        return n.items;
    }

    std::vector<std::string> methods(const node& n, const std::string& path) const {
        std::vector<std::string> result;
        const auto& items = list(n, path);
        for (std::size_t i = 0; i < items.size(); ++i) {
            result.push_back(method(items[i], path + "." + std::to_string(i)));
        }
        return result;
    }

    std::vector<std::pair<std::string, std::string>> headers(const node& n,
                                                             const std::string& path) const {
        if (n.type != node::kind::map) {
            expected(n, path, "a map of header names to values, like {Accept: text/html}");
        }
        std::vector<std::pair<std::string, std::string>> result;
        std::set<std::string> seen;
        for (const auto& entry : n.entries) {
            const std::string entry_path = path + "." + entry.key;
            if (entry.key.empty() ||
                !std::all_of(entry.key.begin(), entry.key.end(), is_token_char)) {
                error(entry.key_where, "'" + entry_path +
                                           "': a header name must be a token like Accept or "
                                           "X-Api-Key (got " +
                                           quote_text(entry.key) + ")");
            }
            std::string lower = entry.key;
            std::transform(lower.begin(), lower.end(), lower.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            if (!seen.insert(lower).second) {
                error(entry.key_where,
                      "header '" + entry.key + "' is given twice in '" + path + "'; keep one");
            }
            const std::string value =
                entry.value.type == node::kind::null ? "" : header_value(entry.value, entry_path);
            result.emplace_back(entry.key, value);
        }
        return result;
    }

    void missing(const section& s, std::string_view key, const std::string& what) const {
        error(s.self().where, "'" + s.path_of(key) + "' is required: " + what);
    }

    const std::string& base_dir() const { return base_dir_; }

  private:
    std::string source_name_;
    std::string base_dir_;
    check_state* check_;
};

inline section::section(const reader& r, const node& n, std::string path,
                        const std::vector<std::string_view>& keys)
    : node_(&n), path_(std::move(path)) {
    const std::string where = path_.empty() ? "at the top level" : "in '" + path_ + "'";
    if (n.type != node::kind::map) {
        if (path_.empty()) {
            r.error(n.where,
                    "a crawl config must be a map of settings like 'name: catalog' "
                    "(got " +
                        describe(n) + ")");
        }
        r.expected(n, path_, "a map of settings (key: value)");
    }
    std::set<std::string_view> seen;
    for (const auto& entry : n.entries) {
        if (std::find(keys.begin(), keys.end(), entry.key) == keys.end()) {
            std::string message = "unknown key '" + entry.key + "' " + where;
            const auto hint = detail::closest(entry.key, keys);
            if (!hint.empty()) {
                message += "; did you mean '" + hint + "'?";
            } else {
                message += "; valid keys: " + join_names(keys);
            }
            r.report(entry.key_where, message);
        } else if (!seen.insert(entry.key).second) {
            r.report(entry.key_where,
                     "duplicate key '" + entry.key + "' " + where + "; give each setting once");
        }
    }
}

// ---- the section readers (one file each under config/loader/) -------------------------------

// engine.cpp
crawl::engine_options read_engine(const reader& r, const node& n);

// http.cpp
crawl::http_cache_options read_http_cache(const reader& r, const node& n, const std::string& path);
crawl::http_options read_http(const reader& r, const node& n, const std::string& path,
                              crawl::http_options http, crawl::http_cache_options* cache = nullptr);

// resilience.cpp: rate_limit, retry, circuit_breaker, hosts
crawl::bucket_options read_bucket(const reader& r, const section& s, crawl::bucket_options bucket);
crawl::rate_limit_options read_rate_limit(const reader& r, const node& n);
crawl::retry_options read_retry(const reader& r, const node& n, const std::string& path,
                                crawl::retry_options retry);
crawl::breaker_options read_breaker(const reader& r, const node& n, const std::string& path,
                                    crawl::breaker_options breaker);
void read_hosts(const reader& r, const node& n, crawl::crawl_options& crawl);

// seeds.cpp
std::vector<seed> read_seeds(const reader& r, const section& top);

// extract.cpp: follow and extract, and the selectors and regexes they share with render
std::vector<std::string> regex_list(const reader& r, const node& n, const std::string& path);
std::string css_selector(const reader& r, const node& n, const std::string& path);
std::string xpath_expression(const reader& r, const node& n, const std::string& path);
std::vector<std::pair<std::string, std::string>> read_meta(const reader& r, const node& n,
                                                           const std::string& path);
std::vector<pipelines::follow_rule> read_follow(const reader& r, const node& n);
const node* peek(const reader& r, const node& n, const std::string& path, std::string_view key);
// The `type` that the list entry `n` at `path` must have (extract and outputs entries); an error
// naming `types` when it has none.
template <std::size_t N>
const node& required_type(const reader& r, const node& n, const std::string& path,
                          const std::array<std::string_view, N>& types) {
    const node* type_node = peek(r, n, path, "type");
    if (type_node == nullptr) {
        r.error(n.where, "'" + path + ".type' is required: one of " + join_names(types));
    }
    return *type_node;
}
std::vector<pipelines::extract_rule> read_extract(const reader& r, const node& n);

// render.cpp
std::optional<crawl::render_options> read_render_rule(const reader& r, const node& n,
                                                      const std::string& path);
void read_render_pool(const reader& r, const node& n, crawl::render_pool_options& pool);

// sessions.cpp: sessions and login
crawl::session_options read_sessions(const reader& r, const node& n);
std::vector<crawl::login_step> read_login(const reader& r, const node& n);

// outputs.cpp
std::vector<pipelines::output_spec> read_outputs(const reader& r, const node& n);
void set_webhook_delivery(crawl_config& config);

// metrics.cpp, state.cpp, frontier.cpp
void read_metrics(const reader& r, const node& n, crawl::crawl_options& crawl);
void read_state(const reader& r, const node& n, crawl::crawl_options& crawl,
                origin& state_dir_where);
void read_frontier(const reader& r, const node& n, crawl::crawl_options& crawl);

// proxies.cpp
void read_proxies(const reader& r, const section& top, crawl::crawl_options& crawl);

}  // namespace harvest::config::reading
