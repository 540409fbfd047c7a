// The bulk service's runner (job_runner.hpp): a scheduler over the jobs of every API key, items
// parked on their host or delayed (no coroutine while they wait), one coroutine per attempt in
// flight, a writer that batches jobs_db writes and retries them on a timer, and the webhooks.

#include "service/job_runner.hpp"

#include "engine/core/exception_text.hpp"
#include "engine/core/failure_kind.hpp"
#include "engine/crawl/host_guard_options.hpp"
#include "engine/crawl/proxy_set.hpp"
#include "engine/crawl/render_gate.hpp"
#include "engine/crawl/renderer.hpp"
#include "engine/crawl/sink.hpp"
#include "engine/net/fetch_outcome.hpp"
#include "engine/net/url.hpp"
#include "engine/resilience/host_guard.hpp"
#include "engine/resilience/retry_policy.hpp"
#include "engine/resilience/token_bucket.hpp"
#include "pipelines/extract/extractor_set.hpp"
#include "pipelines/item.hpp"
#include "service/render_request.hpp"
#include "service/signing.hpp"
#include "service/webhook.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <vector>

namespace harvest::service {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

namespace {

// A steady-clock time as unix milliseconds, for what the API shows.
std::int64_t unix_ms_at(clock::time_point when) {
    return unix_ms_now() +
           std::chrono::duration_cast<std::chrono::milliseconds>(when - clock::now()).count();
}

// The scheduler wakes at least this often (its heartbeat, retried reads and webhook starts, the
// retention sweep); health() calls it stalled when it has not run for `stalled_after`.
constexpr auto heartbeat_every = std::chrono::seconds(1);
constexpr auto stalled_after = std::chrono::seconds(10);
// health() reports failing writes once they have failed this long (a short lock is normal).
constexpr auto writes_failing_after = std::chrono::seconds(5);
// The writer's backoff while jobs_db refuses its writes, and how often it logs meanwhile.
constexpr auto write_backoff_first = std::chrono::milliseconds(10);
constexpr auto write_backoff_max = std::chrono::seconds(1);
constexpr auto write_failure_log_every = std::chrono::seconds(5);
// A write that fails alone (not for a lock) this many times is dropped with an error line.
constexpr int write_failures_before_drop = 5;
constexpr std::size_t write_batch = 512;
// Over this many queued writes no attempt starts: settled results cannot pile up in memory
// while the database refuses them.
constexpr std::size_t max_pending_writes = 8192;
// Items of one job parked on hosts or delayed at once; beyond it the job takes no new item
// until one of them moves (memory stays bounded per job).
constexpr std::size_t max_held_per_job = 1024;
constexpr std::size_t refill_page = 256;
constexpr auto restart_after = std::chrono::seconds(1);
// Steps of one scheduling pass, a bound against a bug turning it into a spin.
constexpr std::size_t max_dispatch_steps = 100000;

// A failure of the answer's size or content, or of where it points: the host answered, so its
// breaker hears neither a success nor a failure (one tenant's huge or broken bodies must not
// open the breaker for every tenant of that host).
bool content_failure(net::fetch_error error) {
    switch (error) {
        case net::fetch_error::body_too_large:
        case net::fetch_error::protocol:  // includes a body that does not decode
        case net::fetch_error::too_many_redirects:
        case net::fetch_error::unsupported_scheme:
        case net::fetch_error::egress_denied:
            return true;
        default:
            return false;
    }
}

// Logs how a spawned coroutine ended, if it ended by an exception: none may end unseen.
auto log_exception(std::string what) {
    return [what = std::move(what)](std::exception_ptr error) {
        if (error) {
            spdlog::error("{}: {}", what, core::exception_text(error));
        }
    };
}

// 50 ms on `timer` (stop()'s polling).
asio::awaitable<void> pause(asio::steady_timer& timer) {
    timer.expires_after(std::chrono::milliseconds(50));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
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

namespace {

struct active_job;
struct tenant;

// An item between its attempts: a value in a job's ready queue, parked on its host or in the
// delayed set. Only an attempt in flight has a coroutine.
struct pending_item {
    std::shared_ptr<active_job> job;
    std::string result_id;
    std::string url;
    item_progress progress;
    item_progress stored;  // what jobs_db holds once the queued writes are committed
    clock::duration previous_delay{};
    bool failed_before = false;  // the breaker counts one failure per item (host_guard)
    bool retry_due = false;      // an attempt failed and another follows: it needs budget
    // How its page is rendered: the item's own `render` when it has one, else its job's;
    // nullopt = not rendered.
    std::optional<crawl::render_options> render;
};
using item_ptr = std::shared_ptr<pending_item>;

// Per (profile, origin): the host's guard (concurrency, buckets, breaker, retry budget, the
// give-up rule), what its requests need, and the items its guard refused for now.
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
    std::string label;                    // the metrics' host label
    std::string origin;                   // scheme://host:port: the proxies' bench key
    crawl::proxy_set* proxies = nullptr;  // the profile's `proxies:`; null = direct
    // Refused items by API key, woken round-robin over the keys: one key's thousand items do
    // not queue another key's two behind them on a shared host.
    std::map<std::string, std::deque<item_ptr>> parked;
    std::string last_owner;
    std::size_t parked_count = 0;
    // When the guard named a time (a token, the breaker's turn to half-open): the earliest such
    // wake in the delayed set; max = none.
    clock::time_point wake_at = clock::time_point::max();
};

struct active_job {
    job_row row;
    tenant* owner = nullptr;  // tenants live as long as the runner
    const config::service_profile* profile = nullptr;
    std::shared_ptr<const pipelines::extractor_set> extractors;
    // The job's `render`: every page rendered but those of items with their own `render`.
    std::optional<crawl::render_options> render;
    std::deque<item_row> buffer;  // read from jobs_db, not taken yet
    std::deque<item_ptr> ready;   // woken or due again: taken before new items
    std::int64_t last_index = -1;
    bool exhausted = false;  // no unsettled item left in jobs_db beyond the buffer
    bool cancelled = false;
    std::size_t in_flight = 0;
    std::size_t held = 0;  // parked on a host or in the delayed set
    clock::time_point refill_after{};
};

// One API key's jobs, in round-robin order, and its attempts in flight.
struct tenant {
    std::string owner;
    std::vector<std::shared_ptr<active_job>> jobs;
    std::size_t turn = 0;
    std::size_t in_flight = 0;
};

// A delayed-set entry: an item whose wait ends (backoff, retry budget), or a host whose guard
// named a time.
struct delayed_entry {
    item_ptr item;
    host_policies* host = nullptr;
};

struct write_op {
    std::function<void(jobs_db&)> apply;
    std::function<void()> on_committed;  // may be empty
    int failures = 0;                    // failed alone, not for a lock
};

}  // namespace

struct job_runner::state : std::enable_shared_from_this<job_runner::state> {
    asio::any_io_executor executor;
    const config::service_config& config;
    jobs_db& db;
    net::http_client& client;
    service_metrics& metrics;
    metrics::crawl_metrics* engine_metrics;
    std::shared_ptr<crawl::page_renderer> renderer;  // null: pages of rendering jobs fail
    asio::steady_timer wake_timer;
    asio::steady_timer writer_timer;
    bool dirty = false;
    bool stopping = false;
    bool loaded = false;
    bool scheduler_running = false;
    bool writer_running = false;
    bool writer_idle = false;     // the writer waits for writes (not in a backoff)
    bool writer_stop = false;     // stop(): end once the queue is empty
    bool writer_abandon = false;  // stop(): end now, whatever is left
    std::size_t in_flight = 0;
    std::size_t webhooks_in_flight = 0;
    std::vector<std::unique_ptr<tenant>> tenants;
    std::size_t tenant_turn = 0;
    std::map<std::string, std::shared_ptr<active_job>> jobs;  // by id
    std::map<std::string, std::shared_ptr<const pipelines::extractor_set>> extractors;
    std::map<std::string, std::unique_ptr<host_policies>> hosts;          // "profile origin"
    std::map<std::string, resilience::token_bucket> global_buckets;       // per profile
    std::map<std::string, std::unique_ptr<crawl::proxy_set>> proxy_sets;  // per profile
    std::multimap<clock::time_point, delayed_entry> delayed;
    std::mt19937_64 rng{std::random_device{}()};
    // The writer's queue, in order: a job's finish follows its items' results.
    std::deque<write_op> writes;
    std::optional<clock::time_point> writes_failing_since;
    clock::time_point last_write_log{};
    std::string write_error;
    // Health.
    clock::time_point heartbeat = clock::now();
    std::string last_crash;
    // Webhooks being sent by this process (one per job), and starts to try again (a failed read).
    std::set<std::string> webhooks_sending;
    std::deque<std::string> webhook_starts;
    std::deque<std::string> submitted_retry;  // job_submitted whose read failed
    clock::time_point next_sweep{};

