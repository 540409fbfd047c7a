// YAML crawl config -> typed crawl_config, with validation that names file:line:col, what is
// wrong and what would be right (docs/config.md is the contract for every key here).

#include "config/loader.hpp"

#include "config/config_tree.hpp"
#include "config/file_checks.hpp"
#include "config/service_config.hpp"
#include "engine/core/failure_kind.hpp"
#include "engine/core/proxy_url.hpp"
#include "engine/core/url_canonical.hpp"
#include "pipelines/extract/product_fields.hpp"
#include "pipelines/html/html.hpp"

#include <boost/url/parse.hpp>

#include <unistd.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace harvest::config {

namespace {

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
constexpr std::array<unsupported_feature, 0> unsupported_features{};
// ---------------------------------------------------------------------------------------------

// The names retry.on_errors accepts, for its error message.
constexpr auto retry_on_errors_names = [] {
    std::array<std::string_view, core::retry_on_errors_kinds.size()> names{};
    for (std::size_t i = 0; i < names.size(); ++i) {
        names[i] = core::to_string(core::retry_on_errors_kinds[i]);
    }
    return names;
}();

// `name` as a kind retry.on_errors may list, or nothing.
std::optional<core::failure_kind> retry_on_errors_kind(std::string_view name) {
    const auto kind = core::parse_failure_kind(name);
    const auto& allowed = core::retry_on_errors_kinds;
    if (kind && std::find(allowed.begin(), allowed.end(), *kind) != allowed.end()) {
        return kind;
    }
    return std::nullopt;
}

std::string quote_text(std::string_view text) {
    return "\"" + std::string(text) + "\"";
}

std::string describe(const node& n) {
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

bool is_token_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_method(std::string_view text) {
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

section::section(const reader& r, const node& n, std::string path,
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

// ---- sections -------------------------------------------------------------------------------

crawl::engine_options read_engine(const reader& r, const node& n) {
    section s(r, n, "engine",
              {"concurrency", "per_host_concurrency", "threads", "user_agent", "robots_txt",
               "max_depth", "dedup", "max_requests", "frontier_memory"});
    crawl::engine_options engine;
    r.attempt([&] {
        if (const auto* v = s.get("concurrency")) {
            engine.concurrency = r.integer(*v, s.path_of("concurrency"), 1, UINT32_MAX);
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("per_host_concurrency")) {
            engine.per_host_concurrency =
                r.integer(*v, s.path_of("per_host_concurrency"), 1, UINT32_MAX);
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("threads")) {
            engine.threads = static_cast<unsigned>(r.integer(*v, s.path_of("threads"), 0, 1024));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("user_agent")) {
            engine.user_agent = r.header_value(*v, s.path_of("user_agent"));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("robots_txt")) {
            static constexpr auto options = std::to_array<std::string_view>({"obey", "ignore"});
            const auto index = r.choice(*v, s.path_of("robots_txt"), options);
            engine.obey_robots_txt = index == 0;
            r.check_supported("engine.robots_txt", options[index], v->where,
                              s.path_of("robots_txt"));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("max_depth")) {
            engine.max_depth = r.count(*v, s.path_of("max_depth"));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("dedup")) {
            engine.dedup = r.boolean(*v, s.path_of("dedup"));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("max_requests")) {
            engine.max_requests = r.integer(*v, s.path_of("max_requests"), 0, UINT64_MAX);
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("frontier_memory")) {
            engine.frontier_memory = r.size(*v, s.path_of("frontier_memory"));
        }
    });
    return engine;
}

// http.cache: crawl-wide, so read at the top level only (not in a `hosts:` entry).
crawl::http_cache_options read_http_cache(const reader& r, const node& n, const std::string& path) {
    section s(r, n, path, {"mode", "dir", "max_size", "unchanged"});
    crawl::http_cache_options cache;
    r.attempt([&] {
        if (const auto* v = s.get("mode")) {
            static constexpr auto modes =
                std::to_array<std::string_view>({"off", "conditional", "replay"});
            cache.mode = static_cast<crawl::http_cache_options::kind>(
                r.choice(*v, s.path_of("mode"), modes));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("dir")) {
            cache.dir = r.resolve_path(r.text(*v, s.path_of("dir")));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("max_size")) {
            cache.max_size = r.size(*v, s.path_of("max_size"));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("unchanged")) {
            static constexpr auto choices = std::to_array<std::string_view>({"emit", "skip"});
            cache.emit_unchanged = r.choice(*v, s.path_of("unchanged"), choices) == 0;
        }
    });
    if (auto* check = r.checking()) {
        const origin* dir = s.key_origin("dir");
        const origin* mode = s.key_origin("mode");
        check->http_cache_where = dir != nullptr ? *dir : mode != nullptr ? *mode : n.where;
    }
    return cache;
}

crawl::http_options read_http(const reader& r, const node& n, const std::string& path,
                              crawl::http_options http,
                              crawl::http_cache_options* cache = nullptr) {
    std::vector<std::string_view> keys{"timeouts", "max_body", "max_redirects", "decompress",
                                       "headers",  "tls",      "version",       "cookies"};
    if (cache != nullptr) {
        keys.emplace_back("cache");
        keys.emplace_back("referer");  // crawl-wide only: links are admitted crawl-wide
    }
    section s(r, n, path, keys);
    if (cache != nullptr) {
        r.attempt([&] {
            if (const auto* v = s.get("cache")) {
                *cache = read_http_cache(r, *v, s.path_of("cache"));
            }
        });
    }
    r.attempt([&] {
        if (const auto* v = s.get("timeouts")) {
            section t(r, *v, s.path_of("timeouts"),
                      {"connect", "tls", "response_headers", "idle_read", "total"});
            const std::array<std::pair<std::string_view, std::chrono::milliseconds*>, 5> fields{
                {{"connect", &http.timeouts.connect},
                 {"tls", &http.timeouts.tls},
                 {"response_headers", &http.timeouts.response_headers},
                 {"idle_read", &http.timeouts.idle_read},
                 {"total", &http.timeouts.total}}};
            for (const auto& [key, target] : fields) {
                if (const auto* d = t.get(key)) {
                    *target = r.duration(*d, t.path_of(key), true);
                }
            }
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("version")) {
            static constexpr auto versions = std::to_array<std::string_view>({"auto", "1.1", "2"});
            static constexpr std::array<crawl::http_version, 3> values{
                crawl::http_version::automatic, crawl::http_version::http1_1,
                crawl::http_version::http2};
            http.version = values[r.choice(*v, s.path_of("version"), versions)];
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("max_body")) {
            http.max_body = r.size(*v, s.path_of("max_body"));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("cookies")) {
            http.cookies = r.boolean(*v, s.path_of("cookies"));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("referer")) {
            http.referer = r.boolean(*v, s.path_of("referer"));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("max_redirects")) {
            http.max_redirects =
                static_cast<unsigned>(r.integer(*v, s.path_of("max_redirects"), 0, 100));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("decompress")) {
            static constexpr auto codings =
                std::to_array<std::string_view>({"gzip", "deflate", "br"});
            // The list says exactly what is accepted: [] turns decoding off.
            http.gzip = http.deflate = http.br = false;
            const auto& items = r.list(*v, s.path_of("decompress"));
            for (std::size_t i = 0; i < items.size(); ++i) {
                switch (r.choice(items[i], s.path_of("decompress") + "." + std::to_string(i),
                                 codings)) {
                    case 0:
                        http.gzip = true;
                        break;
                    case 1:
                        http.deflate = true;
                        break;
                    default:
                        http.br = true;
                        break;
                }
            }
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("headers")) {
            // Given headers replace the default set (Accept-Language) rather than add to it.
            http.headers = r.headers(*v, s.path_of("headers"));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("tls")) {
            section t(r, *v, s.path_of("tls"), {"verify", "ca_file"});
            if (const auto* verify = t.get("verify")) {
                http.tls.verify = r.boolean(*verify, t.path_of("verify"));
            }
            if (const auto* ca_file = t.get("ca_file")) {
                http.tls.ca_file = r.resolve_path(r.text(*ca_file, t.path_of("ca_file")));
                // Read when the first https request is made: every one fails without it.
                r.check_readable(*t.key_origin("ca_file"), t.path_of("ca_file"), http.tls.ca_file,
                                 "give a PEM file of CA certificates (a relative path is read "
                                 "from the config's folder)");
            }
        }
    });
    return http;
}

crawl::bucket_options read_bucket(const reader& r, const section& s, crawl::bucket_options bucket) {
    if (const auto* v = s.get("per_second")) {
        bucket.per_second = r.rate(*v, s.path_of("per_second"));
    }
    if (const auto* v = s.get("burst")) {
        bucket.burst = r.rate(*v, s.path_of("burst"));
    }
    return bucket;
}

crawl::rate_limit_options read_rate_limit(const reader& r, const node& n) {
    section s(r, n, "rate_limit", {"per_second", "burst", "adaptive", "global"});
    crawl::rate_limit_options rate_limit;
    rate_limit.per_host = read_bucket(r, s, rate_limit.per_host);
    if (const auto* v = s.get("adaptive")) {
        rate_limit.adaptive = r.boolean(*v, s.path_of("adaptive"));
        r.check_supported("rate_limit.adaptive", rate_limit.adaptive ? "true" : "false", v->where,
                          s.path_of("adaptive"));
    }
    if (const auto* v = s.get("global")) {
        section g(r, *v, s.path_of("global"), {"per_second", "burst"});
        rate_limit.global = read_bucket(r, g, rate_limit.global);
    }
    return rate_limit;
}

crawl::retry_options read_retry(const reader& r, const node& n, const std::string& path,
                                crawl::retry_options retry) {
    section s(r, n, path,
              {"max_attempts", "on_status", "on_errors", "backoff", "retry_after", "methods",
               "idempotency_key", "budget"});
    r.attempt([&] {
        if (const auto* v = s.get("max_attempts")) {
            retry.max_attempts =
                static_cast<unsigned>(r.integer(*v, s.path_of("max_attempts"), 1, 100));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("on_status")) {
            retry.on_status.clear();
            const auto& items = r.list(*v, s.path_of("on_status"));
            for (std::size_t i = 0; i < items.size(); ++i) {
                retry.on_status.push_back(static_cast<unsigned>(r.integer(
                    items[i], s.path_of("on_status") + "." + std::to_string(i), 100, 599)));
            }
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("on_errors")) {
            retry.on_errors.clear();
            const auto& items = r.list(*v, s.path_of("on_errors"));
            for (std::size_t i = 0; i < items.size(); ++i) {
                const auto kind = items[i].type == node::kind::scalar
                                      ? retry_on_errors_kind(items[i].scalar)
                                      : std::nullopt;
                // Not one of them: choice() throws, listing the valid names (and a close one).
                retry.on_errors.push_back(
                    kind ? *kind
                         : core::retry_on_errors_kinds[r.choice(
                               items[i], s.path_of("on_errors") + "." + std::to_string(i),
                               retry_on_errors_names)]);
            }
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("backoff")) {
            section b(r, *v, s.path_of("backoff"), {"strategy", "base", "max"});
            if (const auto* strategy = b.get("strategy")) {
                static constexpr auto strategies = std::to_array<std::string_view>(
                    {"full_jitter", "equal_jitter", "decorrelated_jitter", "none"});
                retry.backoff.strategy = static_cast<crawl::backoff_strategy>(
                    r.choice(*strategy, b.path_of("strategy"), strategies));
            }
            if (const auto* base = b.get("base")) {
                retry.backoff.base = r.duration(*base, b.path_of("base"));
            }
            if (const auto* max = b.get("max")) {
                retry.backoff.max = r.duration(*max, b.path_of("max"));
                if (retry.backoff.max < retry.backoff.base) {
                    r.error(max->where, "'" + b.path_of("max") + "' must be at least '" +
                                            b.path_of("base") + "' (" +
                                            std::to_string(retry.backoff.base.count()) + "ms)");
                }
            }
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("retry_after")) {
            section a(r, *v, s.path_of("retry_after"), {"honor", "max"});
            if (const auto* honor = a.get("honor")) {
                retry.honor_retry_after = r.boolean(*honor, a.path_of("honor"));
            }
            if (const auto* max = a.get("max")) {
                retry.retry_after_max = r.duration(*max, a.path_of("max"));
            }
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("methods")) {
            retry.methods = r.methods(*v, s.path_of("methods"));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("idempotency_key")) {
            section k(r, *v, s.path_of("idempotency_key"), {"header", "for"});
            if (const auto* header = k.get("header")) {
                const auto& name = r.text(*header, k.path_of("header"));
                if (name.empty() || !std::all_of(name.begin(), name.end(), is_token_char)) {
                    r.expected(*header, k.path_of("header"), "a header name like Idempotency-Key");
                }
                retry.idempotency_header = name;
            }
            if (const auto* methods = k.get("for")) {
                retry.idempotency_methods = r.methods(*methods, k.path_of("for"));
            }
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("budget")) {
            section b(r, *v, s.path_of("budget"), {"ratio", "min_per_second"});
            if (const auto* ratio = b.get("ratio")) {
                retry.budget_ratio =
                    r.number(*ratio, b.path_of("ratio"), 0, 1e6, false,
                             "a number >= 0 (0.2 = retries up to 20% of requests)");
            }
            if (const auto* min = b.get("min_per_second")) {
                retry.budget_min_per_second = r.rate(*min, b.path_of("min_per_second"));
            }
        }
    });
    return retry;
}

crawl::breaker_options read_breaker(const reader& r, const node& n, const std::string& path,
                                    crawl::breaker_options breaker) {
    section s(r, n, path,
              {"window", "min_calls", "failure_rate", "min_open_for", "open_for",
               "half_open_probes", "give_up_after"});
    // Each key on its own (check mode); the limits between two keys only when both were read.
    bool counts_read = r.attempt([&] {
        if (const auto* v = s.get("window")) {
            breaker.window = static_cast<unsigned>(r.integer(*v, s.path_of("window"), 1, 1000000));
        }
    });
    counts_read &= r.attempt([&] {
        if (const auto* v = s.get("min_calls")) {
            breaker.min_calls =
                static_cast<unsigned>(r.integer(*v, s.path_of("min_calls"), 1, 1000000));
        }
    });
    if (counts_read && breaker.min_calls > breaker.window) {
        const node* at = s.get("min_calls") != nullptr ? s.get("min_calls") : s.get("window");
        r.error(at->where, "'" + s.path_of("min_calls") + "' (" +
                               std::to_string(breaker.min_calls) + ") must not exceed '" +
                               s.path_of("window") + "' (" + std::to_string(breaker.window) +
                               "), or the breaker never decides");
    }
    r.attempt([&] {
        if (const auto* v = s.get("failure_rate")) {
            breaker.failure_rate =
                r.number(*v, s.path_of("failure_rate"), 0, 1, true, "a number in (0, 1], like 0.5");
        }
    });
    bool durations_read = r.attempt([&] {
        if (const auto* v = s.get("open_for")) {
            breaker.open_for = r.duration(*v, s.path_of("open_for"), true);
        }
    });
    durations_read &= r.attempt([&] {
        if (const auto* v = s.get("min_open_for")) {
            breaker.min_open_for = r.duration(*v, s.path_of("min_open_for"), true);
        }
    });
    if (durations_read && breaker.min_open_for > breaker.open_for) {
        if (const auto* v = s.get("min_open_for")) {
            r.error(v->where, "'" + s.path_of("min_open_for") + "' must not exceed '" +
                                  s.path_of("open_for") + "' (the longest an opening lasts)");
        }
        breaker.min_open_for = breaker.open_for;  // only open_for was set, below the default
    }
    r.attempt([&] {
        if (const auto* v = s.get("half_open_probes")) {
            breaker.half_open_probes =
                static_cast<unsigned>(r.integer(*v, s.path_of("half_open_probes"), 1, 1000000));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("give_up_after")) {
            breaker.give_up_after = r.duration(*v, s.path_of("give_up_after"), true);
        }
    });
    return breaker;
}

// `hosts:` maps "host" or "host:port" to overrides. Inside an entry the per-host concurrency is
// the key `per_host_concurrency` (the host's own engine.per_host_concurrency); http, rate_limit
// (per_second, burst), retry and circuit_breaker each start from the crawl-wide section and
// change only what the entry gives. Host names are lower-cased (DNS names are case-insensitive).
void read_hosts(const reader& r, const node& n, crawl::crawl_options& crawl) {
    if (n.type != node::kind::map) {
        r.expected(n, "hosts", "a map of host names (or host:port) to settings");
    }
    for (const auto& entry : n.entries) {
        r.attempt([&] {  // each host on its own
            std::string host = entry.key;
            std::transform(host.begin(), host.end(), host.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            const std::string path = "hosts." + entry.key;
            const auto colon = host.rfind(':');
            const std::string name = host.substr(0, colon);
            bool valid = !name.empty() && name.find_first_of("/@?# \t[]") == std::string::npos &&
                         name.find("://") == std::string::npos;
            if (valid && colon != std::string::npos) {
                const std::string port = host.substr(colon + 1);
                unsigned long value = 0;
                const auto [ptr, ec] =
                    std::from_chars(port.data(), port.data() + port.size(), value);
                valid = ec == std::errc() && ptr == port.data() + port.size() && value >= 1 &&
                        value <= 65535 && !port.empty();
            }
            if (!valid) {
                r.error(entry.key_where,
                        "'" + path +
                            "': a host key must be a host name or "
                            "host:port like api.example.com or 127.0.0.1:8080 (got " +
                            quote_text(entry.key) + ")");
            }
            if (crawl.hosts.count(host) != 0) {
                r.error(entry.key_where, "host '" + host + "' is given twice in 'hosts'; keep one");
            }
            crawl::host_overrides overrides;
            if (entry.value.type != node::kind::null) {
                section s(
                    r, entry.value, path,
                    {"per_host_concurrency", "http", "rate_limit", "retry", "circuit_breaker"});
                if (const auto* v = s.get("per_host_concurrency")) {
                    overrides.per_host_concurrency =
                        r.integer(*v, s.path_of("per_host_concurrency"), 1, UINT32_MAX);
                }
                if (const auto* v = s.get("http")) {
                    overrides.http = read_http(r, *v, s.path_of("http"), crawl.http);
                }
                if (const auto* v = s.get("rate_limit")) {
                    section b(r, *v, s.path_of("rate_limit"), {"per_second", "burst"});
                    overrides.rate_limit = read_bucket(r, b, crawl.rate_limit.per_host);
                }
                if (const auto* v = s.get("retry")) {
                    overrides.retry = read_retry(r, *v, s.path_of("retry"), crawl.retry);
                }
                if (const auto* v = s.get("circuit_breaker")) {
                    overrides.circuit_breaker =
                        read_breaker(r, *v, s.path_of("circuit_breaker"), crawl.circuit_breaker);
                }
            }
            crawl.hosts.emplace(host, std::move(overrides));
        });
    }
}

std::vector<seed> read_seeds(const reader& r, const section& top) {
    const node* n = top.get("seeds");
    if (n == nullptr) {
        const origin* key = top.key_origin("seeds");
        r.error(key != nullptr ? *key : top.self().where,
                "'seeds' needs at least one entry, like '- url: http://host/page'");
    }
    const auto& items = r.list(*n, "seeds");
    if (items.empty()) {
        r.error(n->where, "'seeds' needs at least one entry, like '- url: http://host/page'");
    }
    std::vector<seed> seeds;
    for (std::size_t i = 0; i < items.size(); ++i) {
        r.attempt([&] {
            const std::string path = "seeds." + std::to_string(i);
            section s(r, items[i], path,
                      {"url", "method", "headers", "body", "urls_file", "sitemap", "template",
                       "values_file"});
            seed out;
            int kinds = 0;
            if (const auto* v = s.get("url")) {
                ++kinds;
                out.kind = seed_kind::url;
                out.url = r.http_url(*v, s.path_of("url"));
            }
            if (const auto* v = s.get("urls_file")) {
                ++kinds;
                out.kind = seed_kind::urls_file;
                out.file = r.resolve_path(r.text(*v, s.path_of("urls_file")));
                r.check_readable(
                    *s.key_origin("urls_file"), s.path_of("urls_file"), out.file,
                    "give a file of URLs, one a line (a relative path is read from the "
                    "config's folder)");
            }
            if (const auto* v = s.get("sitemap")) {
                ++kinds;
                out.kind = seed_kind::sitemap;
                out.url = r.http_url(*v, s.path_of("sitemap"));
            }
            if (const auto* v = s.get("template")) {
                ++kinds;
                out.kind = seed_kind::template_values;
                out.url = r.text(*v, s.path_of("template"));
                std::string probe = out.url;
                const auto at = probe.find("{id}");
                if (at == std::string::npos) {
                    r.error(v->where, "'" + s.path_of("template") +
                                          "' must contain {id} where each value goes (got " +
                                          quote_text(out.url) + ")");
                }
                probe.replace(at, 4, "id");
                if (!core::is_http_url(probe)) {
                    r.expected(*v, s.path_of("template"),
                               "an absolute http:// or https:// URL with {id} in it");
                }
                const auto* values = s.get("values_file");
                if (values == nullptr) {
                    r.missing(s, "values_file",
                              "a template seed needs a file of values, one a line");
                }
                out.file = r.resolve_path(r.text(*values, s.path_of("values_file")));
                r.check_readable(*s.key_origin("values_file"), s.path_of("values_file"), out.file,
                                 "give a file of values for {id}, one a line (a relative path is "
                                 "read from the config's folder)");
            } else if (const auto* values = s.get("values_file")) {
                r.error(values->where, "'" + s.path_of("values_file") +
                                           "' goes with 'template'; add template: "
                                           "\"http://host/items/{id}\" or remove it");
            }
            if (kinds != 1) {
                r.error(items[i].where, "'" + path +
                                            "' must have exactly one of url, urls_file, "
                                            "sitemap, template (got " +
                                            std::to_string(kinds) + ")");
            }
            if (const auto* v = s.get("method")) {
                out.method = r.method(*v, s.path_of("method"));
            }
            if (const auto* v = s.get("headers")) {
                out.headers = r.headers(*v, s.path_of("headers"));
            }
            if (const auto* v = s.get("body")) {
                out.body = r.text(*v, s.path_of("body"));
            }
            if (out.kind == seed_kind::sitemap) {
                r.check_supported("seeds.sitemap", "", s.get("sitemap")->where,
                                  s.path_of("sitemap"));
            }
            seeds.push_back(std::move(out));
        });
    }
    return seeds;
}

std::vector<std::string> regex_list(const reader& r, const node& n, const std::string& path) {
    std::vector<std::string> result;
    const auto& items = r.list(n, path);
    for (std::size_t i = 0; i < items.size(); ++i) {
        result.push_back(r.regex(items[i], path + "." + std::to_string(i)));
    }
    return result;
}

// Selectors are compiled here exactly as the pipelines will compile them, so a bad one is
// reported at its place in the file instead of when the crawl starts.
std::string css_selector(const reader& r, const node& n, const std::string& path) {
    const auto& css = r.text(n, path);
    try {
        (void)pipelines::css_to_xpath(css);
    } catch (const pipelines::css_syntax_error& e) {
        // The message names the offset in the selector (the node's column may point at a quote).
        r.error(n.where,
                "'" + path + "' must be a CSS selector like \"a.product-link\" (" + e.what() + ")");
    }
    return css;
}

std::string xpath_expression(const reader& r, const node& n, const std::string& path) {
    const auto& xpath = r.text(n, path);
    pipelines::field_rule probe;
    probe.name = path;
    probe.xpath = xpath;
    try {
        const pipelines::html_field compiled(probe);
    } catch (const std::invalid_argument& e) {
        r.error(n.where, "'" + path + "' must be an XPath 1.0 expression like " +
                             "\"//a[@rel='next']/@href\" (" + e.what() + ")");
    }
    return xpath;
}

// A rule's `render:` true, false, or {wait_for, timeout, block, scroll}; nothing for false.
std::optional<crawl::render_options> read_render_rule(const reader& r, const node& n,
                                                      const std::string& path) {
    crawl::render_options options;
    if (n.type == node::kind::scalar) {
        if (r.boolean(n, path)) {
            return options;
        }
        return std::nullopt;
    }
    if (n.type != node::kind::map) {
        r.expected(n, path, "true, false or a map like {wait_for: \"#products\", timeout: 15s}");
    }
    section s(r, n, path, {"wait_for", "timeout", "block", "scroll"});
    if (const auto* v = s.get("wait_for")) {
        const auto& text = r.text(*v, s.path_of("wait_for"));
        if (text == "load") {
            options.wait_for = crawl::render_options::wait::load;
        } else if (text == "network_idle") {
            options.wait_for = crawl::render_options::wait::network_idle;
        } else {
            // Anything else is a CSS selector, checked as the extractors would compile it.
            options.selector = css_selector(r, *v, s.path_of("wait_for"));
            options.wait_for = crawl::render_options::wait::selector;
        }
    }
    if (const auto* v = s.get("timeout")) {
        options.timeout = r.duration(*v, s.path_of("timeout"), true);
    }
    if (const auto* v = s.get("block")) {
        static constexpr auto kinds =
            std::to_array<std::string_view>({"image", "font", "media", "stylesheet"});
        options.block.clear();
        const auto& items = r.list(*v, s.path_of("block"));
        for (std::size_t i = 0; i < items.size(); ++i) {
            const auto index =
                r.choice(items[i], s.path_of("block") + "." + std::to_string(i), kinds);
            options.block.emplace_back(kinds[index]);
        }
    }
    if (const auto* v = s.get("scroll")) {
        options.scroll = r.boolean(*v, s.path_of("scroll"));
    }
    return options;
}

// `render:` at the top level: the browser pool every rendering rule shares.
void read_render_pool(const reader& r, const node& n, crawl::render_pool_options& pool) {
    section s(r, n, "render",
              {"chromium", "browsers", "tabs_per_browser", "pages_per_tab", "max_rss",
               "start_timeout", "command_timeout", "max_attempts"});
    r.attempt([&] {
        if (const auto* v = s.get("chromium")) {
            pool.chromium = r.resolve_path(r.text(*v, s.path_of("chromium")));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("browsers")) {
            pool.browsers = r.count(*v, s.path_of("browsers"), 1);
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("tabs_per_browser")) {
            pool.tabs_per_browser = r.count(*v, s.path_of("tabs_per_browser"), 1);
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("pages_per_tab")) {
            pool.pages_per_tab = r.count(*v, s.path_of("pages_per_tab"), 1);
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("max_rss")) {
            pool.max_rss = r.size(*v, s.path_of("max_rss"));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("start_timeout")) {
            pool.start_timeout = r.duration(*v, s.path_of("start_timeout"), true);
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("command_timeout")) {
            pool.command_timeout = r.duration(*v, s.path_of("command_timeout"), true);
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("max_attempts")) {
            pool.max_attempts = r.count(*v, s.path_of("max_attempts"), 1);
        }
    });
}

// follow.N.meta: names to single-line texts, copied into items under "meta".
std::vector<std::pair<std::string, std::string>> read_meta(const reader& r, const node& n,
                                                           const std::string& path) {
    if (n.type != node::kind::map) {
        r.expected(n, path, "a map of names to texts, like {category: shoes}");
    }
    std::vector<std::pair<std::string, std::string>> meta;
    for (const auto& entry : n.entries) {
        if (entry.key.empty()) {
            r.error(entry.key_where, "'" + path + "': a meta name cannot be empty");
        }
        meta.emplace_back(entry.key, entry.value.type == node::kind::null
                                         ? std::string()
                                         : r.text(entry.value, path + "." + entry.key));
    }
    return meta;
}

// `sessions:` (docs/config.md).
crawl::session_options read_sessions(const reader& r, const node& n) {
    crawl::session_options sessions;
    section s(r, n, "sessions", {"count", "user_agents", "retire_on"});
    r.attempt([&] {
        if (const auto* v = s.get("count")) {
            sessions.count =
                static_cast<std::uint32_t>(r.integer(*v, s.path_of("count"), 1, 10000));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("user_agents")) {
            const auto& items = r.list(*v, s.path_of("user_agents"));
            for (std::size_t i = 0; i < items.size(); ++i) {
                const std::string item_path = s.path_of("user_agents") + "." + std::to_string(i);
                const auto& agent = r.text(items[i], item_path);
                if (agent.empty()) {
                    r.expected(items[i], item_path, "a User-Agent text, not an empty one");
                }
                sessions.user_agents.push_back(agent);
            }
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("retire_on")) {
            sessions.retire_on.clear();
            const auto& items = r.list(*v, s.path_of("retire_on"));
            for (std::size_t i = 0; i < items.size(); ++i) {
                sessions.retire_on.push_back(static_cast<unsigned>(r.integer(
                    items[i], s.path_of("retire_on") + "." + std::to_string(i), 100, 599)));
            }
        }
    });
    return sessions;
}

// `login:` (docs/config.md): the requests each session sends before the seeds.
std::vector<crawl::login_step> read_login(const reader& r, const node& n) {
    std::vector<crawl::login_step> steps;
    const auto& items = r.list(n, "login");
    for (std::size_t i = 0; i < items.size(); ++i) {
        r.attempt([&] {
            const std::string path = "login." + std::to_string(i);
            section s(r, items[i], path, {"url", "method", "form", "headers", "expect_cookie"});
            crawl::login_step step;
            const auto* url = s.get("url");
            if (url == nullptr) {
                r.error(items[i].where, "'" + path +
                                            "' needs a url: the login form's address, like "
                                            "https://shop.example/login");
            }
            step.url = r.http_url(*url, s.path_of("url"));
            if (const auto* v = s.get("method")) {
                step.method = r.method(*v, s.path_of("method"));
            }
            if (const auto* v = s.get("form")) {
                if (v->type != node::kind::map) {
                    r.expected(*v, s.path_of("form"),
                               "a map of form fields, like {user: me, password: ${SHOP_PASSWORD}}");
                }
                for (const auto& entry : v->entries) {
                    step.form.emplace_back(
                        entry.key, entry.value.type == node::kind::null
                                       ? std::string()
                                       : r.text(entry.value, s.path_of("form") + "." + entry.key));
                }
            }
            if (const auto* v = s.get("headers")) {
                step.headers = r.headers(*v, s.path_of("headers"));
            }
            if (const auto* v = s.get("expect_cookie")) {
                step.expect_cookie = r.text(*v, s.path_of("expect_cookie"));
            }
            steps.push_back(std::move(step));
        });
    }
    return steps;
}

std::vector<pipelines::follow_rule> read_follow(const reader& r, const node& n) {
    std::vector<pipelines::follow_rule> rules;
    const auto& items = r.list(n, "follow");
    for (std::size_t i = 0; i < items.size(); ++i) {
        r.attempt([&] {
            const std::string path = "follow." + std::to_string(i);
            section s(r, items[i], path,
                      {"css", "xpath", "allow", "deny", "max_depth", "render", "headers", "meta"});
            pipelines::follow_rule rule;
            const auto* css = s.get("css");
            const auto* xpath = s.get("xpath");
            if ((css == nullptr) == (xpath == nullptr)) {
                r.error(items[i].where,
                        "'" + path + "' must have exactly one of css, xpath (the links to follow)");
            }
            if (css != nullptr) {
                rule.css = css_selector(r, *css, s.path_of("css"));
            } else {
                rule.xpath = xpath_expression(r, *xpath, s.path_of("xpath"));
            }
            if (const auto* v = s.get("allow")) {
                rule.allow = regex_list(r, *v, s.path_of("allow"));
            }
            if (const auto* v = s.get("deny")) {
                rule.deny = regex_list(r, *v, s.path_of("deny"));
            }
            if (const auto* v = s.get("max_depth")) {
                rule.max_depth = r.count(*v, s.path_of("max_depth"));
            }
            if (const auto* v = s.get("render")) {
                rule.render = read_render_rule(r, *v, s.path_of("render"));
            }
            if (const auto* v = s.get("headers")) {
                rule.headers = r.headers(*v, s.path_of("headers"));
            }
            if (const auto* v = s.get("meta")) {
                rule.meta = read_meta(r, *v, s.path_of("meta"));
            }
            rules.push_back(std::move(rule));
        });
    }
    if (!rules.empty()) {
        r.check_supported("follow", "", n.where, "follow");
    }
    return rules;
}

// The JSON Pointer syntax of RFC 6901: empty, or '/'-separated tokens where '~' is ~0 or ~1.
bool is_json_pointer(std::string_view text) {
    if (!text.empty() && text.front() != '/') {
        return false;
    }
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '~' &&
            (i + 1 >= text.size() || (text[i + 1] != '0' && text[i + 1] != '1'))) {
            return false;
        }
    }
    return true;
}

// Where a node's `type:` says how the rest is read, the type is read before the section.
const node* peek(const reader& r, const node& n, const std::string& path, std::string_view key) {
    if (n.type != node::kind::map) {
        r.expected(n, path, "a map of settings (key: value)");
    }
    for (const auto& entry : n.entries) {
        if (entry.key == key && entry.value.type != node::kind::null) {
            return &entry.value;
        }
    }
    return nullptr;
}

pipelines::field_rule read_field(const reader& r, const node& n, const std::string& path,
                                 const std::string& name, pipelines::extract_type type) {
    pipelines::field_rule field;
    field.name = name;
    const bool json = type == pipelines::extract_type::json;
    if (json && n.type == node::kind::scalar) {
        field.pointer = n.scalar;
        if (!is_json_pointer(field.pointer)) {
            r.expected(n, path, "a JSON Pointer like /price or /offers/0/price");
        }
        return field;
    }
    if (n.type != node::kind::map) {
        r.expected(n, path,
                   json ? "a JSON Pointer like /price, or a map like {pointer: /price, as: price}"
                        : "a map like {css: \"h1\", text: true}");
    }
    std::unique_ptr<section> s;
    if (json) {
        s = std::make_unique<section>(r, n, path,
                                      std::initializer_list<std::string_view>{
                                          "pointer", "as", "decimal_separator", "currency"});
        const auto* pointer = s->get("pointer");
        if (pointer == nullptr) {
            r.missing(*s, "pointer", "a JSON Pointer like /price");
        }
        field.pointer = r.text(*pointer, s->path_of("pointer"));
        if (!is_json_pointer(field.pointer)) {
            r.expected(*pointer, s->path_of("pointer"),
                       "a JSON Pointer like /price or /offers/0/price");
        }
    } else {
        s = std::make_unique<section>(
            r, n, path,
            std::initializer_list<std::string_view>{"css", "xpath", "text", "attribute", "raw",
                                                    "as", "decimal_separator", "currency", "regex",
                                                    "default", "all", "join", "strip"});
        const auto* css = s->get("css");
        const auto* xpath = s->get("xpath");
        if ((css == nullptr) == (xpath == nullptr)) {
            r.error(n.where, "'" + path + "' must have exactly one of css, xpath");
        }
        if (css != nullptr) {
            field.css = css_selector(r, *css, s->path_of("css"));
        } else {
            field.xpath = xpath_expression(r, *xpath, s->path_of("xpath"));
        }
        if (const auto* v = s->get("text")) {
            field.text = r.boolean(*v, s->path_of("text"));
        }
        if (const auto* v = s->get("attribute")) {
            field.attribute = r.text(*v, s->path_of("attribute"));
            if (field.text) {
                r.error(v->where, "'" + path + "' takes either text: true or attribute, not both");
            }
        }
        if (const auto* v = s->get("raw")) {
            field.raw = r.boolean(*v, s->path_of("raw"));
        }
        if (const auto* v = s->get("regex")) {
            field.pattern = pipelines::make_field_pattern(r.regex(*v, s->path_of("regex")));
        }
        if (const auto* v = s->get("default")) {
            field.default_value = r.text(*v, s->path_of("default"));
        }
        if (const auto* v = s->get("all")) {
            field.all = r.boolean(*v, s->path_of("all"));
        }
        if (const auto* v = s->get("strip")) {
            field.strip = r.boolean(*v, s->path_of("strip"));
        }
        if (const auto* v = s->get("join")) {
            field.join = r.text(*v, s->path_of("join"));
            if (!field.all) {
                r.error(v->where, "'" + s->path_of("join") + "' applies only with all: true");
            }
        }
    }
    if (const auto* v = s->get("as")) {
        static constexpr auto kinds = std::to_array<std::string_view>(
            {"string", "number", "int", "bool", "price", "availability", "url"});
        static constexpr auto values = std::to_array<pipelines::value_kind>(
            {pipelines::value_kind::string, pipelines::value_kind::number,
             pipelines::value_kind::integer, pipelines::value_kind::boolean,
             pipelines::value_kind::price, pipelines::value_kind::availability,
             pipelines::value_kind::url});
        field.as = values[r.choice(*v, s->path_of("as"), kinds)];
        if (field.as == pipelines::value_kind::url && json) {
            r.error(v->where, "'" + s->path_of("as") +
                                  "': url applies to html fields (resolved against the page)");
        }
        if (field.as != pipelines::value_kind::raw && field.raw) {
            r.error(v->where, "'" + path + "' takes either raw: true or as, not both");
        }
    }
    const bool price = field.as == pipelines::value_kind::price;
    if (const auto* v = s->get("decimal_separator")) {
        const auto& separator = r.text(*v, s->path_of("decimal_separator"));
        if (separator != "," && separator != ".") {
            r.expected(*v, s->path_of("decimal_separator"), R"("," or ".")");
        }
        if (!price) {
            r.error(v->where,
                    "'" + s->path_of("decimal_separator") + "' applies only with as: price");
        }
        field.decimal_separator = separator[0];
    }
    if (const auto* v = s->get("currency")) {
        const auto& currency = r.text(*v, s->path_of("currency"));
        if (currency.size() != 3 || !std::all_of(currency.begin(), currency.end(),
                                                 [](char c) { return c >= 'A' && c <= 'Z'; })) {
            r.expected(*v, s->path_of("currency"), "an ISO 4217 code like EUR or USD");
        }
        if (!price) {
            r.error(v->where, "'" + s->path_of("currency") + "' applies only with as: price");
        }
        field.currency = currency;
    }
    return field;
}

// A product rule's `sources`: its merge order, each of jsonld, microdata and html at most once.
std::vector<pipelines::extract_type> read_sources(const reader& r, const section& s) {
    static constexpr auto names = std::to_array<std::string_view>({"jsonld", "microdata", "html"});
    static constexpr auto kinds = std::to_array<pipelines::extract_type>(
        {pipelines::extract_type::jsonld, pipelines::extract_type::microdata,
         pipelines::extract_type::html});
    const auto* v = s.get("sources");
    if (v == nullptr) {
        return {kinds.begin(), kinds.end()};
    }
    const auto& items = r.list(*v, s.path_of("sources"));
    if (items.empty()) {
        r.expected(*v, s.path_of("sources"), "a list of sources like [jsonld, microdata, html]");
    }
    std::vector<pipelines::extract_type> sources;
    for (std::size_t j = 0; j < items.size(); ++j) {
        const std::string item_path = s.path_of("sources") + "." + std::to_string(j);
        const auto kind = kinds[r.choice(items[j], item_path, names)];
        if (std::find(sources.begin(), sources.end(), kind) != sources.end()) {
            r.error(items[j].where, "'" + item_path + "' names a source given before; keep one");
        }
        sources.push_back(kind);
    }
    return sources;
}

std::vector<pipelines::extract_rule> read_extract(const reader& r, const node& n) {
    static constexpr auto types =
        std::to_array<std::string_view>({"json", "jsonld", "microdata", "html", "product"});
    std::vector<pipelines::extract_rule> rules;
    const auto& items = r.list(n, "extract");
    for (std::size_t i = 0; i < items.size(); ++i) {
        r.attempt([&] {
            const std::string path = "extract." + std::to_string(i);
            const node* type_node = peek(r, items[i], path, "type");
            if (type_node == nullptr) {
                r.error(items[i].where,
                        "'" + path + ".type' is required: one of " + join_names(types));
            }
            pipelines::extract_rule rule;
            rule.type =
                static_cast<pipelines::extract_type>(r.choice(*type_node, path + ".type", types));
            const bool product = rule.type == pipelines::extract_type::product;
            const bool has_fields = rule.type == pipelines::extract_type::json ||
                                    rule.type == pipelines::extract_type::html || product;
            // A vector, not an initializer_list: a braced list in a conditional expression dies at
            // the end of that expression.
            const std::vector<std::string_view> keys =
                product ? std::vector<std::string_view>{"match",  "type",     "sources",
                                                        "fields", "required", "render"}
                : rule.type == pipelines::extract_type::json
                    ? std::vector<std::string_view>{"match", "type", "fields", "required"}
                : has_fields
                    ? std::vector<std::string_view>{"match", "type", "fields", "required", "render"}
                    : std::vector<std::string_view>{"match", "type", "schema", "required",
                                                    "render"};
            section s(r, items[i], path, keys);
            if (const auto* v = s.get("render")) {
                rule.render = read_render_rule(r, *v, s.path_of("render"));
            }
            if (const auto* v = s.get("match")) {
                rule.match = r.regex(*v, s.path_of("match"));
            }
            if (product) {
                rule.sources = read_sources(r, s);
            }
            bool fields_read = true;
            if (has_fields && (!product || s.get("fields") != nullptr)) {
                const auto* fields = s.get("fields");
                if (fields == nullptr) {
                    r.missing(s, "fields", "a map of field names to what to extract");
                }
                if (fields->type != node::kind::map || fields->entries.empty()) {
                    r.expected(*fields, s.path_of("fields"),
                               "a map of field names to what to extract, like {title: /title}");
                }
                for (const auto& entry : fields->entries) {
                    // Each field on its own; `required` is checked only when they all were read.
                    fields_read &= r.attempt([&] {
                        const std::string field_path = s.path_of("fields") + "." + entry.key;
                        for (const auto& field : rule.fields) {
                            if (field.name == entry.key) {
                                r.error(entry.key_where, "field '" + entry.key +
                                                             "' is given twice in '" +
                                                             s.path_of("fields") + "'; keep one");
                            }
                        }
                        if (entry.key.empty()) {
                            r.error(entry.key_where, "a field name must not be empty");
                        }
                        rule.fields.push_back(
                            read_field(r, entry.value, field_path, entry.key, rule.type));
                    });
                }
            } else if (const auto* v = s.get("schema")) {
                rule.schema = r.text(*v, s.path_of("schema"));
                if (rule.schema.empty() ||
                    !std::all_of(rule.schema.begin(), rule.schema.end(),
                                 [](unsigned char c) { return std::isalnum(c) != 0; })) {
                    r.expected(*v, s.path_of("schema"), "a schema.org type name like Product");
                }
                if (rule.schema != "Product") {
                    r.error(v->where,
                            "'" + s.path_of("schema") + "' must be Product, the schema.org " +
                                "type the items are normalized from (got " +
                                quote_text(rule.schema) + "); leave it out to get the raw values");
                }
            }
            if (product && !rule.fields.empty() &&
                std::find(rule.sources.begin(), rule.sources.end(),
                          pipelines::extract_type::html) == rule.sources.end()) {
                r.error(s.get("sources")->where, "'" + s.path_of("sources") +
                                                     "' must list html when the rule has fields " +
                                                     "(they are its html source)");
            }
            if (const auto* v = s.get("required"); v != nullptr && fields_read) {
                const auto& names = r.list(*v, s.path_of("required"));
                for (std::size_t j = 0; j < names.size(); ++j) {
                    const std::string item_path = s.path_of("required") + "." + std::to_string(j);
                    const auto& name = r.text(names[j], item_path);
                    const bool product_field =
                        product && (name == "url" || name == "fetched_at" || name == "status" ||
                                    std::find(pipelines::product_field_names.begin(),
                                              pipelines::product_field_names.end(),
                                              name) != pipelines::product_field_names.end());
                    if (has_fields && !product_field &&
                        std::none_of(
                            rule.fields.begin(), rule.fields.end(),
                            [&](const pipelines::field_rule& f) { return f.name == name; })) {
                        std::vector<std::string> field_names;
                        if (product) {
                            field_names.insert(field_names.end(),
                                               pipelines::product_field_names.begin(),
                                               pipelines::product_field_names.end());
                        }
                        for (const auto& f : rule.fields) {
                            field_names.push_back(f.name);
                        }
                        r.error(names[j].where, "'" + item_path + "' names no field of '" +
                                                    s.path_of("fields") + "' (got " +
                                                    quote_text(name) +
                                                    "); fields are: " + join_names(field_names));
                    }
                    if (!has_fields) {
                        // What a structured-data item can hold: the product fields with a schema,
                        // else the raw list named after the type.
                        std::vector<std::string> field_names = {"url", "fetched_at", "status"};
                        if (rule.schema.empty()) {
                            field_names.emplace_back(types[static_cast<std::size_t>(rule.type)]);
                        } else {
                            field_names.insert(field_names.end(),
                                               pipelines::product_field_names.begin(),
                                               pipelines::product_field_names.end());
                        }
                        if (std::find(field_names.begin(), field_names.end(), name) ==
                            field_names.end()) {
                            r.error(names[j].where,
                                    "'" + item_path + "' names no field of " +
                                        (rule.schema.empty() ? "the" : "a " + rule.schema) +
                                        " item (got " + quote_text(name) +
                                        "); fields are: " + join_names(field_names));
                        }
                    }
                    rule.required.push_back(name);
                }
            }
            r.check_supported("extract.type", types[static_cast<std::size_t>(rule.type)],
                              type_node->where, path + ".type");
            rules.push_back(std::move(rule));
        });
    }
    return rules;
}

std::vector<pipelines::output_spec> read_outputs(const reader& r, const node& n) {
    static constexpr auto types =
        std::to_array<std::string_view>({"jsonl", "csv", "sqlite", "webhook"});
    std::vector<pipelines::output_spec> outputs;
    const auto& items = r.list(n, "outputs");
    for (std::size_t i = 0; i < items.size(); ++i) {
        r.attempt([&] {
            const std::string path = "outputs." + std::to_string(i);
            const node* type_node = peek(r, items[i], path, "type");
            if (type_node == nullptr) {
                r.error(items[i].where,
                        "'" + path + ".type' is required: one of " + join_names(types));
            }
            pipelines::output_spec out;
            out.type =
                static_cast<pipelines::output_type>(r.choice(*type_node, path + ".type", types));
            using keys = std::vector<std::string_view>;
            const keys allowed = out.type == pipelines::output_type::jsonl ? keys{"type", "path"}
                                 : out.type == pipelines::output_type::csv
                                     ? keys{"type", "path", "columns"}
                                 : out.type == pipelines::output_type::sqlite
                                     ? keys{"type", "path", "table", "key"}
                                     : keys{"type", "url", "batch", "batch_wait", "in_flight"};
            section s(r, items[i], path, allowed);
            if (out.type == pipelines::output_type::webhook) {
                const auto* url = s.get("url");
                if (url == nullptr) {
                    r.missing(s, "url", "where to POST items, like http://127.0.0.1:9000/ingest");
                }
                out.url = r.http_url(*url, s.path_of("url"));
                if (const auto* v = s.get("batch")) {
                    out.batch = r.integer(*v, s.path_of("batch"), 1, 100000);
                }
                if (const auto* v = s.get("batch_wait")) {
                    out.batch_wait = r.duration(*v, s.path_of("batch_wait"), true);
                }
                if (const auto* v = s.get("in_flight")) {
                    out.in_flight = r.integer(*v, s.path_of("in_flight"), 1, 1024);
                }
            } else {
                const auto* file = s.get("path");
                if (file == nullptr) {
                    r.missing(s, "path", "the file to write, like out/items.jsonl");
                }
                out.path = r.text(*file, s.path_of("path"));
                if (out.path.empty()) {
                    r.expected(*file, s.path_of("path"), "a file path like out/items.jsonl");
                }
                out.path = r.resolve_path(out.path);
            }
            if (const auto* v = s.get("columns")) {
                const auto& columns = r.list(*v, s.path_of("columns"));
                for (std::size_t j = 0; j < columns.size(); ++j) {
                    out.columns.push_back(
                        r.text(columns[j], s.path_of("columns") + "." + std::to_string(j)));
                }
            }
            if (out.type == pipelines::output_type::sqlite) {
                const auto* table = s.get("table");
                if (table == nullptr) {
                    r.missing(s, "table", "the table to write, like products");
                }
                out.table = r.text(*table, s.path_of("table"));
                const bool identifier =
                    !out.table.empty() &&
                    std::isdigit(static_cast<unsigned char>(out.table[0])) == 0 &&
                    std::all_of(out.table.begin(), out.table.end(),
                                [](unsigned char c) { return std::isalnum(c) != 0 || c == '_'; });
                if (!identifier) {
                    r.expected(*table, s.path_of("table"), "an SQL name like products");
                }
                if (const auto* v = s.get("key")) {
                    out.key = r.text(*v, s.path_of("key"));
                }
            }
            r.check_supported("outputs.type", types[static_cast<std::size_t>(out.type)],
                              type_node->where, path + ".type");
            if (out.type != pipelines::output_type::webhook) {
                r.check_writable(
                    *s.key_origin("path"), s.path_of("path"), out.path, false,
                    "give a path in a folder harvest may write in (its folders are made "
                    "as needed; a relative path is from the config's folder)");
            }
            if (auto* check = r.checking()) {
                output_field_places places;
                places.output = outputs.size();
                if (!out.key.empty()) {
                    places.fields.emplace_back(out.key, s.get("key")->where);
                }
                if (const auto* v = s.get("columns")) {
                    for (std::size_t j = 0; j < out.columns.size(); ++j) {
                        places.fields.emplace_back(out.columns[j], v->items[j].where);
                    }
                }
                check->output_fields.push_back(std::move(places));
            }
            outputs.push_back(std::move(out));
        });
    }
    return outputs;
}

void read_metrics(const reader& r, const node& n, crawl::crawl_options& crawl) {
    section s(r, n, "metrics", {"listen", "host_label_limit", "linger"});
    r.attempt([&] {
        if (const auto* v = s.get("listen")) {
            const auto& listen = r.text(*v, s.path_of("listen"));
            const auto colon = listen.rfind(':');
            unsigned long port = 0;
            bool valid = colon != std::string::npos && colon > 0;
            if (valid) {
                const char* begin = listen.data() + colon + 1;
                const char* end = listen.data() + listen.size();
                const auto [ptr, ec] = std::from_chars(begin, end, port);
                valid = ec == std::errc() && ptr == end && port <= 65535;
            }
            if (!valid) {
                r.expected(*v, s.path_of("listen"), "host:port like 127.0.0.1:9464");
            }
            crawl.metrics_listen = listen;
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("host_label_limit")) {
            crawl.host_label_limit = r.count(*v, s.path_of("host_label_limit"), 1);
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("linger")) {
            // A bare 0 turns it off, as the docs write it; anything else needs its unit.
            const std::string what = "a duration like 30s or 2m, or 0 to exit at once";
            if (v->type != node::kind::scalar) {
                r.expected(*v, s.path_of("linger"), what);
            }
            std::chrono::milliseconds linger{};
            if (v->scalar != "0") {
                try {
                    linger = parse_duration(v->scalar);
                } catch (const std::invalid_argument&) {
                    r.expected(*v, s.path_of("linger"), what);
                }
            }
            crawl.metrics_linger = linger;  // parse_duration reads no sign: never negative
        }
    });
    r.check_supported("metrics", "", n.where, "metrics");
}

void read_state(const reader& r, const node& n, crawl::crawl_options& crawl,
                origin& state_dir_where) {
    section s(r, n, "state", {"dir", "journal"});
    r.attempt([&] {
        if (const auto* v = s.get("dir")) {
            crawl.state_dir = r.resolve_path(r.text(*v, s.path_of("dir")));
            state_dir_where = *s.key_origin("dir");
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("journal")) {
            crawl.journal = r.boolean(*v, s.path_of("journal"));
        }
    });
    r.check_supported("state", "", n.where, "state");
}

void read_frontier(const reader& r, const node& n, crawl::crawl_options& crawl) {
    static constexpr auto backends = std::to_array<std::string_view>({"memory", "redis"});
    section s(r, n, "frontier", {"backend", "url", "lease", "redis"});
    std::size_t backend = 0;
    if (const auto* v = s.get("backend")) {
        backend = r.choice(*v, s.path_of("backend"), backends);
    }
    if (const auto* v = s.get("url")) {
        const auto& url = r.text(*v, s.path_of("url"));
        crawl.frontier.url = url;
        constexpr std::string_view sentinel_scheme = "redis-sentinel://";
        constexpr std::string_view cluster_scheme = "redis-cluster://";
        const bool sentinel = url.starts_with(sentinel_scheme);
        const bool cluster = url.starts_with(cluster_scheme);
        if (!url.starts_with("redis://") && !sentinel && !cluster) {
            r.expected(*v, s.path_of("url"),
                       "a redis:// URL like redis://127.0.0.1:6379/0, "
                       "redis-sentinel://host:26379[,host:26379]/mastername or "
                       "redis-cluster://host:6379[,host:6379]");
        } else if (sentinel) {
            const auto hosts = std::string_view(url).substr(sentinel_scheme.size());
            const auto slash = hosts.find('/');
            if (slash == 0 || slash == std::string_view::npos || slash + 1 == hosts.size() ||
                hosts[slash + 1] == '/') {
                r.expected(*v, s.path_of("url"),
                           "Sentinel addresses and the primary's name, like "
                           "redis-sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster");
            }
        } else if (cluster) {
            const auto hosts = std::string_view(url).substr(cluster_scheme.size());
            const auto slash = hosts.find('/');
            const auto path =
                slash == std::string_view::npos ? std::string_view() : hosts.substr(slash + 1);
            if (slash == 0 || hosts.empty() || (!path.empty() && path != "0")) {
                r.expected(*v, s.path_of("url"),
                           "cluster node addresses, like "
                           "redis-cluster://127.0.0.1:7000,127.0.0.1:7001 (a Redis Cluster "
                           "has database 0 only)");
            }
        }
        if (backend != 1) {
            r.error(v->where, "'frontier.url' is used only with backend: redis");
        }
    } else if (backend == 1) {
        r.missing(s, "url", "backend redis needs a URL like redis://127.0.0.1:6379/0");
    }
    if (const auto* v = s.get("lease")) {
        crawl.frontier.lease = r.duration(*v, s.path_of("lease"), true);
    }
    if (const auto* v = s.get("redis")) {
        section redis(r, *v, s.path_of("redis"), {"give_up_after", "command_timeout"});
        if (const auto* g = redis.get("give_up_after")) {
            crawl.frontier.redis_give_up_after =
                r.duration(*g, redis.path_of("give_up_after"), true);
        }
        if (const auto* t = redis.get("command_timeout")) {
            crawl.frontier.redis_command_timeout =
                r.duration(*t, redis.path_of("command_timeout"), true);
        }
        if (backend != 1) {
            r.error(v->where, "'frontier.redis' is used only with backend: redis");
        }
    }
    if (backend == 1) {
        crawl.frontier.backend = crawl::frontier_options::kind::redis;
        r.check_supported("frontier.backend", "redis", s.get("backend")->where, "frontier.backend");
    }
}

// A webhook is delivered with the crawl's own policies for its host: the `hosts:` entry of
// "host:port" or "host" when there is one, else the crawl-wide http, retry, circuit_breaker and
// rate_limit.per_host. The breaker's give_up_after bounds each batch's whole delivery.
void set_webhook_delivery(crawl_config& config) {
    const auto& crawl = config.crawl;
    for (auto& out : config.outputs) {
        if (out.type != pipelines::output_type::webhook) {
            continue;
        }
        const crawl::host_overrides* host = nullptr;
        if (auto url = boost::urls::parse_absolute_uri(out.url)) {
            const std::string name(url->encoded_host());
            auto it = crawl.hosts.end();
            if (url->has_port()) {
                it = crawl.hosts.find(name + ":" + std::string(url->port()));
            }
            if (it == crawl.hosts.end()) {
                it = crawl.hosts.find(name);
            }
            if (it != crawl.hosts.end()) {
                host = &it->second;
            }
        }
        net::sender_options& delivery = out.delivery;
        delivery.http = std::make_shared<const crawl::http_options>(
            host != nullptr && host->http ? *host->http : crawl.http);
        delivery.retry = host != nullptr && host->retry ? *host->retry : crawl.retry;
        delivery.rate =
            host != nullptr && host->rate_limit ? *host->rate_limit : crawl.rate_limit.per_host;
        delivery.breaker = host != nullptr && host->circuit_breaker ? *host->circuit_breaker
                                                                    : crawl.circuit_breaker;
        delivery.deadline = delivery.breaker.give_up_after;
    }
}

// The sections a crawl config and a service profile share: how to fetch and what to extract.
// Each section is read on its own: in check mode an error in one leaves the others read.
// `proxies:` (a list of proxy URLs), `proxies_file:` (one a line, # comments), and the keys
// that tune them. A bad URL is reported where it is written, in the config or in the file.
void read_proxies(const reader& r, const section& top, crawl::crawl_options& crawl) {
    auto& proxy = crawl.proxy;
    r.attempt([&] {
        if (const auto* v = top.get("proxies")) {
            const auto& items = r.list(*v, "proxies");
            for (std::size_t i = 0; i < items.size(); ++i) {
                const std::string path = "proxies." + std::to_string(i);
                const auto& text = r.text(items[i], path);
                std::string why;
                auto url = core::parse_proxy_url(text, &why);
                if (!url) {
                    // The URL itself is not echoed: it may carry a password.
                    r.error(items[i].where, "'" + path + "' is not a valid proxy URL: " + why);
                }
                proxy.list.push_back(std::move(*url));
            }
        }
        proxy.listed = proxy.list.size();
    });
    r.attempt([&] {
        if (const auto* v = top.get("proxies_file")) {
            proxy.file = r.resolve_path(r.text(*v, "proxies_file"));
            std::ifstream in(proxy.file);
            if (!in) {
                r.error(v->where, "'proxies_file' cannot be read: " + proxy.file +
                                      " (give a file with one proxy URL a line)");
            }
            if (auto bad = core::read_proxy_lines(in, proxy.list)) {
                origin where;
                where.line = bad->line;
                where.column = bad->column;
                detail::fail(proxy.file, where, bad->why);
            }
        }
    });
    r.attempt([&] {
        if (const auto* v = top.get("proxy_rotation")) {
            static constexpr auto rotations = std::to_array<std::string_view>(
                {"round_robin", "random", "sticky_per_host", "sticky_per_session"});
            proxy.rotation =
                static_cast<crawl::proxy_rotation>(r.choice(*v, "proxy_rotation", rotations));
        }
    });
    r.attempt([&] {
        if (const auto* v = top.get("proxy_ban")) {
            section s(r, *v, "proxy_ban", {"status", "body", "bench_for"});
            if (const auto* status = s.get("status")) {
                proxy.ban_status.clear();
                const auto& items = r.list(*status, s.path_of("status"));
                for (std::size_t i = 0; i < items.size(); ++i) {
                    proxy.ban_status.push_back(static_cast<unsigned>(r.integer(
                        items[i], s.path_of("status") + "." + std::to_string(i), 100, 599)));
                }
            }
            if (const auto* body = s.get("body")) {
                proxy.ban_body = r.regex(*body, s.path_of("body"));
            }
            if (const auto* bench = s.get("bench_for")) {
                proxy.bench_for = r.duration(*bench, s.path_of("bench_for"), true);
            }
        }
    });
    r.attempt([&] {
        if (const auto* v = top.get("proxy_rate_limit")) {
            section s(r, *v, "proxy_rate_limit", {"per_second", "burst"});
            proxy.rate = read_bucket(r, s, proxy.rate);
        }
    });
}

void read_fetch_sections(const reader& r, const section& top, crawl_config& config) {
    auto& crawl = config.crawl;
    read_proxies(r, top, crawl);
    if (const auto* v = top.get("engine")) {
        r.attempt([&] { crawl.engine = read_engine(r, *v); });
    }
    if (const auto* v = top.get("http")) {
        r.attempt([&] { crawl.http = read_http(r, *v, "http", crawl.http, &crawl.http_cache); });
    }
    if (const auto* v = top.get("rate_limit")) {
        r.attempt([&] { crawl.rate_limit = read_rate_limit(r, *v); });
    }
    if (const auto* v = top.get("retry")) {
        r.attempt([&] { crawl.retry = read_retry(r, *v, "retry", crawl.retry); });
    }
    if (const auto* v = top.get("circuit_breaker")) {
        r.attempt([&] {
            crawl.circuit_breaker = read_breaker(r, *v, "circuit_breaker", crawl.circuit_breaker);
        });
    }
    // After the crawl-wide sections: a host's override starts from them.
    if (const auto* v = top.get("hosts")) {
        r.attempt([&] { read_hosts(r, *v, crawl); });
    }
    if (const auto* v = top.get("follow")) {
        r.attempt([&] { config.follow = read_follow(r, *v); });
        crawl.follow_headers.clear();
        for (const auto& rule : config.follow) {
            crawl.follow_headers.push_back(rule.headers);
        }
    }
    if (const auto* v = top.get("extract")) {
        auto* check = r.checking();
        const std::size_t before = check != nullptr ? check->problems.size() : 0;
        r.attempt([&] { config.extract = read_extract(r, *v); });
        if (check != nullptr) {
            check->extract_errors += check->problems.size() - before;
        }
    }
    if (const auto* v = top.get("render")) {
        r.attempt([&] { read_render_pool(r, *v, crawl.render); });
    }
    // The pages to render: extract rules' matches first (in order), then every page for a
    // follow rule that renders.
    for (const auto& rule : config.extract) {
        if (rule.render) {
            crawl.render_rules.push_back(crawl::render_rule{rule.match, *rule.render});
        }
    }
    for (const auto& rule : config.follow) {
        if (rule.render) {
            crawl.render_rules.push_back(crawl::render_rule{"", *rule.render});
            break;
        }
    }
    if (r.checking() != nullptr && !crawl.render_rules.empty() &&
        ::access(crawl.render.chromium.c_str(), X_OK) != 0) {
        const auto* where = top.key_origin("render");
        r.report(where != nullptr ? *where : top.self().where,
                 "rules render pages, but Chromium is not at " + crawl.render.chromium +
                     " (render.chromium); install it (apt install chromium) or set "
                     "render.chromium to the browser's path");
    }
}

// The fields every item of `rule` may have (docs/items.md), or nothing when they cannot be known.
std::set<std::string> fields_produced(const pipelines::extract_rule& rule) {
    std::set<std::string> fields = {"url", "fetched_at", "status"};
    const auto add_product_fields = [&] {
        fields.insert(pipelines::product_field_names.begin(), pipelines::product_field_names.end());
    };
    switch (rule.type) {
        case pipelines::extract_type::jsonld:
        case pipelines::extract_type::microdata:
            if (rule.schema.empty()) {
                // The raw values, in one field named after the type.
                fields.insert(rule.type == pipelines::extract_type::jsonld ? "jsonld"
                                                                           : "microdata");
            } else {
                add_product_fields();
            }
            break;
        case pipelines::extract_type::product:
            add_product_fields();
            [[fallthrough]];
        case pipelines::extract_type::json:
        case pipelines::extract_type::html:
            for (const auto& field : rule.fields) {
                fields.insert(field.name);
                if (field.as == pipelines::value_kind::price) {
                    fields.insert("currency");  // the price text's currency, when none is given
                }
            }
            break;
    }
    return fields;
}

// Check mode: an output field (a SQLite key, a CSV column) that no extract rule produces.
void warn_unproduced_fields(const reader& r, const crawl_config& config, const check_state& check) {
    if (check.extract_errors != 0 || config.extract.empty()) {
        return;  // a rule in error might produce it; with no rule there are no items at all
    }
    std::set<std::string> produced;
    for (const auto& rule : config.extract) {
        produced.merge(fields_produced(rule));
    }
    for (const auto& places : check.output_fields) {
        const auto& out = config.outputs[places.output];
        for (const auto& [field, where] : places.fields) {
            if (produced.count(field) != 0) {
                continue;
            }
            const bool key = out.type == pipelines::output_type::sqlite && field == out.key;
            const std::string hint = detail::closest(field, produced);
            r.warn(where, "no rule produces field '" + field + "'; " +
                              (key ? "rows will not be written to " + out.table +
                                         " (every item lacks its key)"
                                   : "rows will have an empty '" + field + "' column") +
                              (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
        }
    }
}

crawl_config build_config(const reader& r, const node& root, const std::string& source_name) {
    section top(r, root, "", {"name",           "seeds",     "engine",           "http",
                              "rate_limit",     "retry",     "circuit_breaker",  "hosts",
                              "follow",         "extract",   "outputs",          "metrics",
                              "state",          "frontier",  "proxies",          "proxies_file",
                              "proxy_rotation", "proxy_ban", "proxy_rate_limit", "render",
                              "sessions",       "login"});
    crawl_config config;
    config.source_path = source_name;
    auto& crawl = config.crawl;

    r.attempt([&] {
        const auto* name = top.get("name");
        if (name == nullptr) {
            r.error(root.where,
                    "'name' is required: a crawl name made of [a-z0-9_-], like catalog");
        }
        const auto& text = r.text(*name, "name");
        if (text.empty() || !std::all_of(text.begin(), text.end(), [](char c) {
                return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
            })) {
            r.error(name->where, "'name' must match [a-z0-9_-]+ (got " + describe(*name) + ")");
        }
        crawl.name = text;  // only a valid one: the default state folder is named after it
    });

    r.attempt([&] { config.seeds = read_seeds(r, top); });

    read_fetch_sections(r, top, config);
    if (const auto* v = top.get("outputs")) {
        r.attempt([&] {
            config.outputs = read_outputs(r, *v);
            set_webhook_delivery(config);
        });
    }
    if (const auto* v = top.get("metrics")) {
        r.attempt([&] { read_metrics(r, *v, crawl); });
    }
    // Where state.dir is set, or where the crawl's name is (the default is .harvest/NAME).
    origin state_dir_where =
        top.key_origin("name") != nullptr ? *top.key_origin("name") : root.where;
    if (const auto* v = top.get("state")) {
        r.attempt([&] { read_state(r, *v, crawl, state_dir_where); });
    }
    if (const auto* v = top.get("frontier")) {
        r.attempt([&] { read_frontier(r, *v, config.crawl); });
    }
    if (const auto* v = top.get("sessions")) {
        r.attempt([&] { crawl.sessions = read_sessions(r, *v); });
    }
    if (const auto* v = top.get("login")) {
        r.attempt([&] { crawl.login = read_login(r, *v); });
    }
    if (auto* check = r.checking()) {
        const std::size_t problems_before_state = check->problems.size();
        // harvest run writes the journal (and spills the frontier) there: a shared Redis
        // frontier keeps no journal.
        if (crawl.journal && crawl.frontier.backend == crawl::frontier_options::kind::memory) {
            if (!crawl.state_dir.empty()) {
                r.check_writable(state_dir_where, "state.dir", crawl.state_dir, true,
                                 "give a folder harvest may write in (it is made as needed)");
            } else if (!crawl.name.empty()) {
                const auto folder =
                    (std::filesystem::path(r.base_dir().empty() ? "." : r.base_dir()) / ".harvest" /
                     crawl.name)
                        .string();
                r.check_writable(state_dir_where, "state.dir", folder, true,
                                 "the default state folder is .harvest/" + crawl.name +
                                     " beside the config; set state.dir to a folder harvest may "
                                     "write in");
            }
        }
        // harvest run makes the cache folder before it starts (the same folder rule as
        // state.dir); the default one is in the state folder, so a state folder already
        // reported is not reported twice.
        if (crawl.http_cache.mode != crawl::http_cache_options::kind::off &&
            check->http_cache_where) {
            if (!crawl.http_cache.dir.empty()) {
                r.check_writable(*check->http_cache_where, "http.cache.dir", crawl.http_cache.dir,
                                 true, "give a folder harvest may write in (it is made as needed)");
            } else if (!crawl.name.empty() && check->problems.size() == problems_before_state) {
                // As harvest run resolves it: the state folder beside the config by default.
                crawl::crawl_options resolved;
                resolved.name = crawl.name;
                resolved.state_dir =
                    !crawl.state_dir.empty()
                        ? crawl.state_dir
                        : (std::filesystem::path(r.base_dir().empty() ? "." : r.base_dir()) /
                           ".harvest" / crawl.name)
                              .string();
                r.check_writable(*check->http_cache_where, "http.cache.dir",
                                 crawl::http_cache_dir(resolved), true,
                                 "the default cache folder is cache in the state folder; set "
                                 "http.cache.dir to a folder harvest may write in");
            }
        }
        warn_unproduced_fields(r, config, *check);
    }
    return config;
}

}  // namespace

// A service profile (config/service_config.hpp): the sections of a crawl config a job shares.
crawl_config detail::read_profile(const node& n, const std::string& source_name,
                                  const std::string& base_dir) {
    const reader r(source_name, base_dir);
    section top(
        r, n, "profile",
        {"engine", "http", "rate_limit", "retry", "circuit_breaker", "hosts", "follow", "extract",
         "proxies", "proxies_file", "proxy_rotation", "proxy_ban", "proxy_rate_limit"});
    crawl_config config;
    config.source_path = source_name;
    read_fetch_sections(r, top, config);
    return config;
}

crawl_config parse_config(std::string_view yaml_text, const std::string& source_name,
                          const std::string& base_dir,
                          const std::vector<std::string>& set_overrides) {
    node root = detail::parse_yaml(yaml_text, source_name);
    for (const auto& override_text : set_overrides) {
        detail::apply_override(root, override_text, source_name);
    }
    detail::substitute_environment(root, source_name);
    const reader r(source_name, base_dir);
    return build_config(r, root, source_name);
}

std::size_t config_report::errors() const {
    return static_cast<std::size_t>(std::count_if(
        problems.begin(), problems.end(),
        [](const config_problem& p) { return p.level == config_problem::severity::error; }));
}

std::size_t config_report::warnings() const {
    return problems.size() - errors();
}

config_report check_config_text(std::string_view yaml_text, const std::string& source_name,
                                const std::string& base_dir,
                                const std::vector<std::string>& set_overrides) {
    config_report report;
    check_state check;
    try {
        node root = detail::parse_yaml(yaml_text, source_name);
        for (const auto& override_text : set_overrides) {
            detail::apply_override(root, override_text, source_name);
        }
        detail::substitute_environment(root, source_name);
        const reader r(source_name, base_dir, &check);
        report.config = build_config(r, root, source_name);
    } catch (const config_error& e) {
        // What the rest depends on: the YAML itself, an override, the top-level map.
        check.problems.push_back({config_problem::severity::error, e});
    }
    report.problems = std::move(check.problems);
    // By place in the file; --set errors (line 0) first, as they are applied first.
    std::stable_sort(report.problems.begin(), report.problems.end(),
                     [](const config_problem& a, const config_problem& b) {
                         return std::pair(a.where.line(), a.where.column()) <
                                std::pair(b.where.line(), b.where.column());
                     });
    return report;
}

config_report check_config_file(const std::string& path,
                                const std::vector<std::string>& set_overrides) {
    detail::config_file file;
    try {
        file = detail::read_config_file(path);
    } catch (const config_error& e) {
        config_report report;
        report.problems.push_back({config_problem::severity::error, e});
        return report;
    }
    return check_config_text(file.text, path, file.base_dir, set_overrides);
}

detail::config_file detail::read_config_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw config_error(
            path, "cannot read the config file: " + std::generic_category().message(errno));
    }
    std::ostringstream text;
    text << in.rdbuf();
    std::error_code ec;
    auto absolute = std::filesystem::absolute(path, ec);
    const std::string base_dir =
        ec ? std::filesystem::path(path).parent_path().string() : absolute.parent_path().string();
    return {std::move(text).str(), base_dir};
}

crawl_config load_config(const std::string& path, const std::vector<std::string>& set_overrides) {
    const auto file = detail::read_config_file(path);
    return parse_config(file.text, path, file.base_dir, set_overrides);
}

}  // namespace harvest::config
