#pragma once
// Runs the items of every unfinished job through the engine's parts: net::http_client, and per
// (profile, origin) the engine's resilience::host_guard — per-host concurrency, token bucket
// (adaptive with rate_limit.adaptive), circuit breaker, retry budget and give-up rule, the same
// guard a crawl's frontier asks — and the retry policy with backoff and Retry-After, under the
// profile's rate_limit.global bucket; each page goes through the profile's extractors
// (pipelines::extractor_set).
//
// Waiting never holds a slot (DESIGN.md, principle 2). An item is a value, not a coroutine: only
// an attempt in flight has a coroutine and one of the `concurrency` slots. An item its host's
// guard refuses is parked on that host (woken by the host's next release or outcome, or at the
// token's or breaker's time); an item waiting for a retry's backoff or the retry budget sits in
// the runner's delayed set with its not_before time.
//
// Fairness (docs/bulk-api.md, "Tenants"): free slots go round-robin over the API keys that have
// work, and within a key round-robin over its jobs. A key has at most its share of the slots:
// `concurrency` / (keys with work), and never more than quotas.in_flight_per_key, so a key
// whose host is slow leaves the others slots. A failure of an answer's size or content
// (body_too_large, a body that does not decode, a redirect problem, an egress refusal) says
// nothing about the host's health: the breaker does not hear it.
//
// Durability: an item is `queued` (or `retrying`) in jobs_db until its result is stored; its
// progress is stored as it changes. The runner's writes go through one queue, committed in
// batches on the runner's own connection, which never waits for a lock: a locked database
// (another process's transaction) makes the writer retry with backoff on a timer, logging while
// it lasts; the API and the fetches go on meanwhile. A restarted runner takes the unsettled
// items of unfinished jobs afresh and never refetches a stored one. A job that ends gets an
// event id stored before its webhook is sent (a cancelled one: with the cancel), so a restart
// resends the same event. Ended jobs are deleted after jobs_ttl, or soon after a DELETE.
//
// Supervision: the scheduler coroutine is restarted (after a log line) if it ever throws; every
// coroutine's end is handled. health() says whether the scheduler runs, has a heartbeat and
// whether writes have been failing, for /healthz.
//
// Threading: everything runs on the executor given (the service's one-thread io_context).

#include "config/service_config.hpp"
#include "engine/crawl/renderer.hpp"
#include "engine/metrics/crawl_metrics.hpp"
#include "engine/metrics/registry.hpp"
#include "engine/net/http_client.hpp"
#include "service/jobs_db.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <memory>
#include <optional>
#include <string>

namespace harvest::service {

// The service's own metric families (docs/metrics.md, "bulk service").
struct service_metrics {
    explicit service_metrics(metrics::registry& reg, jobs_db& db);
    metrics::counter_family& items;  // harvest_service_items_total{outcome}
    metrics::counter_family&
        webhook_deliveries;  // harvest_service_webhook_deliveries_total{outcome}
};

class job_runner {
  public:
    // `db` is the runner's own connection (opened with no busy timeout): it is used from the
    // runner's coroutines only.
    job_runner(boost::asio::any_io_executor executor, const config::service_config& config,
               jobs_db& db, net::http_client& client, service_metrics& metrics,
               metrics::crawl_metrics* engine_metrics);
    ~job_runner();
    job_runner(const job_runner&) = delete;
    job_runner& operator=(const job_runner&) = delete;

    // Before start(): renders the pages of jobs that ask for it (`render`, docs/bulk-api.md).
    // Without one, such pages fail as render_crash.
    void set_renderer(std::shared_ptr<crawl::page_renderer> renderer);

    // Loads unfinished jobs and pending webhooks from jobs_db and starts working.
    void start();
    void job_submitted(const std::string& job_id);
    void job_cancelled(const std::string& job_id);
    // Stops taking new items and returns when none is in flight, at most after 10 s, then gives
    // the queued writes up to 3 s more (webhooks in flight are abandoned; they stay pending in
    // jobs_db and go again on the next start).
    boost::asio::awaitable<void> stop();

    // SIGHUP: each profile's `proxies_file` read again (crawl::proxy_set::reload_file): its
    // jobs' next attempts go through the new list; a failed reload keeps the proxies in use.
    // On the runner's thread.
    void reload_proxies();

    // Empty when the runner works; else what is wrong, for /healthz: its scheduler is being
    // restarted after a failure or has not run for 10 s, or jobs_db writes have been failing
    // for more than 5 s.
    std::optional<std::string> health() const;

  private:
    struct state;
    std::shared_ptr<state> state_;
};

}  // namespace harvest::service
