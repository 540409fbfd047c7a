// The bulk service's scheduler and per-item fetch coroutines (job_runner.hpp).

#include "service/job_runner.hpp"

#include "engine/crawl/sink.hpp"
#include "engine/resilience/circuit_breaker.hpp"
#include "engine/resilience/retry_budget.hpp"
#include "engine/resilience/retry_policy.hpp"
#include "engine/resilience/token_bucket.hpp"
#include "pipelines/extract/extractor_set.hpp"
#include "pipelines/item.hpp"
#include "service/signing.hpp"
#include "service/webhook.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/url/parse.hpp>

#include <deque>
#include <map>
#include <optional>
#include <random>

namespace harvest::service {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

namespace {

std::int64_t unix_ms_now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string host_key(std::string_view url) {
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed) {
        return {};
    }
    std::string key(parsed->encoded_host());
    if (parsed->has_port()) {
        key += ":" + std::string(parsed->port());
    }
    return key;
}

}  // namespace

service_metrics::service_metrics(metrics::registry& reg, jobs_db& db)
    : items(reg.add_counter("harvest_service_items_total",
                            "Job items finished by this process, by outcome (ok, failed).",
                            {"outcome"})),
      webhook_deliveries(reg.add_counter(
          "harvest_service_webhook_deliveries_total",
          "Completion webhook attempts by outcome: delivered, retried (an attempt failed and "
          "another follows), failed (given up).",
          {"outcome"})) {
    // Jobs and items by status come from jobs_db at scrape time: they include what earlier
    // runs of the service did.
    auto& jobs = reg.add_gauge("harvest_service_jobs", "Jobs in jobs_db by status.", {"status"});
    for (std::string_view status : {"queued", "running", "done", "cancelled"}) {
        jobs.bind({status}, [&db, s = std::string(status)]() -> std::optional<double> {
            for (const auto& [name, count] : db.job_counts()) {
                if (name == s) {
                    return static_cast<double>(count);
                }
            }
            return 0.0;
        });
    }
    auto& stored = reg.add_gauge("harvest_service_job_items",
                                 "Job items in jobs_db by status (queued, ok, failed, cancelled).",
                                 {"status"});
    for (std::string_view status : {"queued", "ok", "failed", "cancelled"}) {
        stored.bind({status}, [&db, s = std::string(status)]() -> std::optional<double> {
            for (const auto& [name, count] : db.item_counts()) {
                if (name == s) {
                    return static_cast<double>(count);
                }
            }
            return 0.0;
        });
    }
    for (std::string_view outcome : {"ok", "failed"}) {
        items.with({outcome});
    }
    for (std::string_view outcome : {"delivered", "retried", "failed"}) {
        webhook_deliveries.with({outcome});
    }
}

// Per (profile, host): the engine's policies, touched only from the runner's thread.
struct host_policies {
    resilience::token_bucket bucket;
    // rate_limit.adaptive: a 429 halves this host's rate, good answers restore it.
    std::optional<resilience::adaptive_rate> adaptive;
    resilience::circuit_breaker breaker;
    resilience::retry_policy retry;
    resilience::retry_budget budget;
    std::shared_ptr<const crawl::http_options> http;
    std::size_t limit = 1;  // engine.per_host_concurrency (or the host's override)
    std::size_t in_flight = 0;
    // Never re-armed (expires at time_point::max): cancel() wakes every item waiting for a
    // request slot of this host, and they check again.
    std::unique_ptr<asio::steady_timer> slot_freed;
};

struct active_job {
    job_row row;
    const config::service_profile* profile = nullptr;
    std::shared_ptr<const pipelines::extractor_set> extractors;
    std::deque<item_row> buffer;
    std::int64_t last_index = -1;
    bool exhausted = false;  // no queued item left in jobs_db beyond the buffer
    bool cancelled = false;
    std::size_t in_flight = 0;
};