    state(asio::any_io_executor ex, const config::service_config& cfg, jobs_db& database,
          net::http_client& http_client, service_metrics& m, metrics::crawl_metrics* em)
        : executor(ex),
          config(cfg),
          db(database),
          client(http_client),
          metrics(m),
          engine_metrics(em),
          wake_timer(ex),
          writer_timer(ex) {}
    state(const state&) = delete;
    state& operator=(const state&) = delete;

    // An item holds its job and a job's ready queue holds items: a stop that leaves items
    // waiting there breaks that cycle here, or their memory outlives the runner.
    ~state() {
        for (auto& [id, job] : jobs) {
            job->ready.clear();
        }
        for (auto& owner : tenants) {
            for (auto& job : owner->jobs) {
                job->ready.clear();
            }
        }
    }

    // Another coroutine or the API changed something the scheduler must look at.
    void wake() {
        dirty = true;
        wake_timer.cancel();
    }

    // ---- writes -------------------------------------------------------------------------------

    void enqueue(std::function<void(jobs_db&)> apply, std::function<void()> on_committed = {}) {
        writes.push_back(write_op{std::move(apply), std::move(on_committed), 0});
        if (writer_idle) {
            writer_timer.cancel();  // not during a backoff: that would retry at once
        }
    }

    void persist(pending_item& item) {
        if (item.progress == item.stored) {
            return;
        }
        item.stored = item.progress;
        enqueue([id = item.result_id, progress = item.progress](jobs_db& d) {
            d.set_progress(id, progress);
        });
    }

