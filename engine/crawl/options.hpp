#pragma once
// Typed settings of a crawl: the `engine` and `hosts` sections of a crawl config and everything
// else the engine is told (docs/config.md), with the spec's defaults. The settings of the
// modules below (net, resilience, render, redis) are in their own options.hpp, composed here.
// Plain values: no I/O, no Asio. The config module fills them; the engine only reads them.

#include "engine/core/failure_kind.hpp"
#include "engine/core/proxy_url.hpp"
#include "engine/net/options.hpp"
#include "engine/redis/options.hpp"
#include "engine/render/options.hpp"
#include "engine/resilience/options.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace harvest::crawl {

using std::chrono::milliseconds;

// The settings of the modules below the crawl, by the names the crawl has always used.
using harvest::render::render_options;
using harvest::render::render_pool_options;
using net::http_options;
using net::http_version;
using net::timeout_options;
using net::tls_options;
using redis::frontier_options;
using resilience::backoff_options;
using resilience::backoff_strategy;
using resilience::breaker_options;
using resilience::bucket_options;
using resilience::proxy_rotation;
using resilience::rate_limit_options;
using resilience::retry_options;

struct engine_options {
    std::size_t concurrency = 512;          // requests in flight, all hosts together
    std::size_t per_host_concurrency = 32;  // requests in flight to one origin
    unsigned threads = 0;                   // 0 = one per core
    // Of those, how many run the network side: the scheduler, connections and outputs on the
    // first, each host's fetches on one of them (network shards). The rest extract the pages
    // that cost more to extract than to hand over.
    unsigned network_threads = 1;
    std::string user_agent;       // empty = "harvest/VERSION"
    bool obey_robots_txt = true;  // robots_txt: obey | ignore
    unsigned max_depth = 0;       // 0 = unlimited
    bool dedup = true;
    std::uint64_t max_requests = 0;  // 0 = no limit
    std::uint64_t frontier_memory = 256ull << 20;
    // Not a config key: set by a runner that calls io_context::run() from one thread only.
    // The crawler then needs no strands (each costs a lock per handler and one allocation per
    // fetch); its handlers are serialized by that thread.
    bool single_thread_io = false;
    // Not a config key: with single_thread_io, how many network shards the crawler runs
    // (network_shards.hpp): the runner's io_context and network_shards - 1 of the crawler's own,
    // a thread each. A runner sets it to network_threads.
    unsigned network_shards = 1;
};

// What one origin may override (config `hosts:` entries). Unset = the crawl-wide value.
struct host_overrides {
    std::optional<std::size_t> per_host_concurrency;
    std::optional<http_options> http;
    std::optional<bucket_options> rate_limit;
    std::optional<retry_options> retry;
    std::optional<breaker_options> circuit_breaker;
};

// `http.cache`: responses kept on disk between runs, keyed by the request's fingerprint
// (engine/crawl/http_cache.hpp).
struct http_cache_options {
    enum class kind {
        off,
        // Validators (ETag, Last-Modified) sent again; a 304 is served from the stored body.
        conditional,
        // Every stored response is served without a request (offline development reruns).
        replay,
    };
    kind mode = kind::off;
    std::string dir;                      // empty = <state dir>/cache
    std::uint64_t max_size = 1ull << 30;  // bytes of entry files; the oldest go first past it
    // http.cache.unchanged: a 304's page emits its items again marked "unchanged": true (emit),
    // or emits none (skip); its links are followed either way.
    bool emit_unchanged = true;
};

// Which pages are rendered: an extract rule's `match` (empty = every page) and its options.
struct render_rule {
    std::string match;  // ECMAScript regex searched in the URL
    render_options options;
};

// `sessions:`: independent identities (a cookie jar each, a User-Agent from the list). Seeds are
// spread over them, followed links keep their parent's; a session whose request is answered
// with a status of retire_on is replaced by a fresh one (an empty jar, logged in again).
struct session_options {
    std::uint32_t count = 1;
    std::vector<std::string> user_agents;  // session i sends user_agents[i % size]; empty = none
    std::vector<unsigned> retire_on{403, 429};
};