struct job_runner::state : std::enable_shared_from_this<job_runner::state> {
    asio::any_io_executor executor;
    const config::service_config& config;
    jobs_db& db;
    net::http_client& client;
    service_metrics& metrics;
    metrics::crawl_metrics* engine_metrics;
    asio::steady_timer wake_timer;
    bool dirty = false;
    bool stopping = false;
    bool scheduler_done = false;
    std::size_t in_flight = 0;
    std::size_t webhooks_in_flight = 0;
    std::deque<std::shared_ptr<active_job>> jobs;  // round-robin order
    std::map<std::string, std::shared_ptr<const pipelines::extractor_set>> extractors;
    std::map<std::string, std::unique_ptr<host_policies>> hosts;     // "profile host"
    std::map<std::string, resilience::token_bucket> global_buckets;  // per profile
    std::mt19937_64 rng{std::random_device{}()};

    state(asio::any_io_executor ex, const config::service_config& cfg, jobs_db& database,
          net::http_client& http_client, service_metrics& m, metrics::crawl_metrics* em)
        : executor(ex),
          config(cfg),
          db(database),
          client(http_client),
          metrics(m),
          engine_metrics(em),
          wake_timer(ex) {}

    void wake() {
        dirty = true;
        wake_timer.cancel();
    }

    void add_job(const job_row& row) {
        for (const auto& job : jobs) {
            if (job->row.job_id == row.job_id) {
                return;
            }
        }
        auto job = std::make_shared<active_job>();
        job->row = row;
        const auto profile = config.profiles.find(row.profile);
        if (profile == config.profiles.end()) {
            spdlog::error("job {}: profile {} is no longer configured; items fail", row.job_id,
                          row.profile);
        } else {
            job->profile = &profile->second;
            auto& set = extractors[row.profile];
            if (!set) {
                set = std::make_shared<const pipelines::extractor_set>(profile->second.extract);
            }
            job->extractors = set;
        }
        jobs.push_back(std::move(job));
        wake();
    }

    host_policies& policies_for(const active_job& job, const std::string& host) {
        auto& slot = hosts[job.row.profile + " " + host];
        if (!slot) {
            const auto& crawl = job.profile->crawl;
            auto http = crawl.http;
            auto bucket = crawl.rate_limit.per_host;
            auto retry = crawl.retry;
            auto breaker = crawl.circuit_breaker;
            if (const auto it = crawl.hosts.find(host); it != crawl.hosts.end()) {
                http = it->second.http.value_or(http);
                bucket = it->second.rate_limit.value_or(bucket);
                retry = it->second.retry.value_or(retry);
                breaker = it->second.circuit_breaker.value_or(breaker);
            }
            std::size_t limit = crawl.engine.per_host_concurrency;
            if (const auto it = crawl.hosts.find(host); it != crawl.hosts.end()) {
                limit = it->second.per_host_concurrency.value_or(limit);
            }
            slot = std::make_unique<host_policies>(host_policies{
                resilience::token_bucket(bucket.per_second, bucket.burst), std::nullopt,
                resilience::circuit_breaker(breaker), resilience::retry_policy(retry),
                resilience::retry_budget(retry.budget_ratio, retry.budget_min_per_second),
                std::make_shared<const crawl::http_options>(http), std::max<std::size_t>(1, limit),
                0, std::make_unique<asio::steady_timer>(executor, clock::time_point::max())});
            if (crawl.rate_limit.adaptive && !slot->bucket.unlimited()) {
                slot->adaptive.emplace(slot->bucket.rate());
            }
        }
        return *slot;
    }

    // rate_limit.global of the job's profile: one bucket over all its hosts, shared by its jobs.
    resilience::token_bucket& global_bucket_for(const active_job& job) {
        const auto& global = job.profile->crawl.rate_limit.global;
        return global_buckets.try_emplace(job.row.profile, global.per_second, global.burst)
            .first->second;
    }

