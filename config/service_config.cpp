// The bulk job service's config: listen, keys, jobs database, profiles, templates, webhook,
// egress and metrics (docs/bulk-api.md). Profiles are read by the crawl loader's own code.

#include "config/service_config.hpp"

#include "config/config_tree.hpp"
#include "config/loader.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>

namespace harvest::config {

namespace {

using detail::node;

class service_reader {
  public:
    service_reader(std::string source_name, std::string base_dir)
        : source_name_(std::move(source_name)), base_dir_(std::move(base_dir)) {}

    [[noreturn]] void error(const detail::origin& where, const std::string& message) const {
        detail::fail(source_name_, where, message);
    }

    // Checks `n` is a map with only `keys`, each once.
    void keys(const node& n, const std::string& path,
              std::initializer_list<std::string_view> keys) const {
        if (n.type != node::kind::map) {
            error(n.where, "'" + path + "' must be a map of settings (key: value)");
        }
        const std::string where = path.empty() ? "at the top level" : "in '" + path + "'";
        std::set<std::string> seen;
        for (const auto& entry : n.entries) {
            if (std::find(keys.begin(), keys.end(), entry.key) == keys.end()) {
                std::string message = "unknown key '" + entry.key + "' " + where;
                if (const auto hint = detail::closest(entry.key, keys); !hint.empty()) {
                    message += "; did you mean '" + hint + "'?";
                } else {
                    std::string valid;
                    for (auto k : keys) {
                        valid += (valid.empty() ? "" : ", ") + std::string(k);
                    }
                    message += "; valid keys: " + valid;
                }
                error(entry.key_where, message);
            }
            if (!seen.insert(entry.key).second) {
                error(entry.key_where, "duplicate key '" + entry.key + "' " + where);
            }
        }
    }

    const node* get(const node& map, std::string_view key) const {
        for (const auto& entry : map.entries) {
            if (entry.key == key) {
                return entry.value.type == node::kind::null ? nullptr : &entry.value;
            }
        }
        return nullptr;
    }

    const std::string& text(const node& n, const std::string& path) const {
        if (n.type != node::kind::scalar || n.scalar.empty()) {
            error(n.where, "'" + path + "' must be a non-empty single value");
        }
        return n.scalar;
    }

    std::uint64_t integer(const node& n, const std::string& path, std::uint64_t min,
                          std::uint64_t max) const {
        const auto& value = text(n, path);
        std::uint64_t result = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), result);
        if (ec != std::errc() || end != value.data() + value.size() || result < min ||
            result > max) {
            error(n.where, "'" + path + "' must be an integer from " + std::to_string(min) +
                               " to " + std::to_string(max) + " (got \"" + value + "\")");
        }
        return result;
    }

    double positive_number(const node& n, const std::string& path) const {
        const auto& value = text(n, path);
        double result = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), result);
        if (ec != std::errc() || end != value.data() + value.size() || !(result > 0)) {
            error(n.where, "'" + path + "' must be a number > 0 (got \"" + value + "\")");
        }
        return result;
    }

    bool boolean(const node& n, const std::string& path) const {
        const auto& value = text(n, path);
        if (value == "true") {
            return true;
        }
        if (value == "false") {
            return false;
        }
        error(n.where, "'" + path + "' must be true or false (got \"" + value + "\")");
    }

    std::chrono::milliseconds duration(const node& n, const std::string& path) const {
        try {
            return parse_duration(text(n, path));
        } catch (const std::invalid_argument&) {
            error(n.where, "'" + path + "' must be a duration like 500ms, 1s or 5m (got \"" +
                               n.scalar + "\")");
        }
    }

    std::string listen(const node& n, const std::string& path) const {
        const auto& value = text(n, path);
        const auto colon = value.rfind(':');
        unsigned port = 0;
        if (colon == std::string::npos ||
            std::from_chars(value.data() + colon + 1, value.data() + value.size(), port).ec !=
                std::errc() ||
            port > 65535) {
            error(n.where,
                  "'" + path + "' must be host:port like 127.0.0.1:8700 (got \"" + value + "\")");
        }
        return value;
    }

    std::string resolve_path(const std::string& path) const {
        if (base_dir_.empty() || std::filesystem::path(path).is_absolute()) {
            return path;
        }
        return (std::filesystem::path(base_dir_) / path).lexically_normal().string();
    }

    const std::string& source_name() const { return source_name_; }
    const std::string& base_dir() const { return base_dir_; }

  private:
    std::string source_name_;
    std::string base_dir_;
};

