#include "engine/crawl/scheduler.hpp"

#include "engine/core/failure_kind.hpp"
#include "engine/crawl/robots_fetch.hpp"
#include "engine/crawl/shared_backend.hpp"
#include "engine/metrics/crawl_metrics.hpp"
#include "engine/net/url.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cstdio>

namespace harvest::crawl {
namespace asio = boost::asio;

namespace {

std::string uuid_v4() {
    std::uniform_int_distribution<std::uint64_t> dist;
    std::uint64_t hi = dist(thread_rng());
    std::uint64_t lo = dist(thread_rng());
    hi = (hi & 0xffffffffffff0fffull) | 0x0000000000004000ull;  // version 4
    lo = (lo & 0x3fffffffffffffffull) | 0x8000000000000000ull;  // RFC 4122 variant
    char text[37];
    std::snprintf(text, sizeof text, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                  static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xffff),
                  static_cast<unsigned>(lo >> 48),
                  static_cast<unsigned long long>(lo & 0xffffffffffffull));
    return text;
}

}  // namespace

scheduler::scheduler(std::shared_ptr<crawl_context> context,
                     std::shared_ptr<session_keeper> sessions, seed_stream seeds)
    : context_(std::move(context)),
      sessions_(std::move(sessions)),
      seeds_(std::move(seeds)),
      gauges_(context_->metrics) {
    if (auto* metrics = context_->metrics; metrics != nullptr) {
        net_cells_ = {&metrics->connections_opened.with({"http/1.1"}),
                      &metrics->connections_opened.with({"h2"}),
                      &metrics->h2_resends.with({"goaway"}),
                      &metrics->h2_resends.with({"refused_stream"}),
                      &metrics->h2_resends.with({"connection_lost"})};
        h2_streams_ = &metrics->h2_streams.with({});
    }
}

// The client's connection and HTTP/2 figures into their metrics: counters by what grew
// since the last time. On the crawl strand (publish_gauges).
void scheduler::publish_client_stats() {
    if (h2_streams_ == nullptr) {
        return;
    }
    const auto& s = *context_->client.stats();
    const std::array<std::uint64_t, 5> now{s.http1_connections.load(std::memory_order_relaxed),
                                           s.h2_connections.load(std::memory_order_relaxed),
                                           s.h2_goaway_resends.load(std::memory_order_relaxed),
                                           s.h2_refused_resends.load(std::memory_order_relaxed),
                                           s.h2_lost_resends.load(std::memory_order_relaxed)};
    for (std::size_t i = 0; i < now.size(); ++i) {
        if (now[i] > net_published_[i]) {
            net_cells_[i]->inc(now[i] - net_published_[i]);
            net_published_[i] = now[i];
        }
    }
    h2_streams_->set(static_cast<double>(s.h2_streams.load(std::memory_order_relaxed)));
}

// engine.max_requests reached: no seed or link is admitted any more.
bool scheduler::request_limit_reached() const noexcept {
    return context_->options.engine.max_requests != 0 &&
           admitted_ >= context_->options.engine.max_requests;
}

// No seed will be admitted any more: the stream ran out, or the request limit cut it.
bool scheduler::seeds_done() const noexcept {
    return seeds_.exhausted() || request_limit_reached();
}