    // The next item of `job` to fetch, refilling the buffer from jobs_db.
    std::optional<item_row> next_item(active_job& job) {
        if (job.buffer.empty() && !job.exhausted && !job.cancelled) {
            auto items = db.queued_items(job.row.job_id, job.last_index, 256);
            if (items.empty()) {
                job.exhausted = true;
            }
            for (auto& item : items) {
                job.last_index = item.index;
                job.buffer.push_back(std::move(item));
            }
        }
        if (job.buffer.empty() || job.cancelled) {
            return std::nullopt;
        }
        auto item = std::move(job.buffer.front());
        job.buffer.pop_front();
        return item;
    }

    void finish_jobs() {
        for (auto it = jobs.begin(); it != jobs.end();) {
            auto& job = **it;
            const bool ended = job.cancelled || (job.exhausted && job.buffer.empty());
            if (!ended || job.in_flight != 0) {
                ++it;
                continue;
            }
            const bool webhook = !job.row.callback_url.empty();
            // Created before the first attempt and stored with the job's end: a restart
            // resends this same event id.
            const auto event_id = webhook ? random_id("evt_") : std::string();
            if (job.cancelled) {
                if (webhook) {
                    db.set_webhook(job.row.job_id, event_id, "pending");
                }
            } else {
                job.row.status = "done";
                db.finish_job(job.row.job_id, unix_ms_now(), event_id);
                spdlog::info("job {} done", job.row.job_id);
            }
            if (webhook) {
                if (auto row = db.job(job.row.job_id)) {
                    start_webhook(*row);
                }
            }
            it = jobs.erase(it);
        }
    }

    void start_webhook(const job_row& row) {
        std::vector<std::string> ids;
        for (const auto& item : db.results(row.job_id)) {
            ids.push_back(item.result_id);
        }
        webhook_event event{row.callback_url, row.event_id, webhook_body(row.event_id, row, ids)};
        ++webhooks_in_flight;
        asio::co_spawn(executor, send_webhook(shared_from_this(), row.job_id, std::move(event)),
                       asio::detached);
    }

    static asio::awaitable<void> send_webhook(std::shared_ptr<state> self, std::string job_id,
                                              webhook_event event) {
        auto observer = [self](unsigned attempt, unsigned status, bool retrying) {
            self->metrics.webhook_deliveries
                .with({retrying                        ? "retried"
                       : status >= 200 && status < 300 ? "delivered"
                                                       : "failed"})
                .inc();
            if (status < 200 || status >= 300) {
                spdlog::warn("webhook attempt {} answered {}{}", attempt, status,
                             retrying ? ", retrying" : ", giving up");
            }
        };
        const auto outcome = co_await deliver_webhook(self->client, std::move(event),
                                                      self->config.webhook, self->rng, observer);
        --self->webhooks_in_flight;
        if (self->stopping) {
            co_return;  // left pending: the next start sends it again
        }
        const auto row = self->db.job(job_id);
        self->db.set_webhook(job_id, row ? row->event_id : std::string(),
                             outcome == delivery_outcome::delivered ? "delivered" : "failed");
    }

    static asio::awaitable<void> schedule(std::shared_ptr<state> self) {
        std::size_t turn = 0;
        while (!self->stopping) {
            self->dirty = false;
            // Round-robin: one item per job per turn while slots are free.
            bool progressed = true;
            while (self->in_flight < self->config.concurrency && progressed &&
                   !self->jobs.empty()) {
                progressed = false;
                for (std::size_t n = 0;
                     n < self->jobs.size() && self->in_flight < self->config.concurrency; ++n) {
                    auto job = self->jobs[turn++ % self->jobs.size()];
                    auto item = self->next_item(*job);
                    if (!item) {
                        continue;
                    }
                    progressed = true;
                    if (job->row.status == "queued") {
                        job->row.status = "running";
                        self->db.set_status(job->row.job_id, "running");
                    }
                    ++job->in_flight;
                    ++self->in_flight;
                    asio::co_spawn(self->executor, fetch_item(self, job, std::move(*item)),
                                   asio::detached);
                }
            }
            self->finish_jobs();
            if (!self->dirty) {
                self->wake_timer.expires_at(clock::time_point::max());
                boost::system::error_code ec;
                co_await self->wake_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            }
        }
        self->scheduler_done = true;
    }

