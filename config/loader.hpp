#pragma once
// Loading a crawl config: YAML text -> `--set` overrides -> ${ENV} substitution -> validation ->
// the typed crawl_config (docs/config.md). Every problem is thrown as config_error whose
// message starts `file:line:col:` (1-based) and says what is wrong and what would be right.

#include "config/crawl_config.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace harvest::config {

// Reads the file at `path`, applies `set_overrides` (each "dotted.path=value", e.g.
// "engine.concurrency=64", "outputs.0.path=/tmp/x.jsonl", "retry.on_status=[503, 429]"),
// substitutes ${NAME} and ${NAME:-default} from the environment in every string value,
// validates, and returns the typed config. Relative paths resolve against the file's folder.
//
// Override paths: map keys by name, list entries by index (index == size appends an entry);
// a host key under `hosts` may contain dots (`hosts.api.example.com.rate_limit.per_second=5`).
// A value starting with `[` or `{` is read as YAML flow; empty, `~` or `null` unsets the key;
// anything else is taken verbatim as one string. An error in an override is reported as
// `--set path=value: message`.
//
// Choices the spec leaves open: a `hosts:` entry sets its concurrency with the key
// `per_host_concurrency`; its http, rate_limit (per_second, burst), retry and circuit_breaker
// start from the crawl-wide sections and change only what the entry gives; host keys are
// lower-cased. Spec features the engine does not implement yet are parsed, then rejected as
// "not supported yet" (one table at the top of loader.cpp).
crawl_config load_config(const std::string& path,
                         const std::vector<std::string>& set_overrides = {});

// As load_config, from text. `source_name` names the text in errors; `base_dir` is the folder
// relative paths resolve against (empty: they stay relative).
crawl_config parse_config(std::string_view yaml_text, const std::string& source_name,
                          const std::string& base_dir,
                          const std::vector<std::string>& set_overrides = {});

// One finding of check_config_file: an error (harvest run would refuse the config or fail to
// start) or a warning (it would run, but not as meant). `where` is the config_error the loader
// would throw for it: `file:line:col: message`, or `--set ...: message`.
struct config_problem {
    enum class severity { error, warning };
    severity level;
    config_error where;
};

struct config_report {
    std::vector<config_problem> problems;  // by place in the file (--set and file-wide first)
    crawl_config config;                   // meaningful only without errors
    std::size_t errors() const;
    std::size_t warnings() const;
};

// What `harvest check` finds: every error of the file, not only the first (load_config throws
// that one), and what `harvest run` would find when it starts, asked of the file system without
// creating or changing anything: seed files (urls_file, values_file) and http.tls.ca_file files
// that cannot be read, and output paths and the state folder (state.dir, by default
// .harvest/NAME beside the config, when the journal is on) and the http cache folder
// (http.cache.dir, by default `cache` in the state folder, when http.cache is on) that cannot
// be written or made.
// Warnings: a CSV column or a SQLite `key` that no extract rule produces. Errors of independent
// keys are all reported; what depends on a key in error is not read (a section that is not a
// map, an override that does not apply, a YAML syntax error stop there).
config_report check_config_file(const std::string& path,
                                const std::vector<std::string>& set_overrides = {});

// As check_config_file, from text (see parse_config).
config_report check_config_text(std::string_view yaml_text, const std::string& source_name,
                                const std::string& base_dir,
                                const std::vector<std::string>& set_overrides = {});

// "250ms", "5s", "2m", "1h", also with a fraction ("1.5s"); a unit is required. Throws
// std::invalid_argument.
std::chrono::milliseconds parse_duration(std::string_view text);

// "512KiB", "8MiB", "1GiB", "1TiB" (powers of 1024), "KB"/"MB"/"GB"/"TB" (powers of 1000), "B"
// or a plain number of bytes ("1024"). Throws std::invalid_argument.
std::uint64_t parse_size(std::string_view text);

}  // namespace harvest::config