void read_webhook(const service_reader& r, const node& n, webhook_settings& webhook) {
    r.keys(n, "webhook", {"secret_file", "max_attempts", "backoff", "timeout"});
    if (const auto* v = r.get(n, "secret_file")) {
        webhook.secret_file = r.resolve_path(r.text(*v, "webhook.secret_file"));
        std::ifstream in(webhook.secret_file, std::ios::binary);
        if (!in) {
            r.error(v->where, "cannot read 'webhook.secret_file' " + webhook.secret_file + ": " +
                                  std::generic_category().message(errno));
        }
        std::ostringstream text;
        text << in.rdbuf();
        webhook.secret = text.str();
        while (!webhook.secret.empty() &&
               (webhook.secret.back() == '\n' || webhook.secret.back() == '\r')) {
            webhook.secret.pop_back();
        }
        if (webhook.secret.empty()) {
            r.error(v->where, "'webhook.secret_file' " + webhook.secret_file + " is empty");
        }
    }
    if (const auto* v = r.get(n, "max_attempts")) {
        webhook.max_attempts = static_cast<unsigned>(r.integer(*v, "webhook.max_attempts", 1, 100));
    }
    if (const auto* v = r.get(n, "timeout")) {
        webhook.timeout = r.duration(*v, "webhook.timeout");
    }
    if (const auto* v = r.get(n, "backoff")) {
        r.keys(*v, "webhook.backoff", {"base", "max"});
        if (const auto* b = r.get(*v, "base")) {
            webhook.backoff_base = r.duration(*b, "webhook.backoff.base");
        }
        if (const auto* m = r.get(*v, "max")) {
            webhook.backoff_max = r.duration(*m, "webhook.backoff.max");
        }
    }
}

void read_egress(const service_reader& r, const node& n, egress_settings& egress) {
    r.keys(n, "egress", {"deny_private", "allow"});
    if (const auto* v = r.get(n, "deny_private")) {
        egress.deny_private = r.boolean(*v, "egress.deny_private");
    }
    if (const auto* v = r.get(n, "allow")) {
        if (v->type != node::kind::sequence) {
            r.error(v->where, "'egress.allow' must be a list like [\"127.0.0.1:8080\"]");
        }
        for (std::size_t i = 0; i < v->items.size(); ++i) {
            egress.allow.push_back(r.text(v->items[i], "egress.allow." + std::to_string(i)));
        }
    }
}

void read_listener(const service_reader& r, const node& n, listener_settings& listener) {
    r.keys(n, "listener",
           {"header_timeout", "max_connections", "max_connections_per_ip", "reserved_connections"});
    if (const auto* v = r.get(n, "header_timeout")) {
        listener.header_timeout = r.duration(*v, "listener.header_timeout");
        if (listener.header_timeout.count() <= 0) {
            r.error(v->where, "'listener.header_timeout' must be more than 0");
        }
    }
    if (const auto* v = r.get(n, "max_connections")) {
        listener.max_connections = r.integer(*v, "listener.max_connections", 1, 100000);
    }
    if (const auto* v = r.get(n, "max_connections_per_ip")) {
        listener.max_connections_per_ip =
            r.integer(*v, "listener.max_connections_per_ip", 1, listener.max_connections);
    }
    if (const auto* v = r.get(n, "reserved_connections")) {
        listener.reserved_connections =
            r.integer(*v, "listener.reserved_connections", 0, listener.max_connections - 1);
    } else if (listener.reserved_connections >= listener.max_connections) {
        listener.reserved_connections = listener.max_connections / 16;
    }
}