    static asio::awaitable<void> fetch_item(std::shared_ptr<state> self,
                                            std::shared_ptr<active_job> job, item_row item) {
        std::string status = "failed";
        std::string data;
        std::string error;
        unsigned attempts = 0;
        try {
            if (job->profile == nullptr) {
                error = "unknown_profile";
            } else {
                co_await self->fetch(*job, item, status, data, error, attempts);
            }
        } catch (const std::exception& e) {
            spdlog::error("item {}: {}", item.result_id, e.what());
            status = "failed";
            error = "internal";
        }
        if (!self->stopping && error != "cancelled") {
            self->db.store_result(item.result_id, status, data, error, attempts);
            self->metrics.items.with({status}).inc();
        }
        --job->in_flight;
        --self->in_flight;
        self->wake();
    }

    asio::awaitable<void> fetch(active_job& job, const item_row& item, std::string& status,
                                std::string& data, std::string& error, unsigned& attempts) {
        const auto host = host_key(item.url);
        auto& policies = policies_for(job, host);
        auto& global = global_bucket_for(job);
        asio::steady_timer timer(executor);
        clock::duration previous_delay{};
        bool retry_allowed = false;  // the pending retry has been granted by the budget
        for (;;) {
            if (stopping || job.cancelled) {
                error = "cancelled";
                co_return;
            }
            if (policies.in_flight >= policies.limit) {
                boost::system::error_code ec;
                co_await policies.slot_freed->async_wait(
                    asio::redirect_error(asio::use_awaitable, ec));
                continue;
            }
            auto now = clock::now();
            if (attempts > 0 && !retry_allowed) {
                // Over the host's retry budget: the retry waits instead of adding load.
                if (!policies.budget.try_spend(now)) {
                    if (engine_metrics != nullptr) {
                        engine_metrics->retry_budget_exhausted
                            .with({engine_metrics->host_label(host)})
                            .inc();
                    }
                    timer.expires_after(std::chrono::milliseconds(100));
                    boost::system::error_code ec;
                    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
                    continue;
                }
                retry_allowed = true;
            }
            // The profile's global bucket first (only looked at), then the host's: the token of
            // either is taken only when both have one.
            if (!global.unlimited() && global.next_available(now) > now) {
                timer.expires_at(global.next_available(now));
                boost::system::error_code ec;
                co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
                continue;
            }
            if (!policies.bucket.try_acquire(now)) {
                timer.expires_at(policies.bucket.next_available(now));
                boost::system::error_code ec;
                co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
                continue;
            }
            if (!global.unlimited()) {
                (void)global.try_acquire(now);  // available: checked above, nothing ran since
            }
            auto permit = policies.breaker.try_acquire(now);
            if (!permit) {
                const auto since = policies.breaker.open_since();
                if (since && now - *since > job.profile->crawl.circuit_breaker.give_up_after) {
                    error = "circuit_open";
                    co_return;
                }
                timer.expires_at(policies.breaker.next_attempt_at());
                boost::system::error_code ec;
                co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
                continue;
            }
            ++attempts;
            retry_allowed = false;
            if (attempts == 1) {
                policies.budget.on_request(now);
            }
            net::http_request request;
            request.url = item.url;
            if (engine_metrics != nullptr) {
                engine_metrics->requests.with({engine_metrics->host_label(host), "GET"}).inc();
            }
            const auto deadline = clock::now() + policies.http->timeouts.total;
            ++policies.in_flight;
            auto result = co_await client.fetch(std::move(request), policies.http, deadline);
            --policies.in_flight;
            policies.slot_freed->cancel();
            resilience::attempt_outcome outcome;
            if (result) {
                outcome.status = result->status;
                outcome.retry_after = result->header("Retry-After");
            } else {
                outcome.error = static_cast<net::fetch_error>(result.error().value());
            }
            const auto decision =
                policies.retry.classify(outcome, attempts, "GET", false, previous_delay, rng,
                                        std::chrono::system_clock::now());
            const bool failure = !result || result->status >= 500;
            const bool neutral = result && result->status >= 400 && result->status < 500;
            if (policies.adaptive && result) {
                policies.adaptive->on_answer(result->status, clock::now(), policies.bucket);
            }
            policies.breaker.record(*permit,
                                    failure   ? resilience::call_outcome::failure
                                    : neutral ? resilience::call_outcome::neutral
                                              : resilience::call_outcome::success,
                                    clock::now());
            if (engine_metrics != nullptr) {
                const auto label = engine_metrics->host_label(host);
                if (result) {
                    engine_metrics->responses.with({label, std::to_string(result->status)}).inc();
                } else {
                    engine_metrics->request_errors.with({label, net::to_string(*outcome.error)})
                        .inc();
                }
            }
            if (decision.what == resilience::verdict::retry) {
                if (engine_metrics != nullptr) {
                    engine_metrics->retries
                        .with({engine_metrics->host_label(host), decision.reason})
                        .inc();
                }
                previous_delay = decision.delay;
                timer.expires_after(decision.delay);
                boost::system::error_code ec;
                co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
                continue;
            }
            if (decision.what == resilience::verdict::fail) {
                error = decision.failure_kind;
                if (engine_metrics != nullptr) {
                    engine_metrics->failures.with({engine_metrics->host_label(host), error}).inc();
                }
                co_return;
            }
            crawl::fetched_page page;
            page.request.http.url = item.url;
            page.response = std::move(*result);
            page.fetched_at = std::chrono::system_clock::now();
            std::vector<pipelines::item> items;
            job.extractors->extract(page, items);
            if (items.empty()) {
                error = "no_item";
                co_return;
            }
            if (items.size() == 1) {
                pipelines::append_json(data, items.front());
            } else {
                boost::json::array list;
                for (auto& one : items) {
                    list.emplace_back(std::move(one));
                }
                pipelines::append_json(data, boost::json::value(std::move(list)));
            }
            status = "ok";
            co_return;
        }
    }
};