    // Commits queued writes in batches on the runner's connection. A lock makes it wait on a
    // timer with backoff (the thread goes on serving); any failure is logged, at once and then
    // every few seconds while it lasts; a write that fails alone for another reason is dropped
    // after a few tries with an error line (its item stays unsettled and is fetched again after
    // a restart).
    static asio::awaitable<void> write_loop(std::shared_ptr<state> self) {
        self->writer_running = true;
        struct running_flag {
            state& s;
            ~running_flag() { s.writer_running = false; }
        } flag{*self};
        auto backoff = std::chrono::duration_cast<clock::duration>(write_backoff_first);
        std::size_t batch = write_batch;
        while (!self->writer_abandon) {
            if (self->writes.empty()) {
                if (self->writer_stop) {
                    break;
                }
                self->writer_timer.expires_at(clock::time_point::max());
                self->writer_idle = true;
                boost::system::error_code ec;
                co_await self->writer_timer.async_wait(
                    asio::redirect_error(asio::use_awaitable, ec));
                self->writer_idle = false;
                continue;
            }
            const auto n = std::min(batch, self->writes.size());
            std::string error;
            bool busy = false;
            try {
                self->db.begin();
                for (std::size_t i = 0; i < n; ++i) {
                    self->writes[i].apply(self->db);
                }
                self->db.commit();
            } catch (const jobs_db_error& e) {
                error = e.what();
                busy = e.busy();
            } catch (const std::exception& e) {
                error = e.what();
            }
            if (error.empty()) {
                std::vector<std::function<void()>> done;
                for (std::size_t i = 0; i < n; ++i) {
                    if (self->writes.front().on_committed) {
                        done.push_back(std::move(self->writes.front().on_committed));
                    }
                    self->writes.pop_front();
                }
                if (self->writes_failing_since) {
                    spdlog::info(
                        "jobs_db: writes go through again after {:.1f} s",
                        std::chrono::duration<double>(clock::now() - *self->writes_failing_since)
                            .count());
                }
                self->writes_failing_since.reset();
                self->write_error.clear();
                backoff = write_backoff_first;
                batch = write_batch;
                for (auto& callback : done) {
                    try {
                        callback();
                    } catch (const std::exception& e) {
                        spdlog::error("job runner: after a write: {}", e.what());
                    }
                }
                self->wake();
                continue;
            }
            self->db.rollback();
            const auto now = clock::now();
            if (!self->writes_failing_since) {
                self->writes_failing_since = now;
                self->last_write_log = now;
                spdlog::warn("jobs_db: a write failed ({}); {} writes wait, retrying", error,
                             self->writes.size());
            } else if (now - self->last_write_log >= write_failure_log_every) {
                self->last_write_log = now;
                spdlog::error(
                    "jobs_db: writes have failed for {:.0f} s ({}); {} writes wait",
                    std::chrono::duration<double>(now - *self->writes_failing_since).count(), error,
                    self->writes.size());
            }
            self->write_error = error;
            if (!busy) {
                // Not a lock: find the write that fails by itself.
                if (n == 1 && ++self->writes.front().failures >= write_failures_before_drop) {
                    spdlog::error(
                        "jobs_db: dropped a write that failed {} times ({}); its item stays "
                        "unsettled and is fetched again after a restart",
                        write_failures_before_drop, error);
                    self->writes.pop_front();
                }
                batch = 1;
            }
            self->writer_timer.expires_after(backoff);
            boost::system::error_code ec;
            co_await self->writer_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            backoff = std::min<clock::duration>(backoff * 2, write_backoff_max);
        }
    }

    // ---- jobs, tenants, hosts -----------------------------------------------------------------

    tenant& tenant_for(const std::string& owner) {
        for (auto& t : tenants) {
            if (t->owner == owner) {
                return *t;
            }
        }
        tenants.push_back(std::make_unique<tenant>());
        tenants.back()->owner = owner;
        return *tenants.back();
    }

    void add_job(const job_row& row) {
        if (jobs.count(row.job_id) != 0) {
            return;
        }
        auto job = std::make_shared<active_job>();
        job->row = row;
        job->render = render_from_json(row.render);
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
        auto& owner = tenant_for(row.owner);
        job->owner = &owner;
        owner.jobs.push_back(job);
        jobs.emplace(row.job_id, std::move(job));
        wake();
    }

    // Loads unfinished jobs and pending webhooks (at start; again if that read failed).
    void load() {
        try {
            for (const auto& row : db.unfinished_jobs()) {
                add_job(row);
            }
            for (const auto& row : db.pending_webhooks()) {
                webhook_starts.push_back(row.job_id);
            }
            loaded = true;
        } catch (const std::exception& e) {
            spdlog::warn("job runner: reading unfinished jobs failed ({}); retrying", e.what());
        }
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
            slot = std::make_unique<host_policies>(crawl::guard_options_of(crawl, overrides), retry,
                                                   http, origin->label);
            slot->origin = origin->key;
            slot->proxies = proxies_for(job);
        }
        return slot.get();
    }

    // The `proxies:` of the job's profile, one set (rotation and health) shared by its jobs;
    // null when it has none.
    crawl::proxy_set* proxies_for(const active_job& job) {
        return proxies_of(job.row.profile, job.profile->crawl);
    }

    crawl::proxy_set* proxies_of(const std::string& profile, const crawl::crawl_options& options) {
        if (options.proxy.list.empty()) {
            return nullptr;
        }
        auto& set = proxy_sets[profile];
        if (!set) {
            set = std::make_unique<crawl::proxy_set>(options.proxy, options.circuit_breaker,
                                                     nullptr, std::random_device{}());
        }
        return set.get();
    }

    // SIGHUP: every profile's proxies_file again. A set not made yet is made now, so a job
    // submitted later starts from the file as it is, not as it was at start.
    void reload_proxies() {
        for (const auto& [name, profile] : config.profiles) {
            const auto& options = profile.crawl;
            if (options.proxy.file.empty()) {
                continue;
            }
            spdlog::info("SIGHUP: reloading proxies_file of profile {}", name);
            if (auto* set = proxies_of(name, options)) {
                (void)set->reload_file(options.proxy);
            }
        }
    }

    // rate_limit.global of the job's profile: one bucket over all its hosts, shared by its jobs.
    resilience::token_bucket& global_bucket_for(const active_job& job) {
        const auto& global = job.profile->crawl.rate_limit.global;
        return global_buckets.try_emplace(job.row.profile, global.per_second, global.burst)
            .first->second;
    }

    static bool has_work(const active_job& job, clock::time_point now) {
        if (job.cancelled) {
            return false;
        }
        if (!job.ready.empty()) {
            return true;
        }
        if (job.held >= max_held_per_job) {
            return false;
        }
        return !job.buffer.empty() || (!job.exhausted && now >= job.refill_after);
    }

    static bool has_work(const tenant& t, clock::time_point now) {
        return std::any_of(t.jobs.begin(), t.jobs.end(),
                           [now](const auto& job) { return has_work(*job, now); });
    }