// Admits a logical request; handles dedup, limits and invalid URLs. Strand only.
void scheduler::admit(crawl_request&& request, clock::time_point now) {
    if (request_limit_reached()) {
        return;
    }
    const auto& idem = context_->options.retry.idempotency_methods;
    if (auto own = find_header(request.http.headers, context_->options.retry.idempotency_header)) {
        request.idempotency_key = *own;  // the caller's key makes the request retryable
    } else if (std::find(idem.begin(), idem.end(), request.http.method) != idem.end()) {
        // One key per logical request, unchanged on every retry.
        request.idempotency_key = uuid_v4();
        request.http.headers.emplace_back(context_->options.retry.idempotency_header,
                                          request.idempotency_key);
    }
    std::string url;  // of a request refused as an invalid URL
    auto result = frontier::admit_result::queued;
    if (!context_->shared) {
        result = context_->queue.admit(std::move(request), now);  // whole unless queued
        if (result == frontier::admit_result::invalid_url) {
            url = std::move(request.http.url);  // NOLINT(bugprone-use-after-move): left whole
        }
    } else {
        // Otherwise the shared frontier deduplicates it cluster-wide and leases it back.
        url = request.http.url;
        if (!context_->shared->admit(std::move(request))) {
            result = frontier::admit_result::invalid_url;
        }
    }
    switch (result) {
        case frontier::admit_result::queued:
            ++admitted_;
            break;
        case frontier::admit_result::duplicate:
            context_->stats.dedup_skipped.fetch_add(1, std::memory_order_relaxed);
            break;
        case frontier::admit_result::invalid_url:
            ++admitted_;
            context_->stats.count_failure(core::failure_kind::invalid_url);
            pending_failures_.push_back(
                failure_record{std::move(url), core::failure_kind::invalid_url, 0, std::nullopt,
                               std::nullopt, std::chrono::system_clock::now()});
            break;
    }
}

void scheduler::refill_seeds(clock::time_point now) {
    // Keep enough work queued to fill every slot, no more: seeds stay streamed.
    const std::size_t low_water = 2 * context_->options.engine.concurrency + 1024;
    while (!context_->stopping && !seeds_done() && context_->queue.ready_size() < low_water) {
        auto next = seeds_.next();
        if (!next) {
            break;
        }
        // Seeds are dealt round-robin over the sessions.
        next->session = next_seed_session_;
        next_seed_session_ = (next_seed_session_ + 1) % context_->identities.size();
        admit(std::move(*next), now);
    }
}

// Per-host gauges and the counters the frontier keeps, at most 10 times a second: with
// thousands of hosts this walk must not run once per completion.
// Returns false when skipped (published less than 100 ms ago): the caller then wakes up
// again soon enough that a quiet tail of the crawl does not leave the gauges stale.
bool scheduler::publish_gauges(clock::time_point now, bool force) {
    if (!force && now - last_publish_ < gauge_interval) {
        return false;
    }
    last_publish_ = now;
    if (context_->metrics != nullptr) {
        context_->metrics->inflight_requests.with({}).set(static_cast<double>(in_flight_));
        context_->metrics->frontier_requests.with({"ready"}).set(
            static_cast<double>(context_->queue.ready_size() - context_->queue.spilled_size()));
        context_->metrics->frontier_requests.with({"spilled"})
            .set(static_cast<double>(context_->queue.spilled_size()));
        context_->metrics->frontier_requests.with({"delayed"})
            .set(static_cast<double>(context_->queue.delayed_size()));
        publish_client_stats();
    }
    context_->stats.in_flight.store(in_flight_, std::memory_order_relaxed);
    context_->stats.queued.store(context_->queue.ready_size() + context_->queue.delayed_size(),
                                 std::memory_order_relaxed);
    // The gauges' walk over the hosts counts open breakers too; without metrics, ask.
    const auto not_closed = gauges_.publish(context_->queue, now);
    context_->stats.open_breakers.store(
        not_closed ? *not_closed : context_->queue.open_breakers(now), std::memory_order_relaxed);
    context_->stats.short_circuited.store(context_->queue.short_circuited(),
                                          std::memory_order_relaxed);
    context_->stats.retry_budget_exhausted.store(context_->queue.budget_exhausted(),
                                                 std::memory_order_relaxed);
    context_->stats.frontier_spilled.store(context_->queue.spilled_total(),
                                           std::memory_order_relaxed);
    context_->stats.frontier_spill_bytes_peak.store(context_->queue.spill_bytes_peak(),
                                                    std::memory_order_relaxed);
    context_->stats.frontier_memory_bytes_peak.store(context_->queue.memory_bytes_peak(),
                                                     std::memory_order_relaxed);
    context_->stats.dedup_bytes.store(context_->queue.dedup_bytes(), std::memory_order_relaxed);
    return true;
}

