#pragma once
// What the pieces of a crawl share (crawler.cpp wires them): its options, the HTTP client, the
// scheduler strand and its wake-up timer, the frontier, the stats, the cache, the proxies, the
// renderer and the sessions' identities. The scheduler (scheduler.hpp), the fetch attempt
// (fetch_attempt.hpp) and the sessions (sessions.hpp) each hold it by shared_ptr: whatever runs
// (a fetch, a login, a sink call) keeps it, and so the frontier's host states, alive.
//
// Threading: `queue`, every host_state in it and `timer` are the scheduler strand's (`strand`);
// `stats` and `stopping` are atomics; `identities` is thread-safe (identities.hpp); the rest is
// set before run() and only read after.

#include "engine/crawl/frontier.hpp"
#include "engine/crawl/identities.hpp"
#include "engine/crawl/journal.hpp"
#include "engine/crawl/options.hpp"
#include "engine/crawl/sink.hpp"
#include "engine/crawl/stats.hpp"
#include "engine/net/http_client.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <exception>
#include <memory>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace harvest::metrics {
struct crawl_metrics;
class counter;
}  // namespace harvest::metrics

namespace harvest::crawl {

class shared_backend;
class page_renderer;
class http_cache;
class proxy_set;

struct crawl_context {
    // `crawl_metrics` may be null (no metrics); it and `log` (may be null) outlive the crawl.
    crawl_context(boost::asio::io_context& io_context, crawl_options crawl,
                  std::shared_ptr<sink> out, metrics::crawl_metrics* crawl_metrics, journal* log);
    ~crawl_context();
    crawl_context(const crawl_context&) = delete;
    crawl_context& operator=(const crawl_context&) = delete;

    // An executor whose handlers never run two at a time: a new strand, unless a single thread
    // runs the io_context and already serializes everything.
    boost::asio::any_io_executor serial_executor();

    // Scheduler strand: where the fetches of `host` run (and its robots.txt). Without network
    // shards, serial_executor(); with them, the host's shard, given in turn at its first fetch.
    boost::asio::any_io_executor fetch_executor(host_state& host);

    // Scheduler strand: the schedule loop looks at the frontier again now.
    void wake() { timer.cancel(); }

    // Scheduler strand: one attempt's outcome told to the host's guard (breaker, adaptive
    // rate), and what that changed told to the stats, the log and a shared frontier.
    void record_outcome(host_state& host, const resilience::breaker_permit& permit,
                        const resilience::attempt_outcome& outcome, bool& failed_before,
                        clock::time_point now);

    // The completion handler of every task the crawl spawns: a failure is logged.
    static void log_failure(const std::exception_ptr& error);

    metrics::crawl_metrics* metrics;
    journal* state_log;
    boost::asio::io_context& io;
    crawl_options options;
    std::shared_ptr<sink> output;
    // The scheduler's: a strand, or the io_context's (one thread).
    boost::asio::any_io_executor strand;
    // With network shards (network_shards.hpp): every shard's executor, `io`'s first; set by the
    // crawler before the crawl starts. Empty: fetches run on serial_executor().
    std::vector<boost::asio::any_io_executor> shards;
    std::size_t next_shard = 0;       // scheduler strand: the shard the next new host is given
    boost::asio::steady_timer timer;  // the schedule loop's sleep; wake() cuts it short
    frontier queue;
    net::http_client client;
    crawl_stats stats;
    std::atomic<bool> stopping{false};
    std::shared_ptr<shared_backend> shared;  // frontier.backend: redis; null = memory only
    std::unique_ptr<http_cache> cache;       // http.cache; null when off
    std::unique_ptr<proxy_set> proxies;      // proxies:; null = direct
    metrics::counter* cache_hit = nullptr;   // harvest_http_cache_total cells
    metrics::counter* cache_not_modified = nullptr;
    metrics::counter* cache_miss = nullptr;
    std::shared_ptr<page_renderer> renderer;  // null: nothing is rendered
    std::vector<std::regex> render_patterns;  // options.render_rules' matches, in order
    // One identity per session (`sessions:`, engine/crawl/identities.hpp).
    identity_store identities{options.sessions};
};

// This thread's random generator (backoff jitter, idempotency keys).
std::mt19937_64& thread_rng();

// The value of the first header named `name` (any case), if there is one.
std::optional<std::string> find_header(const net::header_list& headers, std::string_view name);

}  // namespace harvest::crawl