    // The next item of `job`: a woken one first, else the next unsettled one from jobs_db.
    item_ptr take_item(const std::shared_ptr<active_job>& job, clock::time_point now) {
        if (!job->ready.empty()) {
            auto item = std::move(job->ready.front());
            job->ready.pop_front();
            return item;
        }
        if (job->buffer.empty() && !job->exhausted) {
            try {
                auto rows = db.queued_items(job->row.job_id, job->last_index, refill_page);
                job->exhausted = rows.empty();
                for (auto& row : rows) {
                    job->last_index = row.index;
                    job->buffer.push_back(std::move(row));
                }
            } catch (const std::exception& e) {
                spdlog::warn("job {}: reading its items failed ({}); retrying", job->row.job_id,
                             e.what());
                job->refill_after = now + heartbeat_every;
                return nullptr;
            }
        }
        if (job->buffer.empty()) {
            return nullptr;
        }
        auto row = std::move(job->buffer.front());
        job->buffer.pop_front();
        auto item = std::make_shared<pending_item>();
        item->job = job;
        item->result_id = std::move(row.result_id);
        item->url = std::move(row.url);
        item->render = item_render(row.render, job->render);
        if (row.attempts > 0 || !row.waiting_for.empty()) {
            // Left unsettled by an earlier run of the service: this run starts it afresh.
            enqueue([id = item->result_id](jobs_db& d) { d.set_progress(id, item_progress{}); });
        }
        return item;
    }

    // ---- parking and waking -------------------------------------------------------------------

    void park(host_policies& host, item_ptr item) {
        ++item->job->held;
        host.parked[item->job->row.owner].push_back(std::move(item));
        ++host.parked_count;
    }

    void delay(item_ptr item, clock::time_point until) {
        ++item->job->held;
        delayed.emplace(until, delayed_entry{std::move(item), nullptr});
    }

    void wake_host_at(host_policies& host, clock::time_point when) {
        if (when < host.wake_at) {
            host.wake_at = when;
            delayed.emplace(when, delayed_entry{nullptr, &host});
        }
    }

    static void back_to_job(item_ptr item) {
        auto& job = *item->job;
        --job.held;
        if (!job.cancelled) {
            job.ready.push_back(std::move(item));
        }
    }

    // Moves up to `count` parked items back to their jobs, round-robin over the keys; with
    // `fresh_first`, the first one is an item that never failed when there is one (a half-open
    // probe goes to such an item: docs/config.md, "Circuit breakers").
    void unpark(host_policies& host, std::size_t count, bool fresh_first) {
        for (std::size_t moved = 0; moved < count && host.parked_count > 0; ++moved) {
            item_ptr item;
            if (fresh_first && moved == 0) {
                for (auto it = host.parked.begin(); it != host.parked.end() && !item; ++it) {
                    auto& queue = it->second;
                    const auto fresh = std::find_if(queue.begin(), queue.end(), [](const auto& p) {
                        return !p->failed_before;
                    });
                    if (fresh != queue.end()) {
                        item = std::move(*fresh);
                        queue.erase(fresh);
                        if (queue.empty()) {
                            host.parked.erase(it);
                        }
                        break;
                    }
                }
            }
            if (!item) {
                auto it = host.parked.upper_bound(host.last_owner);
                if (it == host.parked.end()) {
                    it = host.parked.begin();
                }
                host.last_owner = it->first;
                item = std::move(it->second.front());
                it->second.pop_front();
                if (it->second.empty()) {
                    host.parked.erase(it);
                }
            }
            --host.parked_count;
            back_to_job(std::move(item));
        }
    }

    static bool has_fresh_parked(const host_policies& host) {
        for (const auto& [owner, queue] : host.parked) {
            for (const auto& item : queue) {
                if (!item->failed_before) {
                    return true;
                }
            }
        }
        return false;
    }

    // The host's guard may answer otherwise now (a slot freed, an outcome recorded, its time
    // came): as many of its parked items as it has free slots ask again.
    void wake_host(host_policies& host) {
        const auto limit = host.guard.concurrency();
        const auto used = host.guard.in_flight();
        const std::size_t free =
            limit == 0 ? host.parked_count : (limit > used ? limit - used : std::size_t{0});
        unpark(host, std::max<std::size_t>(free, 1), true);
    }

    void release_due(clock::time_point now) {
        while (!delayed.empty() && delayed.begin()->first <= now) {
            auto entry = std::move(delayed.begin()->second);
            delayed.erase(delayed.begin());
            if (entry.item) {
                back_to_job(std::move(entry.item));
            } else {
                entry.host->wake_at = clock::time_point::max();
                wake_host(*entry.host);
            }
        }
    }

    // ---- scheduling ---------------------------------------------------------------------------

    // Free slots go round-robin over the keys with work, each under its share, and within a key
    // round-robin over its jobs. Every step takes one item (which starts, waits or settles) or
    // finds none, so a pass ends.
    void dispatch(clock::time_point now) {
        if (stopping || tenants.empty()) {
            return;
        }
        std::size_t active = 0;
        for (const auto& t : tenants) {
            active += t->in_flight > 0 || has_work(*t, now) ? 1 : 0;
        }
        const std::size_t per_key_cap = config.in_flight_per_key != 0
                                            ? config.in_flight_per_key
                                            : std::max<std::size_t>(1, config.concurrency * 3 / 4);
        const std::size_t share = std::min(
            per_key_cap,
            std::max<std::size_t>(1, config.concurrency / std::max<std::size_t>(1, active)));
        for (std::size_t step = 0; step < max_dispatch_steps && in_flight < config.concurrency &&
                                   writes.size() < max_pending_writes;
             ++step) {
            // Keys under their share first; then, so that no slot stays idle while a key has
            // work (another key needing fewer than its share leaves the rest), keys under the
            // per-key cap.
            tenant* chosen = nullptr;
            for (const std::size_t limit : {share, per_key_cap}) {
                for (std::size_t n = 0; n < tenants.size() && chosen == nullptr; ++n) {
                    auto& t = *tenants[(tenant_turn + n) % tenants.size()];
                    if (t.in_flight < limit && has_work(t, now)) {
                        chosen = &t;
                        tenant_turn = (tenant_turn + n + 1) % tenants.size();
                    }
                }
                if (chosen != nullptr) {
                    break;
                }
            }
            if (chosen == nullptr) {
                break;
            }
            std::shared_ptr<active_job> job;
            for (std::size_t n = 0; n < chosen->jobs.size(); ++n) {
                const auto& candidate = chosen->jobs[(chosen->turn + n) % chosen->jobs.size()];
                if (has_work(*candidate, now)) {
                    job = candidate;
                    chosen->turn = (chosen->turn + n + 1) % chosen->jobs.size();
                    break;
                }
            }
            auto item = job ? take_item(job, now) : nullptr;
            if (!item) {
                continue;
            }
            try {
                try_start(item, now);
            } catch (const std::exception& e) {
                spdlog::error("item {}: {}", item->result_id, e.what());
                settle(*item, "failed", {}, core::failure_kind::internal);
            }
        }
    }

