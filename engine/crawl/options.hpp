#pragma once
// Typed settings of the engine: the `engine`, `http`, `rate_limit`, `retry`, `circuit_breaker`
// and `hosts` sections of a crawl config (docs/config.md), with the spec's defaults.
// Plain values: no I/O, no Asio. The config module fills them; the engine only reads them.

#include "engine/core/failure_kind.hpp"
#include "engine/core/proxy_url.hpp"

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

struct engine_options {
    std::size_t concurrency = 512;          // requests in flight, all hosts together
    std::size_t per_host_concurrency = 32;  // requests in flight to one origin
    unsigned threads = 0;                   // 0 = one per core
    std::string user_agent;                 // empty = "harvest/VERSION"
    bool obey_robots_txt = true;            // robots_txt: obey | ignore
    unsigned max_depth = 0;                 // 0 = unlimited
    bool dedup = true;
    std::uint64_t max_requests = 0;  // 0 = no limit
    std::uint64_t frontier_memory = 256ull << 20;
    // Not a config key: set by a runner that calls io_context::run() from one thread only.
    // The crawler then needs no strands (each costs a lock per handler and one allocation per
    // fetch); its handlers are serialized by that thread.
    bool single_thread_io = false;
};

struct timeout_options {
    milliseconds connect{5000};
    milliseconds tls{5000};
    milliseconds response_headers{15000};
    milliseconds idle_read{15000};
    milliseconds total{60000};
};

struct tls_options {
    bool verify = true;
    std::string ca_file;  // empty = system store only
};

// http.version: which HTTP version requests speak.
enum class http_version {
    automatic,  // "auto": TLS ALPN decides (h2 offered first) on https; HTTP/1.1 on http
    http1_1,    // "1.1": HTTP/1.1 only, no ALPN offered
    http2,      // "2": h2 on https (ALPN must pick it), h2c with prior knowledge on http
};

struct http_options {
    timeout_options timeouts;
    http_version version = http_version::automatic;
    std::uint64_t max_body = 8ull << 20;  // after decoding, and on the wire
    unsigned max_redirects = 5;
    bool gzip = true;  // decompress: [gzip, deflate, br]
    bool deflate = true;
    bool br = true;
    std::vector<std::pair<std::string, std::string>> headers{{"Accept-Language", "en-US"}};
    tls_options tls;
    // http.cookies: a cookie jar per session (RFC 6265): Set-Cookie of every response (redirect
    // hops included) stored, cookies sent back. Per host too (a `hosts:` entry may turn it off).
    bool cookies = true;
    // http.referer: a followed link's request says which page it was found on (crawl-wide).
    bool referer = true;
    // Not a config key. true: an answer whose body exceeds max_body keeps its status and headers,
    // with an empty body (the rest is not read; the connection is closed), instead of failing
    // with body_too_large. For answers nobody reads, such as a webhook receiver's.
    bool discard_oversized_body = false;
};

struct bucket_options {
    double per_second = 0;  // 0 = unlimited
    double burst = 0;
};

struct rate_limit_options {
    bucket_options per_host{20, 20};
    bool adaptive = false;
    bucket_options global{0, 0};
};

enum class backoff_strategy { full_jitter, equal_jitter, decorrelated_jitter, none };

struct backoff_options {
    backoff_strategy strategy = backoff_strategy::full_jitter;
    milliseconds base{500};
    milliseconds max{30000};
};

struct retry_options {
    unsigned max_attempts = 4;  // tries in all, the first included
    std::vector<unsigned> on_status{429, 500, 502, 503, 504};
    // transport error kinds that are retried (config: core::retry_on_errors_kinds)
    std::vector<core::failure_kind> on_errors{
        core::failure_kind::connect,       core::failure_kind::timeout,
        core::failure_kind::reset,         core::failure_kind::dns,
        core::failure_kind::tls_handshake, core::failure_kind::proxy_connect,
        core::failure_kind::proxy_tunnel};
    backoff_options backoff;
    bool honor_retry_after = true;
    milliseconds retry_after_max{120000};
    std::vector<std::string> methods{"GET", "HEAD", "PUT", "DELETE", "OPTIONS"};
    std::string idempotency_header = "Idempotency-Key";
    std::vector<std::string> idempotency_methods{"POST", "PATCH"};
    double budget_ratio = 0.2;
    double budget_min_per_second = 5;

    // Added by resilience for the semantics of other libraries (urllib3, Scrapy), so that their
    // published test vectors can be replayed. The defaults keep the spec's behaviour.