service_config build(const service_reader& r, const node& root) {
    if (root.type != node::kind::map) {
        r.error(root.where,
                "a service config must be a map of settings like "
                "'listen: 127.0.0.1:8700'");
    }
    r.keys(root, "",
           {"listen", "api_keys_file", "jobs_db", "max_items_per_job", "max_body",
            "submit_rate_limit", "concurrency", "quotas", "max_item_bytes", "jobs_ttl", "profiles",
            "templates", "webhook", "egress", "listener", "metrics", "render"});
    service_config config;
    config.source_path = r.source_name();
    if (const auto* v = r.get(root, "listen")) {
        config.listen = r.listen(*v, "listen");
    }
    const auto* keys = r.get(root, "api_keys_file");
    if (keys == nullptr) {
        r.error(root.where, "'api_keys_file' is required: a file with one API key per line");
    }
    config.api_keys_file = r.resolve_path(r.text(*keys, "api_keys_file"));
    const auto* db = r.get(root, "jobs_db");
    if (db == nullptr) {
        r.error(root.where, "'jobs_db' is required: the SQLite file of jobs and results");
    }
    config.jobs_db = r.resolve_path(r.text(*db, "jobs_db"));
    if (const auto* v = r.get(root, "max_items_per_job")) {
        config.max_items_per_job = r.integer(*v, "max_items_per_job", 1, 1000000);
    }
    if (const auto* v = r.get(root, "max_body")) {
        try {
            config.max_body = parse_size(r.text(*v, "max_body"));
        } catch (const std::invalid_argument&) {
            r.error(v->where, "'max_body' must be a size like 8MiB (got \"" + v->scalar + "\")");
        }
    }
    if (const auto* v = r.get(root, "submit_rate_limit")) {
        r.keys(*v, "submit_rate_limit", {"per_second", "burst"});
        if (const auto* p = r.get(*v, "per_second")) {
            config.submit_per_second = r.positive_number(*p, "submit_rate_limit.per_second");
        }
        if (const auto* b = r.get(*v, "burst")) {
            config.submit_burst = r.positive_number(*b, "submit_rate_limit.burst");
        }
    }
    if (const auto* v = r.get(root, "concurrency")) {
        config.concurrency = r.integer(*v, "concurrency", 1, 10000);
    }
    if (const auto* v = r.get(root, "quotas")) {
        r.keys(*v, "quotas", {"queued_jobs_per_key", "queued_items_per_key", "in_flight_per_key"});
        if (const auto* q = r.get(*v, "queued_jobs_per_key")) {
            config.queued_jobs_per_key = r.integer(*q, "quotas.queued_jobs_per_key", 1, 1000000);
        }
        if (const auto* q = r.get(*v, "queued_items_per_key")) {
            config.queued_items_per_key =
                r.integer(*q, "quotas.queued_items_per_key", 1, 100000000);
        }
        if (const auto* q = r.get(*v, "in_flight_per_key")) {
            config.in_flight_per_key = r.integer(*q, "quotas.in_flight_per_key", 1, 10000);
        }
    }
    if (const auto* v = r.get(root, "max_item_bytes")) {
        try {
            config.max_item_bytes = parse_size(r.text(*v, "max_item_bytes"));
        } catch (const std::invalid_argument&) {
            r.error(v->where,
                    "'max_item_bytes' must be a size like 1MiB (got \"" + v->scalar + "\")");
        }
        if (config.max_item_bytes == 0) {
            r.error(v->where, "'max_item_bytes' must be more than 0");
        }
    }
    if (const auto* v = r.get(root, "jobs_ttl")) {
        config.jobs_ttl = r.duration(*v, "jobs_ttl");
    }
    const auto* profiles = r.get(root, "profiles");
    if (profiles == nullptr || profiles->type != node::kind::map || profiles->entries.empty()) {
        r.error(profiles != nullptr ? profiles->where : root.where,
                "'profiles' is required: a map of named crawl settings, like "
                "'product_json: {extract: [...]}'");
    }
    for (const auto& entry : profiles->entries) {
        if (config.profiles.count(entry.key) != 0) {
            r.error(entry.key_where, "duplicate profile '" + entry.key + "'");
        }
        auto crawl = detail::read_profile(entry.value, r.source_name(), r.base_dir());
        service_profile profile;
        profile.crawl = std::move(crawl.crawl);
        profile.crawl.name = entry.key;
        profile.extract = std::move(crawl.extract);
        config.profiles.emplace(entry.key, std::move(profile));
    }
    if (const auto* v = r.get(root, "templates")) {
        if (v->type != node::kind::map) {
            r.error(v->where, "'templates' must be a map of name: URL with {id}");
        }
        for (const auto& entry : v->entries) {
            const auto& url = r.text(entry.value, "templates." + entry.key);
            if (url.find("{id}") == std::string::npos ||
                (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)) {
                r.error(entry.value.where, "'templates." + entry.key +
                                               "' must be an http(s) URL containing {id} (got \"" +
                                               url + "\")");
            }
            config.templates[entry.key] = url;
        }
    }
    if (const auto* v = r.get(root, "webhook")) {
        read_webhook(r, *v, config.webhook);
    }
    if (const auto* v = r.get(root, "egress")) {
        read_egress(r, *v, config.egress);
    }
    if (const auto* v = r.get(root, "listener")) {
        read_listener(r, *v, config.listener);
    }
    if (const auto* v = r.get(root, "render")) {
        config.render = detail::read_render_pool(*v, r.source_name(), r.base_dir());
    }
    if (const auto* v = r.get(root, "metrics")) {
        r.keys(*v, "metrics", {"listen"});
        if (const auto* l = r.get(*v, "listen")) {
            config.metrics_listen = r.listen(*l, "metrics.listen");
        }
    }
    return config;
}

}  // namespace

service_config parse_service_config(std::string_view yaml_text, const std::string& source_name,
                                    const std::string& base_dir) {
    node root = detail::parse_yaml(yaml_text, source_name);
    detail::substitute_environment(root, source_name);
    const service_reader r(source_name, base_dir);
    return build(r, root);
}

service_config load_service_config(const std::string& path) {
    const auto file = detail::read_config_file(path);
    return parse_service_config(file.text, path, file.base_dir);
}

}  // namespace harvest::config