    void count_failure(const host_policies& host, core::failure_kind kind) {
        if (engine_metrics != nullptr) {
            engine_metrics->failures
                .with({engine_metrics->host_label(host.label), core::to_string(kind)})
                .inc();
        }
    }

    // Asks the item's host guard: starts an attempt, or parks or delays the item, or settles it
    // (no host, no profile, the host given up).
    void try_start(const item_ptr& item, clock::time_point now) {
        auto& job = *item->job;
        if (job.cancelled) {
            return;
        }
        if (job.profile == nullptr) {
            settle(*item, "failed", {}, core::failure_kind::unknown_profile);
            return;
        }
        host_policies* const host = policies_for(job, item->url);
        if (host == nullptr) {
            settle(*item, "failed", {}, core::failure_kind::invalid_url);
            return;
        }
        auto& guard = host->guard;
        auto& progress = item->progress;
        if (guard.gives_up(now)) {
            count_failure(*host, core::failure_kind::circuit_open);
            settle(*item, "failed", {}, core::failure_kind::circuit_open);
            return;
        }
        if (item->retry_due) {
            // Over the host's retry budget the retry waits instead of adding load.
            if (!guard.try_retry(now)) {
                if (engine_metrics != nullptr) {
                    engine_metrics->retry_budget_exhausted
                        .with({engine_metrics->host_label(host->label)})
                        .inc();
                }
                progress.waiting_for = "retry_budget";
                progress.next_attempt_at_ms = 0;  // re-checked, no known time
                persist(*item);
                delay(item, now + resilience::budget_recheck);
                return;
            }
            item->retry_due = false;
        }
        const auto admitted = guard.admit(now, &global_bucket_for(job));
        if (!admitted.permit) {
            if (admitted.why == resilience::wait_reason::breaker) {
                progress.waiting_for = "circuit_breaker";
                progress.next_attempt_at_ms = admitted.not_before == clock::time_point::max()
                                                  ? 0
                                                  : unix_ms_at(admitted.not_before);
                persist(*item);
            }
            // A time (token, breaker open) wakes the host then; anything else (a slot, a
            // probe's answer) comes with its next release or outcome.
            if (admitted.not_before != clock::time_point::max()) {
                wake_host_at(*host, admitted.not_before);
            }
            park(*host, item);
            return;
        }
        const auto permit = *admitted.permit;
        if (permit.probe && item->failed_before && has_fresh_parked(*host)) {
            // A half-open probe asks whether the host is healthy: an item that never failed
            // answers that, a retry of one known to fail does not. Hand it over.
            guard.cancel(permit);
            park(*host, item);
            unpark(*host, 1, true);
            return;
        }
        if (!progress.waiting_for.empty()) {
            progress.waiting_for.clear();
            progress.next_attempt_at_ms = 0;
            persist(*item);
        }
        ++progress.attempts;
        if (progress.attempts == 1) {
            guard.on_first_attempt(now);  // first attempts earn retry budget
        }
        if (engine_metrics != nullptr) {
            engine_metrics->requests.with({engine_metrics->host_label(host->label), "GET"}).inc();
        }
        if (job.row.status == "queued") {
            job.row.status = "running";
            enqueue([id = job.row.job_id](jobs_db& d) { d.mark_running(id); });
        }
        ++in_flight;
        ++job.in_flight;
        ++job.owner->in_flight;
        asio::co_spawn(executor, attempt(shared_from_this(), item, host, permit),
                       log_exception("item " + item->result_id + ": its attempt"));
    }

    // The item's result, queued for jobs_db.
    // `error`: why a failed item failed; none for an item that is ok.
    void settle(pending_item& item, std::string_view status, std::string data,
                std::optional<core::failure_kind> error = std::nullopt) {
        const auto& p = item.progress;
        enqueue([id = item.result_id, status = std::string(status), data = std::move(data),
                 error = error ? std::string(core::to_string(*error)) : std::string(),
                 attempts = p.attempts, http_status = p.http_status,
                 last_error = p.last_error](jobs_db& d) {
            d.store_result(id, status, data, error, attempts, http_status, last_error);
        });
        metrics.items.with({status}).inc();
    }

