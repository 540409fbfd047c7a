#pragma once
// The bulk job service's config (`harvest serve --config FILE`, docs/bulk-api.md and
// docs/bulk-api.md): YAML with the crawl config's conventions. Every problem is thrown as
// config_error with `file:line:col:` like the crawl loader's.

#include "config/crawl_config.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace harvest::config {

// A named set of crawl settings a job runs with: a crawl config minus name, seeds and outputs.
struct service_profile {
    crawl::crawl_options crawl;
    std::vector<pipelines::extract_rule> extract;
};

struct webhook_settings {
    std::string secret_file;  // resolved against the config's folder
    std::string secret;       // the file's content, trailing newline removed
    unsigned max_attempts = 8;
    std::chrono::milliseconds backoff_base{1000};
    std::chrono::milliseconds backoff_max{300000};
    std::chrono::milliseconds timeout{10000};  // one delivery attempt, all of it
};

struct egress_settings {
    bool deny_private = true;
    // "host:port", "[v6]:port" or a bare address: destinations allowed even when private.
    std::vector<std::string> allow;
};

// The API listener's defences against slow and greedy clients (`listener:`, docs/bulk-api.md
// "Listener limits").
struct listener_settings {
    // The request line and headers must arrive within this, from the connection's start or the
    // end of the previous answer on a keep-alive connection.
    std::chrono::milliseconds header_timeout{10000};
    std::size_t max_connections = 1024;
    std::size_t max_connections_per_ip = 64;
    // Once max_connections - reserved_connections are open, each new connection closes the one
    // that has waited longest for its request headers, so slow clients cannot take the rest.
    std::size_t reserved_connections = 64;
};

struct service_config {
    std::string source_path;
    std::string listen = "127.0.0.1:8700";
    std::string api_keys_file;  // resolved
    std::string jobs_db;        // resolved
    std::size_t max_items_per_job = 5000;
    // Extensions (docs/bulk-api.md): request body cap, per-key submissions and total fetches in
    // flight across all jobs.
    std::uint64_t max_body = 8ull << 20;
    double submit_per_second = 2;
    double submit_burst = 10;
    std::size_t concurrency = 64;
    // Tenants (docs/bulk-api.md, "Tenants"): what one API key may have queued and in flight,
    // the largest item data stored, and how long ended jobs are kept.
    std::size_t queued_jobs_per_key = 10;       // quotas.queued_jobs_per_key
    std::size_t queued_items_per_key = 50000;   // quotas.queued_items_per_key
    std::size_t in_flight_per_key = 0;          // quotas.in_flight_per_key; 0 = 3/4 of concurrency
    std::uint64_t max_item_bytes = 1ull << 20;  // an item's stored data; over it: item_too_large
    std::chrono::milliseconds jobs_ttl{std::chrono::hours(24 * 7)};  // 0 = kept until DELETE
    std::map<std::string, service_profile> profiles;
    std::map<std::string, std::string> templates;  // name -> URL with {id}
    webhook_settings webhook;
    egress_settings egress;
    listener_settings listener;
    std::string metrics_listen;  // empty = no separate /metrics listener
    // `render:`: the browser pool of the jobs that render (the crawl config's `render:` keys).
    crawl::render_pool_options render;
};

service_config load_service_config(const std::string& path);
service_config parse_service_config(std::string_view yaml_text, const std::string& source_name,
                                    const std::string& base_dir);

namespace detail {
struct node;
// Reads a crawl config's shareable sections (engine, http, rate_limit, retry, circuit_breaker,
// hosts, follow, extract) from `n`, with the crawl loader's checks and messages. loader.cpp.
crawl_config read_profile(const node& n, const std::string& source_name,
                          const std::string& base_dir);
// Reads a `render:` browser pool (the crawl config's top-level keys) from `n`. loader.cpp.
crawl::render_pool_options read_render_pool(const node& n, const std::string& source_name,
                                            const std::string& base_dir);
// A config file's text and the folder its relative paths resolve against; throws config_error
// when it cannot be read. loader.cpp.
struct config_file {
    std::string text;
    std::string base_dir;
};
config_file read_config_file(const std::string& path);
}  // namespace detail

}  // namespace harvest::config
