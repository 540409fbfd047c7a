#pragma once
// Runs the items of every unfinished job through the engine's parts: net::http_client, and per
// (profile, origin) the engine's resilience::host_guard — per-host concurrency, token bucket
// (adaptive with rate_limit.adaptive), circuit breaker, retry budget and give-up rule, the same
// guard a crawl's frontier asks — and the retry policy with backoff and Retry-After, under the
// profile's rate_limit.global bucket; each page goes through the profile's extractors
// (pipelines::extractor_set).
//
// Fairness: at most `concurrency` items are in flight over all jobs, and a free slot goes to the
// next job in round-robin order, so a 5,000-item job and a 10-item job submitted together both
// progress from the start.
//
// Durability: an item is `queued` (or `retrying`, once an attempt failed and another follows)
// in jobs_db until its result is stored; its attempts, last answer and what it waits for are
// stored as they change. A restarted runner takes the unsettled items of unfinished jobs afresh
// and never refetches a stored one. A job that ends gets an event id stored before its webhook
// is sent, so a restart resends the same event.
//
// Threading: everything runs on the executor given (the service's one-thread io_context).

#include "config/service_config.hpp"
#include "engine/metrics/crawl_metrics.hpp"
#include "engine/metrics/registry.hpp"
#include "engine/net/http_client.hpp"
#include "service/jobs_db.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <memory>
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
    job_runner(boost::asio::any_io_executor executor, const config::service_config& config,
               jobs_db& db, net::http_client& client, service_metrics& metrics,
               metrics::crawl_metrics* engine_metrics);
    ~job_runner();
    job_runner(const job_runner&) = delete;
    job_runner& operator=(const job_runner&) = delete;

    // Loads unfinished jobs and pending webhooks from jobs_db and starts working.
    void start();
    void job_submitted(const std::string& job_id);
    void job_cancelled(const std::string& job_id);
    // Stops taking new items and returns when none is in flight (webhooks in flight are
    // abandoned; they stay pending in jobs_db and go again on the next start).
    boost::asio::awaitable<void> stop();

  private:
    struct state;
    std::shared_ptr<state> state_;
};

}  // namespace harvest::service