    // One attempt in flight: holds one of the service's slots and one of its key's until the
    // answer is judged, whatever happens (the counters are given back by a destructor).
    static asio::awaitable<void> attempt(std::shared_ptr<state> self, item_ptr item,
                                         host_policies* host, resilience::breaker_permit permit) {
        struct flight_slot {
            state& s;
            active_job& job;
            ~flight_slot() {
                --s.in_flight;
                --job.in_flight;
                --job.owner->in_flight;
                if (!s.stopping) {
                    s.wake();  // not while the io_context may be tearing its timers down
                }
            }
        } slot{*self, *item->job};
        net::http_request request;
        request.url = item->url;
        const auto deadline = clock::now() + host->http->timeouts.total;
        std::optional<boost::system::result<net::http_response>> answer;
        try {
            if (host->proxies != nullptr) {
                answer.emplace(co_await host->proxies->fetch(self->client, std::move(request),
                                                             host->http, deadline, host->origin,
                                                             std::nullopt, nullptr));
            } else {
                answer.emplace(
                    co_await self->client.fetch(std::move(request), host->http, deadline));
            }
        } catch (const std::exception& e) {
            host->guard.cancel(permit);  // the slot and a probe are not lost with the item
            self->wake_host(*host);
            spdlog::error("item {}: {}", item->result_id, e.what());
            if (!self->stopping && !item->job->cancelled) {
                self->settle(*item, "failed", {}, core::failure_kind::internal);
            }
            co_return;
        }
        std::optional<core::failure_kind> render_failure;
        try {
            if (item->render && *answer && renders(**answer)) {
                render_failure = co_await render_page(self, item, host, **answer);
            }
        } catch (const std::exception& e) {
            spdlog::error("item {}: rendering: {}", item->result_id, e.what());
            render_failure = core::failure_kind::render_crash;
        }
        try {
            self->judge(item, *host, permit, *answer, render_failure);
        } catch (const std::exception& e) {
            spdlog::error("item {}: {}", item->result_id, e.what());
            self->settle(*item, "failed", {}, core::failure_kind::internal);
        }
    }

    // A 2xx answer whose type is HTML (or not said) is rendered when its item asks.
    static bool renders(const net::http_response& response) {
        if (response.status < 200 || response.status >= 300) {
            return false;
        }
        const auto type = response.header("Content-Type");
        return type.empty() || type.find("html") != std::string_view::npos;
    }

    // The item's `render`: the answer's body becomes the DOM the browser built from it (its
    // sub-requests to the same host under the host's guard, the egress guard on all of them).
    // The failure, if the page could not be rendered.
    static asio::awaitable<std::optional<core::failure_kind>> render_page(
        std::shared_ptr<state> self, item_ptr item, host_policies* host,
        net::http_response& response) {
        if (!self->renderer) {
            co_return core::failure_kind::render_crash;
        }
        auto gate = std::make_shared<crawl::host_render_gate>(
            self->executor, host->guard,
            [self, host, profile = item->job->row.profile](
                const resilience::breaker_permit& permit,
                const resilience::attempt_outcome& outcome) {
                bool failed_before = false;  // each sub-request is a request of its own
                const auto effect =
                    host->guard.record(permit, outcome, failed_before, clock::now());
                if (effect.opened) {
                    spdlog::warn("circuit opened for {} (profile {})", host->label, profile);
                }
                self->wake_host(*host);
            });
        crawl::render_input page{response.final_url.empty() ? item->url : response.final_url,
                                 response.status,
                                 std::string(response.header("Content-Type")),
                                 std::move(response.body),
                                 std::move(gate),
                                 nullptr,  // no cookie jar: each page starts with no cookie
                                 self->client.user_agent_for(net::http_request{}, *host->http),
                                 response.proxy};
        crawl::render_options how = *item->render;
        crawl::render_outcome rendered = co_await self->renderer->render(std::move(page), how);
        if (rendered.failure) {
            response.body.clear();
            co_return rendered.failure;
        }
        response.body = std::move(rendered.html);
        co_return std::nullopt;
    }

    // What the answer means: the guard hears it, then the item is retried (delayed), failed or
    // extracted and settled.
    void judge(const item_ptr& item, host_policies& host, const resilience::breaker_permit& permit,
               boost::system::result<net::http_response>& result,
               std::optional<core::failure_kind> render_failure) {
        auto& guard = host.guard;
        auto& job = *item->job;
        auto& progress = item->progress;
        const resilience::attempt_outcome outcome = net::outcome_of(result);
        const auto now = clock::now();
        if (outcome.error && content_failure(*outcome.error)) {
            guard.cancel(permit);  // neither success nor failure of the host
        } else {
            guard.release();
            const auto effect = guard.record(permit, outcome, item->failed_before, now);
            if (effect.opened) {
                spdlog::warn("circuit opened for {} (profile {})", host.label, job.row.profile);
            }
        }
        wake_host(host);
        if (stopping || job.cancelled) {
            return;  // stopping: left unsettled, the next start fetches it again
        }
        progress.http_status = result ? result->status : 0;
        progress.last_error =
            outcome.error ? std::string(core::to_string(net::failure_kind_of(*outcome.error)))
                          : std::string();
        const auto decision =
            host.retry.classify(outcome, static_cast<unsigned>(progress.attempts), "GET", false,
                                item->previous_delay, rng, std::chrono::system_clock::now());
        if (engine_metrics != nullptr) {
            const auto label = engine_metrics->host_label(host.label);
            if (result) {
                engine_metrics->responses.with({label, std::to_string(result->status)}).inc();
            } else {
                engine_metrics->request_errors.with({label, progress.last_error}).inc();
            }
        }
        if (decision.what == resilience::verdict::retry) {
            if (engine_metrics != nullptr) {
                engine_metrics->retries
                    .with({engine_metrics->host_label(host.label), decision.reason})
                    .inc();
            }
            item->previous_delay = decision.delay;
            item->retry_due = true;
            progress.waiting_for = "backoff";
            progress.next_attempt_at_ms = unix_ms_at(now + decision.delay);
            persist(*item);
            delay(item, now + decision.delay);
            return;
        }
        if (decision.what == resilience::verdict::fail) {
            count_failure(host, decision.failure);
            settle(*item, "failed", {}, decision.failure);
            return;
        }
        if (render_failure) {
            // The host answered well (its guard heard a success); the page could not be rendered.
            count_failure(host, *render_failure);
            settle(*item, "failed", {}, *render_failure);
            return;
        }
        crawl::fetched_page page;
        page.request.http.url = item->url;
        page.response = std::move(*result);
        page.rendered = item->render.has_value();
        page.fetched_at = std::chrono::system_clock::now();
        std::vector<pipelines::item> items;
        job.extractors->extract(page, items);
        if (items.empty()) {
            settle(*item, "failed", {}, core::failure_kind::no_item);
            return;
        }
        std::string data;
        if (items.size() == 1) {
            pipelines::append_json(data, items.front());
        } else {
            boost::json::array list;
            for (auto& one : items) {
                list.emplace_back(std::move(one));
            }
            pipelines::append_json(data, boost::json::value(std::move(list)));
        }
        if (data.size() > config.max_item_bytes) {
            count_failure(host, core::failure_kind::item_too_large);
            settle(*item, "failed", {}, core::failure_kind::item_too_large);
            return;
        }
        settle(*item, "ok", std::move(data));
    }