    // Statuses retried only when the response carries a valid Retry-After and
    // honor_retry_after is on (urllib3 RETRY_AFTER_STATUS_CODES {413, 429, 503}).
    std::vector<unsigned> on_status_with_retry_after{};
    // true: every method is retried, `methods` and the idempotency key are not consulted
    // (urllib3 allowed_methods=None, Scrapy).
    bool any_method = false;
    // Error kinds retried whatever the method, because the request never left (urllib3 retries
    // connection errors for POST too).
    std::vector<core::failure_kind> on_errors_any_method{};
    // true: a Retry-After longer than retry_after_max is cut to it instead of failing with
    // `retry_after_too_long` (urllib3 DEFAULT_RETRY_AFTER_MAX clamp).
    bool retry_after_clamp = false;
    // true: the first retry is sent at once; backoff applies from the second retry on
    // (urllib3: no backoff after a single failure).
    bool immediate_first_retry = false;
    // Extra uniform [0, backoff_jitter] added to the strategy's delay, the sum capped at
    // backoff.max (urllib3 backoff_jitter).
    milliseconds backoff_jitter{0};
};

struct breaker_options {
    unsigned window = 20;
    unsigned min_calls = 10;
    double failure_rate = 0.5;
    // An opening lasts min_open_for the first time; each failed half-open probe doubles it, up
    // to open_for (Envoy's outlier ejection grows the same way). Closing resets it.
    milliseconds min_open_for{1000};
    milliseconds open_for{30000};
    unsigned half_open_probes = 2;
    milliseconds give_up_after{600000};
};

// What one origin may override (config `hosts:` entries). Unset = the crawl-wide value.
struct host_overrides {
    std::optional<std::size_t> per_host_concurrency;
    std::optional<http_options> http;
    std::optional<bucket_options> rate_limit;
    std::optional<retry_options> retry;
    std::optional<breaker_options> circuit_breaker;
};

// `frontier:`: where queued requests live. memory = this process only; redis = shared by every
// worker started with the same config (the crawl's `name` namespaces the keys).
struct frontier_options {
    enum class kind { memory, redis };
    kind backend = kind::memory;
    std::string url;            // redis://host:port/db or redis-sentinel://hosts/name
    milliseconds lease{60000};  // a taken request not completed within this is handed out again
    std::string worker;         // this worker's name (metrics label); empty = hostname-pid
    // frontier.redis.give_up_after: how long a worker keeps reconnecting to a Redis it lost
    // mid-crawl (holding its completions and links) before it stops with an error.
    milliseconds redis_give_up_after{300000};
    // frontier.redis.command_timeout: a Redis command (or connection attempt) unanswered this
    // long counts as Redis lost (a frozen server keeps its connections open).
    milliseconds redis_command_timeout{10000};
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

// A rule's `render:` (docs/config.md, "Rendering"): how a page is rendered in headless Chromium
// before its items and links are read.
struct render_options {
    enum class wait { load, network_idle, selector };
    wait wait_for = wait::load;
    std::string selector;         // wait::selector: a CSS selector that must match an element
    milliseconds timeout{15000};  // navigation to serialized DOM; past it: render_timeout
    // Resource types that never leave the browser (Fetch.failRequest): image, font, media,
    // stylesheet, as CDP's Network.ResourceType names them.
    std::vector<std::string> block{"image", "font", "media"};
    bool scroll = false;  // scroll to the bottom until the page stops growing (lazy lists)
};

// Which pages are rendered: an extract rule's `match` (empty = every page) and its options.
struct render_rule {
    std::string match;  // ECMAScript regex searched in the URL
    render_options options;
};

// `render:` at the top level: the browser pool (engine/render/browser_pool.hpp).
struct render_pool_options {
    std::string chromium = "/usr/bin/chromium";
    unsigned browsers = 1;
    unsigned tabs_per_browser = 4;
    unsigned pages_per_tab = 100;           // a tab is closed and opened anew after this many
    std::uint64_t max_rss = 2048ull << 20;  // a browser's processes together; restarted past it
    milliseconds start_timeout{20000};      // a browser that does not answer by then is killed
    // A browser command (not a page's script) unanswered this long: the browser is hung.
    milliseconds command_timeout{10000};
    unsigned max_attempts = 3;  // a page whose browser crashed is tried this often in all
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

// Everything the engine needs to run a crawl, apart from seeds and pipelines.
// proxy_rotation: which proxy an attempt goes through (resilience/proxy_pool.hpp).
enum class proxy_rotation { round_robin, random, sticky_per_host, sticky_per_session };

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
