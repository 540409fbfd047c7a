// The bulk service's scheduler and per-item fetch coroutines (job_runner.hpp).

#include "service/job_runner.hpp"

#include "engine/crawl/sink.hpp"
#include "engine/net/url.hpp"
#include "engine/resilience/host_guard.hpp"
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

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <vector>

namespace harvest::service {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

namespace {

std::int64_t unix_ms_now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// An item that handed a half-open probe to one that never failed asks again at the latest
// after this long, should that one not take it (cancelled, or waiting for a token).
constexpr auto probe_handoff_wait = std::chrono::milliseconds(250);

// A steady-clock time as unix milliseconds, for what the API shows.
std::int64_t unix_ms_at(clock::time_point when) {
    return unix_ms_now() +
           std::chrono::duration_cast<std::chrono::milliseconds>(when - clock::now()).count();
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
                                 "Job items in jobs_db by status (queued, retrying, ok, failed, "
                                 "cancelled).",
                                 {"status"});
    for (std::string_view status : {"queued", "retrying", "ok", "failed", "cancelled"}) {
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

// Per (profile, origin): the host's guard (concurrency, buckets, breaker, retry budget, the
// give-up rule) and what its requests need, touched only from the runner's thread.
struct host_policies {
    host_policies(const resilience::guard_options& guard_options,
                  const crawl::retry_options& retry_options,
                  const crawl::http_options& http_options, std::string host_label)
        : guard(guard_options),
          retry(retry_options),
          http(std::make_shared<const crawl::http_options>(http_options)),
          label(std::move(host_label)) {}

    resilience::host_guard guard;
    resilience::retry_policy retry;
    std::shared_ptr<const crawl::http_options> http;
    std::string label;  // the metrics' host label
    // Items waiting for an event of this host (a slot freed, a probe's answer): each waits on
    // its own timer, cancelled by wake_waiters() when the guard may answer otherwise.
    std::vector<asio::steady_timer*> waiters;
    // Items that never failed waiting for the breaker: a half-open probe goes to one of them
    // when there is one (docs/config.md, "Circuit breakers").
    std::size_t fresh_waiting = 0;

    void wake_waiters() {
        for (auto* timer : waiters) {
            timer->cancel();
        }
    }
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
    std::map<std::string, std::unique_ptr<host_policies>> hosts;     // "profile origin"
    std::map<std::string, resilience::token_bucket> global_buckets;  // per profile
    std::mt19937_64 rng{std::random_device{}()};
    std::vector<asio::steady_timer*> sleeping;  // every item's wait (sleep), for stop and cancel

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

    // The item's host, keyed by origin (net::split_origin, as the crawl's frontier); its
    // `hosts:` entry found as a crawl finds it. Null for a URL without a host.
    host_policies* policies_for(const active_job& job, std::string_view url) {
        const auto origin = net::split_origin(url);
        if (!origin) {
            return nullptr;
        }
        auto& slot = hosts[job.row.profile + " " + origin->key];
        if (!slot) {
            const auto& crawl = job.profile->crawl;
            const auto* overrides =
                crawl::find_host_overrides(crawl, origin->host_port, origin->host);
            const auto& retry =
                overrides != nullptr && overrides->retry ? *overrides->retry : crawl.retry;
            const auto& http =
                overrides != nullptr && overrides->http ? *overrides->http : crawl.http;
            slot = std::make_unique<host_policies>(resilience::guard_options::of(crawl, overrides),
                                                   retry, http, origin->label);
        }
        return slot.get();
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

    // What became of one item: stored once it settled. `progress` (attempts, the last
    // attempt's HTTP status or transport error, what it waits for) is also stored as it changes.
    struct item_result {
        std::string status = "failed";
        std::string data;
        std::string error;
        item_progress progress;
    };

    static asio::awaitable<void> fetch_item(std::shared_ptr<state> self,
                                            std::shared_ptr<active_job> job, item_row item) {
        item_result result;
        try {
            if (job->profile == nullptr) {
                result.error = "unknown_profile";
            } else {
                co_await self->fetch(*job, item, result);
            }
        } catch (const std::exception& e) {
            spdlog::error("item {}: {}", item.result_id, e.what());
            result.status = "failed";
            result.error = "internal";
        }
        if (!self->stopping && result.error != "cancelled") {
            self->db.store_result(item.result_id, result.status, result.data, result.error,
                                  result.progress.attempts, result.progress.http_status,
                                  result.progress.last_error);
            self->metrics.items.with({result.status}).inc();
        }
        --job->in_flight;
        --self->in_flight;
        self->wake();
    }

    // Waits until `until` (max: no time), or earlier: with `events`, when that host's guard may
    // answer otherwise (a slot freed, an outcome recorded); always on a stop or a cancelled job.
    asio::awaitable<void> sleep(asio::steady_timer& timer, clock::time_point until,
                                host_policies* events) {
        timer.expires_at(until);
        sleeping.push_back(&timer);
        if (events != nullptr) {
            events->waiters.push_back(&timer);
        }
        boost::system::error_code ec;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        sleeping.erase(std::find(sleeping.begin(), sleeping.end(), &timer));
        if (events != nullptr) {
            auto& waiters = events->waiters;
            waiters.erase(std::find(waiters.begin(), waiters.end(), &timer));
        }
    }

    void wake_sleepers() {
        for (auto* timer : sleeping) {
            timer->cancel();
        }
    }

    // One item's attempts, each admitted by its host's guard (docs/config.md, "Circuit
    // breakers"): the same rules as a crawl's requests. Its waits hold its coroutine and one of
    // the service's `concurrency` slots, not a request slot of the host.
    asio::awaitable<void> fetch(active_job& job, const item_row& item, item_result& out) {
        host_policies* const host = policies_for(job, item.url);
        if (host == nullptr) {
            out.error = "invalid_url";
            co_return;
        }
        auto& policies = *host;
        auto& guard = policies.guard;
        auto& global = global_bucket_for(job);
        auto& progress = out.progress;
        item_progress stored = progress;  // what jobs_db holds
        if (item.attempts > 0 || !item.waiting_for.empty()) {
            // Left unsettled by an earlier run of the service: this run starts it afresh.
            db.set_progress(item.result_id, progress);
        }
        const auto persist = [&] {
            if (!(progress == stored)) {
                db.set_progress(item.result_id, progress);
                stored = progress;
            }
        };
        asio::steady_timer timer(executor);
        clock::duration previous_delay{};
        bool failed_before = false;  // the breaker counts one failure per item (host_guard)
        bool retry_due = false;      // an attempt failed and another follows: it needs budget
        for (;;) {
            if (stopping || job.cancelled) {
                out.error = "cancelled";
                co_return;
            }
            auto now = clock::now();
            if (guard.gives_up(now)) {
                out.error = "circuit_open";
                if (engine_metrics != nullptr) {
                    engine_metrics->failures
                        .with({engine_metrics->host_label(policies.label), out.error})
                        .inc();
                }
                co_return;
            }
            if (retry_due) {
                // Over the host's retry budget the retry waits instead of adding load.
                if (!guard.try_retry(now)) {
                    if (engine_metrics != nullptr) {
                        engine_metrics->retry_budget_exhausted
                            .with({engine_metrics->host_label(policies.label)})
                            .inc();
                    }
                    progress.waiting_for = "retry_budget";
                    progress.next_attempt_at_ms = 0;  // re-checked, no known time
                    persist();
                    co_await sleep(timer, now + resilience::budget_recheck, nullptr);
                    continue;
                }
                retry_due = false;
            }
            const auto admitted = guard.admit(now, &global);
            if (!admitted.permit) {
                using resilience::wait_reason;
                const bool breaker = admitted.why == wait_reason::breaker;
                if (breaker) {
                    progress.waiting_for = "circuit_breaker";
                    progress.next_attempt_at_ms = admitted.not_before == clock::time_point::max()
                                                      ? 0
                                                      : unix_ms_at(admitted.not_before);
                    persist();
                }
                // A token's time is the guard's whole answer; anything else may change with
                // this host's next release or outcome.
                const bool on_events =
                    admitted.why != wait_reason::token && admitted.why != wait_reason::global_token;
                const bool fresh = breaker && !failed_before;
                policies.fresh_waiting += fresh ? 1 : 0;
                co_await sleep(timer, admitted.not_before, on_events ? &policies : nullptr);
                policies.fresh_waiting -= fresh ? 1 : 0;
                continue;
            }
            const auto permit = *admitted.permit;
            if (permit.probe && failed_before && policies.fresh_waiting > 0) {
                // A half-open probe asks whether the host is healthy: an item that never failed
                // answers that, a retry of one known to fail does not. Hand it over.
                guard.cancel(permit);
                policies.wake_waiters();
                co_await sleep(timer, now + probe_handoff_wait, &policies);
                continue;
            }
            if (!progress.waiting_for.empty()) {
                progress.waiting_for.clear();
                progress.next_attempt_at_ms = 0;
                persist();
            }
            ++progress.attempts;
            if (progress.attempts == 1) {
                guard.on_first_attempt(now);  // first attempts earn retry budget
            }
            net::http_request request;
            request.url = item.url;
            if (engine_metrics != nullptr) {
                engine_metrics->requests.with({engine_metrics->host_label(policies.label), "GET"})
                    .inc();
            }
            const auto deadline = clock::now() + policies.http->timeouts.total;
            std::optional<boost::system::result<net::http_response>> answer;
            try {
                answer.emplace(co_await client.fetch(std::move(request), policies.http, deadline));
            } catch (...) {
                guard.cancel(permit);  // the slot and a probe are not lost with the item
                policies.wake_waiters();
                throw;
            }
            guard.release();
            auto& result = *answer;
            resilience::attempt_outcome outcome;
            if (result) {
                outcome.status = result->status;
                outcome.retry_after = result->header("Retry-After");
            } else {
                outcome.error = static_cast<net::fetch_error>(result.error().value());
            }
            now = clock::now();
            const auto effect = guard.record(permit, outcome, failed_before, now);
            policies.wake_waiters();
            if (effect.opened) {
                spdlog::warn("circuit opened for {} (profile {})", policies.label, job.row.profile);
            }
            progress.http_status = result ? result->status : 0;
            progress.last_error =
                result ? std::string() : std::string(net::to_string(*outcome.error));
            const auto decision = policies.retry.classify(
                outcome, static_cast<unsigned>(progress.attempts), "GET", false, previous_delay,
                rng, std::chrono::system_clock::now());
            if (engine_metrics != nullptr) {
                const auto label = engine_metrics->host_label(policies.label);
                if (result) {
                    engine_metrics->responses.with({label, std::to_string(result->status)}).inc();
                } else {
                    engine_metrics->request_errors.with({label, progress.last_error}).inc();
                }
            }
            if (decision.what == resilience::verdict::retry) {
                if (engine_metrics != nullptr) {
                    engine_metrics->retries
                        .with({engine_metrics->host_label(policies.label), decision.reason})
                        .inc();
                }
                previous_delay = decision.delay;
                retry_due = true;
                progress.waiting_for = "backoff";
                progress.next_attempt_at_ms = unix_ms_at(now + decision.delay);
                persist();
                co_await sleep(timer, now + decision.delay, nullptr);
                continue;
            }
            if (decision.what == resilience::verdict::fail) {
                out.error = decision.failure_kind;
                if (engine_metrics != nullptr) {
                    engine_metrics->failures
                        .with({engine_metrics->host_label(policies.label), out.error})
                        .inc();
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
                out.error = "no_item";
                co_return;
            }
            if (items.size() == 1) {
                pipelines::append_json(out.data, items.front());
            } else {
                boost::json::array list;
                for (auto& one : items) {
                    list.emplace_back(std::move(one));
                }
                pipelines::append_json(out.data, boost::json::value(std::move(list)));
            }
            out.status = "ok";
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
    state_->wake_sleepers();  // its waiting items end now, not when their waits would
    state_->wake();
}

asio::awaitable<void> job_runner::stop() {
    state_->stopping = true;
    state_->wake_sleepers();
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
