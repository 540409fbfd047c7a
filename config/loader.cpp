// YAML crawl config -> typed crawl_config, with validation that names file:line:col, what is
// wrong and what would be right (docs/config.md is the contract for every key here).

#include "config/loader.hpp"

#include "config/config_tree.hpp"
#include "config/file_checks.hpp"
#include "config/loader/reader.hpp"
#include "config/service_config.hpp"
#include "pipelines/extract/product_fields.hpp"

#include <unistd.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace harvest::config {

namespace {

using namespace reading;
using detail::node;
using detail::origin;

// The sections a crawl config and a service profile share: how to fetch and what to extract.
// Each section is read on its own: in check mode an error in one leaves the others read.
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

crawl::render_pool_options detail::read_render_pool(const node& n, const std::string& source_name,
                                                    const std::string& base_dir) {
    const reader r(source_name, base_dir);
    crawl::render_pool_options pool;
    reading::read_render_pool(r, n, pool);
    return pool;
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