    // ---- jobs ending, webhooks, retention -----------------------------------------------------

    void finish_jobs() {
        for (auto& owner : tenants) {
            auto& list = owner->jobs;
            for (auto it = list.begin(); it != list.end();) {
                auto& job = **it;
                const bool ended =
                    job.in_flight == 0 && (job.cancelled || (job.exhausted && job.buffer.empty() &&
                                                             job.ready.empty() && job.held == 0));
                if (!ended) {
                    ++it;
                    continue;
                }
                const auto id = job.row.job_id;
                const bool webhook = !job.row.callback_url.empty();
                if (job.cancelled) {
                    // The cancel stored the webhook's event as pending (jobs_db::cancel).
                    if (webhook) {
                        webhook_starts.push_back(id);
                    }
                } else {
                    // Created before the first attempt and stored with the job's end: a restart
                    // resends this same event id.
                    const auto event_id = webhook ? random_id("evt_") : std::string();
                    enqueue([id, event_id,
                             at = unix_ms_now()](jobs_db& d) { d.finish_job(id, at, event_id); },
                            [self = shared_from_this(), id, webhook] {
                                spdlog::info("job {} done", id);
                                if (webhook) {
                                    self->webhook_starts.push_back(id);
                                    self->wake();
                                }
                            });
                }
                jobs.erase(id);
                it = list.erase(it);
                owner->turn = 0;
            }
        }
    }

    // Starts the webhooks waiting to start: each job's pending event, read from jobs_db.
    void start_webhooks() {
        for (std::size_t n = webhook_starts.size(); n > 0; --n) {
            const auto id = std::move(webhook_starts.front());
            webhook_starts.pop_front();
            if (webhooks_sending.count(id) != 0) {
                continue;
            }
            std::optional<job_row> row;
            std::vector<std::string> ids;
            try {
                row = db.job(id);
                if (!row || row->webhook_state != "pending" || row->callback_url.empty() ||
                    row->event_id.empty()) {
                    continue;
                }
                ids = db.result_ids(id);
            } catch (const std::exception& e) {
                spdlog::warn("job {}: reading it for its webhook failed ({}); retrying", id,
                             e.what());
                webhook_starts.push_back(id);
                continue;
            }
            webhook_event event{row->callback_url, row->event_id,
                                webhook_body(row->event_id, *row, ids), id};
            webhooks_sending.insert(id);
            ++webhooks_in_flight;
            asio::co_spawn(executor, send_webhook(shared_from_this(), id, std::move(event)),
                           log_exception("job " + id + ": its webhook"));
        }
    }

    static asio::awaitable<void> send_webhook(std::shared_ptr<state> self, std::string job_id,
                                              webhook_event event) {
        struct sending {
            state& s;
            std::string id;
            bool handed_over = false;
            ~sending() {
                --s.webhooks_in_flight;
                if (!handed_over) {
                    s.webhooks_sending.erase(id);
                }
            }
        } guard{*self, job_id};
        // deliver_webhook logs each failed attempt with the job and why.
        auto observer = [self](unsigned, unsigned status, bool retrying) {
            self->metrics.webhook_deliveries
                .with({retrying                        ? "retried"
                       : status >= 200 && status < 300 ? "delivered"
                                                       : "failed"})
                .inc();
        };
        const auto event_id = event.event_id;
        const auto outcome = co_await deliver_webhook(self->client, std::move(event),
                                                      self->config.webhook, self->rng, observer);
        if (self->stopping) {
            co_return;  // left pending: the next start sends it again
        }
        guard.handed_over = true;
        const std::string state_name =
            outcome == delivery_outcome::delivered ? "delivered" : "failed";
        self->enqueue([job_id, event_id,
                       state_name](jobs_db& d) { d.set_webhook(job_id, event_id, state_name); },
                      [self, job_id] { self->webhooks_sending.erase(job_id); });
    }

    // Deletes expired and DELETEd ended jobs (docs/bulk-api.md, "Retention"), once a second.
    void sweep(clock::time_point now) {
        if (now < next_sweep || writes.size() > write_batch) {
            return;
        }
        next_sweep = now + heartbeat_every;
        const auto ttl = config.jobs_ttl.count();
        enqueue([ttl](jobs_db& d) {
            if (const auto n = d.delete_expired(unix_ms_now(), ttl); n > 0) {
                spdlog::info("jobs_db: deleted {} ended job{}", n, n == 1 ? "" : "s");
            }
        });
    }

    void retry_submitted() {
        for (std::size_t n = submitted_retry.size(); n > 0; --n) {
            const auto id = std::move(submitted_retry.front());
            submitted_retry.pop_front();
            submitted(id);
        }
    }

    void submitted(const std::string& id) {
        try {
            if (auto row = db.job(id)) {
                add_job(*row);
            }
        } catch (const std::exception& e) {
            spdlog::warn("job {}: reading the new job failed ({}); retrying", id, e.what());
            submitted_retry.push_back(id);
        }
    }