job_runner::job_runner(asio::any_io_executor executor, const config::service_config& config,
                       jobs_db& db, net::http_client& client, service_metrics& metrics,
                       metrics::crawl_metrics* engine_metrics)
    : state_(std::make_shared<state>(executor, config, db, client, metrics, engine_metrics)) {}

job_runner::~job_runner() {
    state_->stopping = true;
    state_->wake_timer.cancel();
}

void job_runner::start() {
    for (const auto& row : state_->db.unfinished_jobs()) {
        state_->add_job(row);
    }
    for (const auto& row : state_->db.pending_webhooks()) {
        state_->start_webhook(row);
    }
    asio::co_spawn(state_->executor, state::schedule(state_), asio::detached);
}

void job_runner::job_submitted(const std::string& job_id) {
    if (auto row = state_->db.job(job_id)) {
        state_->add_job(*row);
    }
}

void job_runner::job_cancelled(const std::string& job_id) {
    for (auto& job : state_->jobs) {
        if (job->row.job_id == job_id) {
            job->cancelled = true;
            job->buffer.clear();
        }
    }
    state_->wake();
}

asio::awaitable<void> job_runner::stop() {
    state_->stopping = true;
    state_->wake();
    asio::steady_timer timer(state_->executor);
    // Bounded: in-flight fetches end at their deadline at the latest; ten seconds is enough to
    // notice they have and leave the rest to the next start.
    for (int i = 0; i < 200 && (state_->in_flight != 0 || !state_->scheduler_done); ++i) {
        timer.expires_after(std::chrono::milliseconds(50));
        boost::system::error_code ec;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    state_->client.close_idle();
}

}  // namespace harvest::service