// One request of `login:`, run for each session before the seeds.
struct login_step {
    std::string method = "POST";
    std::string url;
    // Sent as application/x-www-form-urlencoded (values already expanded from ${VAR}).
    std::vector<std::pair<std::string, std::string>> form;
    std::vector<std::pair<std::string, std::string>> headers;
    // Non-empty: the step fails unless the session's jar then holds a cookie of this name.
    std::string expect_cookie;
};

// `proxies:`, `proxies_file:`, `proxy_rotation:`, `proxy_ban:`, `proxy_rate_limit:`
// (docs/config.md). No proxies = every request goes direct.
struct proxy_options {
    std::vector<core::proxy_url> list;  // proxies: first, then the lines of proxies_file
    std::size_t listed = 0;             // how many of list come from proxies: (kept on reload)
    std::string file;                   // proxies_file, as written (resolved against the config)
    proxy_rotation rotation = proxy_rotation::round_robin;
    // A target's answer that says it refused the proxy: the proxy is benched for that host.
    std::vector<unsigned> ban_status{403, 429};
    std::string ban_body;  // ECMAScript regex searched in the body's first 64 KiB; empty = none
    milliseconds bench_for{300000};
    bucket_options rate{0, 0};  // each proxy's own token bucket; 0 = unlimited
};

struct crawl_options {
    std::string name;
    engine_options engine;
    http_options http;
    http_cache_options http_cache;  // crawl-wide; not a `hosts:` override
    rate_limit_options rate_limit;
    retry_options retry;
    breaker_options circuit_breaker;
    std::map<std::string, host_overrides> hosts;  // key: "host" or "host:port"
    std::string state_dir;                        // empty = .harvest/<name>
    bool journal = true;  // state.journal: false = no journal written, no --resume (benchmarks)
    std::string metrics_listen;  // empty = disabled
    unsigned host_label_limit = 100;
    // metrics.linger: how long `harvest run` keeps /metrics up after the crawl, with its final
    // values, so that the next scrape sees them; 0 = not at all. Twice Prometheus' usual 15 s.
    milliseconds metrics_linger{30000};
    frontier_options frontier;
    proxy_options proxy;
    // Pages rendered in headless Chromium, first matching rule wins; empty = none.
    std::vector<render_rule> render_rules;
    render_pool_options render;
    session_options sessions;
    std::vector<login_step> login;
    // Per `follow` rule (the sink's link_rules - 1): the headers its links' requests carry.
    std::vector<std::vector<std::pair<std::string, std::string>>> follow_headers;
};

// The `hosts:` entry of an origin: "host:port" first, then "host"; null when neither is there.
// The folder of the crawl's cache store: http.cache.dir, or `cache` in the crawl's state folder
// (state.dir; .harvest/<name> when that is empty). The one place it is resolved: the session
// makes it before the run starts, the crawler opens its store there, and `harvest check` asks
// whether it can be written.
inline std::string http_cache_dir(const crawl_options& options) {
    if (!options.http_cache.dir.empty()) {
        return options.http_cache.dir;
    }
    std::string folder = options.state_dir.empty() ? ".harvest/" + options.name : options.state_dir;
    if (folder.back() != '/') {
        folder += '/';  // as std::filesystem::path's operator/ joins
    }
    return folder + "cache";
}

inline const host_overrides* find_host_overrides(const crawl_options& options,
                                                 std::string_view host_port,
                                                 std::string_view host) {
    if (const auto it = options.hosts.find(std::string(host_port)); it != options.hosts.end()) {
        return &it->second;
    }
    if (const auto it = options.hosts.find(std::string(host)); it != options.hosts.end()) {
        return &it->second;
    }
    return nullptr;
}

}  // namespace harvest::crawl