    void cancel(const std::string& id) {
        const auto found = jobs.find(id);
        if (found == jobs.end()) {
            // Not running here (ended meanwhile, or never loaded): its pending webhook, if any.
            webhook_starts.push_back(id);
            wake();
            return;
        }
        auto& job = *found->second;
        job.cancelled = true;
        job.buffer.clear();
        job.ready.clear();
        // Its waiting items end now, not when their waits would.
        for (auto it = delayed.begin(); it != delayed.end();) {
            if (it->second.item && it->second.item->job.get() == &job) {
                --job.held;
                it = delayed.erase(it);
            } else {
                ++it;
            }
        }
        for (auto& [key, host] : hosts) {
            const auto queue = host->parked.find(job.row.owner);
            if (queue == host->parked.end()) {
                continue;
            }
            auto& items = queue->second;
            const auto before = items.size();
            items.erase(std::remove_if(items.begin(), items.end(),
                                       [&job](const auto& p) { return p->job.get() == &job; }),
                        items.end());
            const auto removed = before - items.size();
            host->parked_count -= removed;
            job.held -= removed;
            if (items.empty()) {
                host->parked.erase(queue);
            }
        }
        wake();
    }

    static asio::awaitable<void> schedule(std::shared_ptr<state> self) {
        while (!self->stopping) {
            auto now = clock::now();
            self->heartbeat = now;
            self->dirty = false;
            if (!self->loaded) {
                self->load();
            }
            self->retry_submitted();
            self->release_due(now);
            self->dispatch(now);
            self->finish_jobs();
            self->start_webhooks();
            self->sweep(now);
            if (self->dirty) {
                continue;
            }
            auto until = now + heartbeat_every;
            if (!self->delayed.empty()) {
                until = std::min(until, self->delayed.begin()->first);
            }
            self->wake_timer.expires_at(until);
            boost::system::error_code ec;
            co_await self->wake_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
    }

    // Runs the scheduler; should it ever throw, logs it and starts it again a second later.
    void spawn_scheduler() {
        scheduler_running = true;
        heartbeat = clock::now();
        asio::co_spawn(
            executor, schedule(shared_from_this()),
            [self = shared_from_this()](std::exception_ptr error) {
                self->scheduler_running = false;
                if (!error) {
                    return;
                }
                self->last_crash = core::exception_text(error);
                if (self->stopping) {
                    return;
                }
                spdlog::error("job runner: the scheduler failed ({}); restarting it in 1 s",
                              self->last_crash);
                auto timer = std::make_shared<asio::steady_timer>(self->executor, restart_after);
                timer->async_wait([self, timer](const boost::system::error_code&) {
                    if (!self->stopping) {
                        self->spawn_scheduler();
                    }
                });
            });
    }
};

job_runner::job_runner(asio::any_io_executor executor, const config::service_config& config,
                       jobs_db& db, net::http_client& client, service_metrics& metrics,
                       metrics::crawl_metrics* engine_metrics)
    : state_(std::make_shared<state>(executor, config, db, client, metrics, engine_metrics)) {}

void job_runner::set_renderer(std::shared_ptr<crawl::page_renderer> renderer) {
    state_->renderer = std::move(renderer);
}

job_runner::~job_runner() {
    state_->stopping = true;
    state_->writer_abandon = true;
    state_->wake_timer.cancel();
    state_->writer_timer.cancel();
}

void job_runner::start() {
    asio::co_spawn(state_->executor, state::write_loop(state_),
                   log_exception("job runner: the jobs_db writer"));
    state_->spawn_scheduler();
}

void job_runner::job_submitted(const std::string& job_id) {
    state_->submitted(job_id);
}

void job_runner::job_cancelled(const std::string& job_id) {
    state_->cancel(job_id);
}

void job_runner::reload_proxies() {
    state_->reload_proxies();
}

std::optional<std::string> job_runner::health() const {
    const auto& s = *state_;
    const auto now = clock::now();
    if (!s.scheduler_running && !s.stopping) {
        return "job runner: the scheduler is being restarted after an error (" + s.last_crash + ")";
    }
    if (now - s.heartbeat > stalled_after) {
        return "job runner: the scheduler has not run for " +
               std::to_string(
                   std::chrono::duration_cast<std::chrono::seconds>(now - s.heartbeat).count()) +
               " s";
    }
    if (s.writes_failing_since && now - *s.writes_failing_since > writes_failing_after) {
        return "jobs_db: writes have failed for " +
               std::to_string(
                   std::chrono::duration_cast<std::chrono::seconds>(now - *s.writes_failing_since)
                       .count()) +
               " s (" + s.write_error + "); " + std::to_string(s.writes.size()) + " writes wait";
    }
    return std::nullopt;
}

asio::awaitable<void> job_runner::stop() {
    auto& s = *state_;
    s.stopping = true;
    s.wake();
    asio::steady_timer timer(s.executor);
    // Bounded: in-flight fetches end at their deadline at the latest; ten seconds is enough to
    // notice they have and leave the rest to the next start.
    for (int i = 0; i < 200 && (s.in_flight != 0 || s.scheduler_running); ++i) {
        co_await pause(timer);
    }
    // What settled is written if the database takes it within 3 s; the rest is fetched again
    // after the next start.
    s.writer_stop = true;
    s.writer_timer.cancel();
    for (int i = 0; i < 60 && s.writer_running; ++i) {
        co_await pause(timer);
    }
    if (s.writer_running) {
        spdlog::warn("jobs_db: {} writes left unwritten at stop ({})", s.writes.size(),
                     s.write_error.empty() ? "still busy" : s.write_error);
        s.writer_abandon = true;
        s.writer_timer.cancel();
        for (int i = 0; i < 10 && s.writer_running; ++i) {
            co_await pause(timer);
        }
    }
    s.client.close_idle();
}

}  // namespace harvest::service