asio::awaitable<void> scheduler::schedule() {
    auto self = shared_from_this();
    for (;;) {
        auto now = clock::now();
        sessions_->save_cookies(now, false);
        refill_seeds(now);
        for (auto& request : context_->queue.expire_open_hosts(now)) {
            if (context_->shared) {
                context_->shared->complete(request);
            }
            context_->stats.count_failure(core::failure_kind::circuit_open);
            pending_failures_.push_back(failure_record{
                request.http.url, core::failure_kind::circuit_open, request.attempt, std::nullopt,
                std::nullopt, std::chrono::system_clock::now(), request.fingerprint});
        }
        if (!pending_failures_.empty()) {
            if (context_->metrics != nullptr) {
                for (const auto& failure : pending_failures_) {
                    if (host_state* host = context_->queue.host_for(failure.url)) {
                        gauges_.count_failure(*host, failure.error);
                    }
                }
            }
            auto failures = std::move(pending_failures_);
            pending_failures_.clear();
            for (auto& failure : failures) {
                co_await context_->output->on_failure(std::move(failure));
            }
            continue;  // time passed while the sink took them
        }
        while (!context_->stopping && in_flight_ < context_->options.engine.concurrency) {
            auto taken = context_->queue.take(clock::now());
            if (!taken) {
                break;
            }
            ++in_flight_;
            gauges_.count_sent(*taken->host, taken->request.http.method);
            // On the host's shard, or with one network thread that thread; with more threads
            // sharing one loop (a runner that does not shard), a strand per fetch.
            start_attempt(self, std::move(*taken));
        }
        for (host_state* host : context_->queue.take_robots_fetches()) {
            ++robots_in_flight_;
            gauges_.count_sent(*host, "GET");
            asio::co_spawn(context_->fetch_executor(*host), fetch_robots(self, host),
                           crawl_context::log_failure);
        }
        for (auto& [refused, host] : context_->queue.take_robots_refusals()) {
            if (context_->shared) {
                context_->shared->complete(refused);
            }
            // RFC 9309: an unreachable robots.txt disallows everything, but the record
            // says why: the host was down, not closed to crawlers.
            const auto& unavailable = host->robots_unavailable;
            const core::failure_kind kind = unavailable ? core::failure_kind::robots_unavailable
                                                        : core::failure_kind::robots_disallowed;
            if (!unavailable) {
                context_->stats.robots_disallowed.fetch_add(1, std::memory_order_relaxed);
            }
            context_->stats.count_failure(kind);
            pending_failures_.push_back(
                failure_record{std::move(refused.http.url), kind, 0,
                               unavailable ? unavailable->status : std::nullopt,
                               unavailable ? unavailable->last_error : std::nullopt,
                               std::chrono::system_clock::now(), refused.fingerprint});
        }
        if (!pending_failures_.empty()) {
            continue;
        }
        const bool published = publish_gauges(clock::now());
        if (in_flight_ == 0 && robots_in_flight_ == 0 && sessions_->logins_in_flight() == 0 &&
            (context_->stopping ||
             (context_->queue.empty() && seeds_done() && pending_failures_.empty() &&
              (!context_->shared || context_->shared->finished())))) {
            break;
        }
        context_->timer.expires_at(
            published ? context_->queue.next_wakeup()
                      : std::min(context_->queue.next_wakeup(), last_publish_ + gauge_interval));
        co_await context_->timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    publish_gauges(clock::now(), true);
    sessions_->save_cookies(clock::now(), true);  // before the sink's last commit writes it
    if (context_->shared) {
        context_->shared->close();
    }
    co_await context_->output->close();
    if (context_->state_log != nullptr) {
        context_->state_log->finish();  // after the sink's last commit
    }
    context_->client.close_idle();
}

// One fetch attempt, then its completion on the strand: a redirected success claims its final
// URL first (claim_redirect); every other attempt is done (complete).
// The spawned coroutine is the attempt itself, with no frame of ours around it: its completion
// comes back to the strand through the spawn's handler.
void scheduler::start_attempt(const std::shared_ptr<scheduler>& self, taken_request&& taken) {
    auto executor = context_->fetch_executor(*taken.host);
    asio::co_spawn(std::move(executor), fetch_attempt(context_, std::move(taken)),
                   [self](const std::exception_ptr& failure, std::unique_ptr<completion> done) {
                       if (failure) {
                           crawl_context::log_failure(failure);
                           return;
                       }
                       asio::post(self->context_->strand, [self, done = std::move(done)]() mutable {
                           if (done->redirected) {
                               self->claim_redirect(std::move(*done));
                           } else {
                               self->complete(std::move(*done));
                           }
                       });
                   });
}

// robots.txt of one origin (robots_fetch.hpp), then on the strand: asked again with the
// host's retry backoff while unavailable, until retry.max_attempts fetches failed.
asio::awaitable<void> scheduler::fetch_robots(std::shared_ptr<scheduler> self, host_state* host) {
    robots_answer answer = co_await fetch_robots_txt(
        self->context_->client, *host, self->context_->stats,
        self->context_->options.http_cache.mode == http_cache_options::kind::replay
            ? self->context_->cache.get()
            : nullptr,
        self->context_->proxies.get());
    asio::post(self->context_->strand, [self, host, answer = std::move(answer)]() mutable {
        const bool unavailable = answer.unavailable;
        --self->robots_in_flight_;
        const unsigned attempts = host->robots_attempts + 1;
        if (unavailable && attempts < std::max(1u, host->policy.options().max_attempts)) {
            const auto delay =
                host->policy.backoff_delay(attempts, clock::duration{}, thread_rng());
            self->context_->queue.retry_robots(*host, clock::now() + delay);
        } else {
            if (unavailable) {
                spdlog::warn(
                    "robots.txt of {} unavailable after {} tries ({}): not "
                    "crawling that host",
                    host->label, attempts,
                    answer.why.status ? "status " + std::to_string(*answer.why.status)
                                      : std::string(core::to_string(*answer.why.last_error)));
                host->robots_unavailable = std::move(answer.why);
            }
            self->context_->queue.set_robots(*host, std::move(answer.rules));
            if (self->context_->shared) {
                // Its rate after robots.txt (Crawl-delay included) for the whole cluster.
                const auto& bucket = host->guard.bucket();
                self->context_->shared->robots_ready(
                    host->origin, bucket.unlimited() ? 0.0 : bucket.rate(), bucket.burst());
            }
        }
        self->context_->wake();
    });
}

// Scheduler strand: a redirected success asks whether its final URL is new to the crawl.
// New: the page is emitted and the URL marked seen. Known: the page only completes its
// request; the URL's own request emits it. Either way the sink is called from a coroutine
// of its own (it may suspend on backpressure), and the request stays in flight until then.
void scheduler::claim_redirect(completion done) {
    if (context_->shared) {
        // Asked of the cluster; the answer comes back on this strand.
        auto held = std::make_shared<completion>(std::move(done));
        const auto target = held->redirect_target;
        // The shared frontier keeps a URL's dedup entry with its host's partition.
        const auto parts =
            net::split_origin(held->redirected->response.final_url, /*key_only=*/true);
        const std::string origin = parts ? parts->key : std::string();
        context_->shared->claim(origin, target, [self = shared_from_this(), held](bool fresh) {
            self->deliver_claimed(std::move(*held), fresh);
        });
        return;
    }
    const bool fresh = context_->queue.claim(done.redirect_target);
    deliver_claimed(std::move(done), fresh);
}

void scheduler::deliver_claimed(completion done, bool fresh) {
    fetched_page page = std::move(*done.redirected);
    done.redirected.reset();
    if (fresh) {
        page.redirect_target = done.redirect_target;
    } else {
        page.duplicate = true;
        context_->stats.redirect_duplicates.fetch_add(1, std::memory_order_relaxed);
    }
    asio::co_spawn(context_->serial_executor(),
                   deliver_redirected(shared_from_this(), std::move(page), std::move(done)),
                   crawl_context::log_failure);
}

asio::awaitable<void> scheduler::deliver_redirected(std::shared_ptr<scheduler> self,
                                                    fetched_page page, completion done) {
    sink_result found = co_await self->context_->output->on_success(std::move(page));
    done.links = std::move(found.links);
    done.link_rules = std::move(found.link_rules);
    asio::post(self->context_->strand,
               [self, done = std::move(done)]() mutable { self->complete(std::move(done)); });
}

// Scheduler strand: the bookkeeping of one finished attempt.
void scheduler::complete(completion&& done) {
    const auto now = clock::now();
    host_state& host = *done.taken.host;
    --in_flight_;
    context_->queue.finish(host);
    if (!done.breaker_recorded) {
        const bool failed_before = done.taken.request.breaker_failure_counted;
        context_->record_outcome(host, done.taken.permit, done.outcome,
                                 done.taken.request.breaker_failure_counted, now);
        if (!failed_before && done.taken.request.breaker_failure_counted &&
            context_->state_log != nullptr && done.decision.what == resilience::verdict::retry) {
            // Its first failure, and it will be tried again: a resume must know it failed.
            context_->state_log->admit(done.taken.request);
        }
    }
    gauges_.count_attempt(host, attempt_metrics{done.status, done.error, done.wire_bytes,
                                                done.elapsed, &done.decision});
    if (done.taken.request.attempt == 1) {
        // Only first attempts earn retry budget: retries must not pay for more retries.
        host.guard.on_first_attempt(now);
    }
    if (context_->shared && done.decision.what != resilience::verdict::retry) {
        // Its page or failure line went to the sink: done once written, not before.
        context_->shared->complete_when_written(done.taken.request);
    }
    if (done.decision.what == resilience::verdict::retry && !context_->stopping) {
        context_->stats.retries.fetch_add(1, std::memory_order_relaxed);
        if (done.decision.from_retry_after) {
            context_->stats.retry_after_waits.fetch_add(1, std::memory_order_relaxed);
        }
        crawl_request& request = done.taken.request;
        request.previous_backoff = done.decision.delay;
        context_->queue.delay(std::move(request), host, now + done.decision.delay);
    }
    const unsigned depth = done.taken.request.depth + 1;
    if (done.status && std::find(context_->options.sessions.retire_on.begin(),
                                 context_->options.sessions.retire_on.end(),
                                 *done.status) != context_->options.sessions.retire_on.end()) {
        sessions_->retire(done.taken.request.session, done.jar);
    }
    if (context_->options.engine.max_depth == 0 || depth <= context_->options.engine.max_depth) {
        const std::string& referer =
            done.page_url.empty() ? done.taken.request.http.url : done.page_url;
        for (std::size_t i = 0; i < done.links.size(); ++i) {
            crawl_request request;
            request.http = net::http_request{"GET", std::move(done.links[i]), {}, {}};
            request.depth = depth;
            request.session = done.taken.request.session;  // a link keeps its identity
            const std::uint32_t rule = i < done.link_rules.size() ? done.link_rules[i] : 0;
            request.follow_rule = rule;
            if (rule != 0 && rule <= context_->options.follow_headers.size()) {
                request.http.headers = context_->options.follow_headers[rule - 1];
            }
            if (context_->options.http.referer && !find_header(request.http.headers, "Referer")) {
                request.http.headers.emplace_back("Referer", referer);
            }
            admit(std::move(request), now);
        }
    }
    for (auto& location : done.sitemap_locations) {
        // Pages listed by a sitemap are seeds (depth 0); an index lists more sitemaps.
        crawl_request request;
        request.http = net::http_request{"GET", std::move(location), {}, {}};
        request.sitemap = done.sitemap_is_index;
        admit(std::move(request), now);
    }
    context_->wake();
}

}  // namespace harvest::crawl
