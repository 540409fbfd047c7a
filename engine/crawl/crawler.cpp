#include "engine/crawl/crawler.hpp"

#include "engine/core/cookie_jar.hpp"
#include "engine/core/failure_kind.hpp"
#include "engine/core/text.hpp"
#include "engine/crawl/connection_budget.hpp"
#include "engine/crawl/frontier.hpp"
#include "engine/crawl/host_gauges.hpp"
#include "engine/crawl/http_cache.hpp"
#include "engine/crawl/identities.hpp"
#include "engine/crawl/login.hpp"
#include "engine/crawl/permit_wait.hpp"
#include "engine/crawl/proxy_set.hpp"
#include "engine/crawl/render_gate.hpp"
#include "engine/crawl/renderer.hpp"
#include "engine/crawl/robots_fetch.hpp"
#include "engine/crawl/shared_backend.hpp"
#include "engine/crawl/sitemap.hpp"
#include "engine/metrics/crawl_metrics.hpp"
#include "engine/net/decode.hpp"
#include "engine/net/fetch_outcome.hpp"
#include "engine/net/http_client.hpp"
#include "engine/net/url.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <unordered_map>

namespace harvest::crawl {
namespace asio = boost::asio;

std::string default_user_agent() {
    return std::string("harvest/") + HARVEST_VERSION;
}

namespace {

std::mt19937_64& thread_rng() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return rng;
}

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

std::optional<std::string> find_header(const net::header_list& headers, std::string_view name) {
    for (const auto& [key, value] : headers) {
        if (core::iequals(key, name)) {
            return value;
        }
    }
    return std::nullopt;
}

}  // namespace

// What a fetch reports back to the scheduler strand.
struct completion {
    taken_request taken;
    resilience::decision decision;
    std::vector<std::string> links;
    std::optional<unsigned> status;
    std::optional<net::fetch_error> error;
    std::uint64_t wire_bytes = 0;
    clock::duration elapsed{};
    std::vector<std::string> sitemap_locations;  // a sitemap's <loc> entries
    bool sitemap_is_index = false;
    // A success that was redirected to another URL: held back from the sink until the
    // scheduler strand has claimed the final URL's fingerprint (claim_redirect).
    std::optional<fetched_page> redirected;
    std::uint64_t redirect_target = 0;
    resilience::attempt_outcome outcome;    // status or error, for the host's guard
    bool breaker_recorded = false;          // a success: told to the guard before the sink took it
    std::vector<std::uint32_t> link_rules;  // per link: 1 + its follow rule (sink_result)
    std::string page_url;                   // the page's final URL: its links' Referer
    std::shared_ptr<core::cookie_jar> jar;  // the session jar the attempt used (retirement)
};

struct crawler::impl : std::enable_shared_from_this<crawler::impl> {
    impl(asio::io_context& io_context, crawl_options crawl, std::shared_ptr<sink> out,
         seed_stream seed_source, metrics::crawl_metrics* crawl_metrics, journal* log)
        : metrics(crawl_metrics),
          state_log(log),
          io(io_context),
          options(std::move(crawl)),
          output(std::move(out)),
          seeds(std::move(seed_source)),
          strand(serial_executor()),
          timer(strand),
          queue(options, log),
          client(io_context.get_executor(),
                 net::client_options{.user_agent = options.engine.user_agent.empty()
                                                       ? default_user_agent()
                                                       : options.engine.user_agent,
                                     .max_idle_per_origin = idle_connections_per_origin(options)}) {
        if (!options.proxy.list.empty()) {
            proxies = std::make_unique<proxy_set>(options.proxy, options.circuit_breaker, metrics,
                                                  std::random_device{}());
        }
        if (options.http_cache.mode != http_cache_options::kind::off) {
            cache =
                std::make_unique<http_cache>(http_cache_dir(options), options.http_cache.max_size);
        }
        for (const auto& rule : options.render_rules) {
            // Validated by the config loader; searched like an extract rule's match.
            render_patterns.emplace_back(rule.match, std::regex::ECMAScript);
        }
        setup_identities();
        if (metrics != nullptr) {
            // At 0 from the start, cache on or off, like every series of metrics.md: a query
            // over them has data, and a rate starts from a known value.
            cache_hit = &metrics->http_cache.with({"hit"});
            cache_not_modified = &metrics->http_cache.with({"not_modified"});
            cache_miss = &metrics->http_cache.with({"miss"});
            net_cells = {&metrics->connections_opened.with({"http/1.1"}),
                         &metrics->connections_opened.with({"h2"}),
                         &metrics->h2_resends.with({"goaway"}),
                         &metrics->h2_resends.with({"refused_stream"}),
                         &metrics->h2_resends.with({"connection_lost"})};
            h2_streams = &metrics->h2_streams.with({});
        }
    }

    // The client's connection and HTTP/2 figures into their metrics: counters by what grew
    // since the last time. On the crawl strand (publish_gauges).
    void publish_client_stats() {
        if (h2_streams == nullptr) {
            return;
        }
        const auto& s = *client.stats();
        const std::array<std::uint64_t, 5> now{s.http1_connections.load(std::memory_order_relaxed),
                                               s.h2_connections.load(std::memory_order_relaxed),
                                               s.h2_goaway_resends.load(std::memory_order_relaxed),
                                               s.h2_refused_resends.load(std::memory_order_relaxed),
                                               s.h2_lost_resends.load(std::memory_order_relaxed)};
        for (std::size_t i = 0; i < now.size(); ++i) {
            if (now[i] > net_published[i]) {
                net_cells[i]->inc(now[i] - net_published[i]);
                net_published[i] = now[i];
            }
        }
        h2_streams->set(static_cast<double>(s.h2_streams.load(std::memory_order_relaxed)));
    }

    std::array<metrics::counter*, 5> net_cells{};
    std::array<std::uint64_t, 5> net_published{};
    metrics::gauge* h2_streams = nullptr;

    metrics::crawl_metrics* metrics;
    journal* state_log;
    host_gauges gauges{metrics};
    clock::time_point last_publish{};
    static constexpr auto gauge_interval = std::chrono::milliseconds(100);
    asio::io_context& io;
    crawl_options options;
    std::shared_ptr<sink> output;
    seed_stream seeds;
    asio::any_io_executor strand;  // the scheduler's: a strand, or the io_context's (one thread)
    asio::steady_timer timer;
    frontier queue;
    net::http_client client;
    crawl_stats stats;
    std::size_t in_flight = 0;  // scheduler strand only
    std::size_t robots_in_flight = 0;
    // Sessions logging in again after a retirement (scheduler strand only): the crawl does not
    // end before they are done, so their logins are counted and their cookies journaled.
    std::size_t logins_in_flight = 0;
    std::uint64_t admitted = 0;
    std::atomic<bool> stopping{false};
    std::vector<failure_record> pending_failures;  // failed on the strand, to hand to the sink
    std::shared_ptr<shared_backend> shared;        // frontier.backend: redis; null = memory only
    std::unique_ptr<http_cache> cache;             // http.cache; null when off
    std::unique_ptr<proxy_set> proxies;            // proxies:; null = direct
    metrics::counter* cache_hit = nullptr;         // harvest_http_cache_total cells
    metrics::counter* cache_not_modified = nullptr;
    metrics::counter* cache_miss = nullptr;
    std::shared_ptr<page_renderer> renderer;  // null: nothing is rendered
    std::vector<std::regex> render_patterns;  // options.render_rules' matches, in order

    // The render options of the first rule whose match is in the page's final URL, for an HTML
    // page (or one that does not say what it is); null when it is not rendered.
    const render_options* render_options_for(const std::string& url,
                                             const net::http_response& response) const {
        if (!renderer || render_patterns.empty()) {
            return nullptr;
        }
        const auto type = response.header("Content-Type");
        if (!type.empty() && type.find("html") == std::string_view::npos) {
            return nullptr;
        }
        for (std::size_t i = 0; i < render_patterns.size(); ++i) {
            if (std::regex_search(url, render_patterns[i])) {
                return &options.render_rules[i].options;
            }
        }
        return nullptr;
    }

    // One identity per session (`sessions:`, engine/crawl/identities.hpp).
    identity_store identities{options.sessions};
    std::uint32_t next_seed_session = 0;            // scheduler strand only
    std::vector<std::uint64_t> saved_jar_versions;  // scheduler strand only
    std::vector<bool> retiring;                     // scheduler strand only
    clock::time_point last_cookie_save{};
    static constexpr auto cookie_save_interval = std::chrono::seconds(1);

    void setup_identities() {
        saved_jar_versions.assign(identities.size(), 0);
        retiring.assign(identities.size(), false);
    }

    void wake() { timer.cancel(); }

    // Sessions whose jar came back from the journal (--resume): already logged in.
    std::vector<bool> restored_sessions;

    // Scheduler strand: the jars that changed since they were last journaled, at most once a
    // second (`force`: all that changed, now). A resume continues with them, logged in.
    void save_cookies(clock::time_point now, bool force) {
        if (state_log == nullptr || !options.http.cookies) {
            return;
        }
        if (!force && now - last_cookie_save < cookie_save_interval) {
            return;
        }
        last_cookie_save = now;
        for (std::uint32_t i = 0; i < identities.size(); ++i) {
            const identity who = identities.current(i);
            // A jar's version and its address: a fresh jar (retirement) starts at version 0.
            const std::uint64_t mark =
                who.jar->version() ^ (reinterpret_cast<std::uintptr_t>(who.jar.get()) << 16);
            if (mark == saved_jar_versions[i]) {
                continue;
            }
            saved_jar_versions[i] = mark;
            state_log->save_cookies(
                i, core::cookie_jar::encode(who.jar->cookies(std::chrono::system_clock::now())));
        }
    }

    // Scheduler strand: a request of `session` was answered with a retire_on status. Its
    // identity is replaced by a fresh one (an empty jar; logged in first when `login:` is set),
    // unless that already happened since the request took its jar.
    void retire(std::uint32_t session, const std::shared_ptr<core::cookie_jar>& used) {
        session %= identities.size();
        if (!used || !identities.holds(session, used)) {
            return;
        }
        if (retiring[session]) {
            return;
        }
        stats.sessions_retired.fetch_add(1, std::memory_order_relaxed);
        spdlog::info("session {} retired (a retire_on status): a fresh one replaces it", session);
        if (options.login.empty()) {
            (void)identities.replace_if(session, used, identities.fresh(session));
            return;
        }
        retiring[session] = true;
        ++logins_in_flight;
        asio::co_spawn(serial_executor(), relogin(shared_from_this(), session, used), log_failure);
    }

    static asio::awaitable<void> relogin(std::shared_ptr<impl> self, std::uint32_t session,
                                         std::shared_ptr<core::cookie_jar> old_jar) {
        identity fresh = self->identities.fresh(session);
        std::string error;
        try {
            error = co_await login_session(self, fresh, session);
        } catch (const std::exception& e) {
            // Not expected (fetch reports errors as values); the crawl must not wait for it.
            error = e.what();
        }
        asio::post(self->strand, [self, session, old_jar, fresh = std::move(fresh),
                                  error = std::move(error)]() mutable {
            self->retiring[session] = false;
            --self->logins_in_flight;
            self->wake();
            if (!error.empty()) {
                spdlog::warn("session {}: logging in again failed ({}); it keeps its old identity",
                             session, error);
                return;
            }
            self->stats.logins.fetch_add(1, std::memory_order_relaxed);
            (void)self->identities.replace_if(session, old_jar, std::move(fresh));
        });
    }

    // A login request's way through its host's guard (`login:`): the permit it was sent under.
    struct login_admission {
        host_state* host = nullptr;  // null: the URL has no origin (the fetch says why)
        std::optional<resilience::breaker_permit> permit;
        std::string refusal;  // no permit before the deadline: why
    };

    // Scheduler strand: a permit of the host's guard (its concurrency, token bucket and
    // breaker, as for every request of the crawl), waited for until `deadline`. Bounded: each
    // round sleeps until the time the guard names (a token, a half-open breaker) or, when it
    // waits for an event (a free slot, a probe's end), 20 ms; none past the deadline.
    static asio::awaitable<login_admission> admit_login(std::shared_ptr<impl> self, std::string url,
                                                        clock::time_point deadline) {
        login_admission out;
        out.host = self->queue.host_for(url);
        if (out.host == nullptr) {
            co_return out;
        }
        host_state* host = out.host;
        const resilience::admission admitted = co_await wait_for_permit(
            self->strand, [host](clock::time_point now) { return host->guard.admit(now); },
            std::chrono::milliseconds(20), deadline);
        if (admitted.permit) {
            out.permit = admitted.permit;
            co_return out;
        }
        out.refusal = admitted.why == resilience::wait_reason::breaker
                          ? "the circuit breaker of " + out.host->label + " is open"
                          : "no request to " + out.host->label +
                                " could be sent before the timeout (rate limit or "
                                "concurrency)";
        co_return out;
    }

    // The `login:` steps for one identity, in order, with its jar and User-Agent. Each goes
    // through its host's guard (bucket, breaker, concurrency; its answer counts like any other)
    // and through the proxies like every request (sticky_per_session: the session's proxy);
    // not through the frontier: no robots.txt and no retry. "" when every step passed (2xx or
    // 3xx after redirects, and its expect_cookie in the jar), else why not.
    static asio::awaitable<std::string> login_session(std::shared_ptr<impl> self, identity who,
                                                      std::uint32_t session) {
        for (std::size_t i = 0; i < self->options.login.size(); ++i) {
            const login_step& step = self->options.login[i];
            net::http_request request = login_request(step, who);
            const auto first_deadline = clock::now() + self->options.http.timeouts.total;
            const login_admission admission = co_await asio::co_spawn(
                self->strand, admit_login(self, step.url, first_deadline), asio::use_awaitable);
            if (admission.host != nullptr && !admission.permit) {
                co_return login_step_name(step, i) + ": " + admission.refusal;
            }
            const auto http = admission.host != nullptr
                                  ? admission.host->http
                                  : std::make_shared<const http_options>(self->options.http);
            const auto deadline = clock::now() + http->timeouts.total;
            self->stats.requests.fetch_add(1, std::memory_order_relaxed);
            boost::system::result<net::http_response> result = net::http_response{};
            if (self->proxies && admission.host != nullptr) {
                const auto session_key = self->options.sessions.count > 1
                                             ? std::optional<std::uint64_t>(session)
                                             : std::nullopt;
                result =
                    co_await self->proxies->fetch(self->client, std::move(request), http, deadline,
                                                  admission.host->origin, session_key, who.jar);
            } else {
                result = co_await self->client.fetch(std::move(request), http, deadline, nullptr,
                                                     who.jar);
            }
            if (admission.host != nullptr) {
                // The guard hears the answer on the strand, as for a crawl request.
                const auto outcome = net::outcome_of(result);
                resilience::attempt_outcome heard;
                heard.status = outcome.status;
                heard.error = outcome.error;
                asio::post(
                    self->strand, [self, host = admission.host, permit = *admission.permit, heard] {
                        bool failed_before = false;
                        self->record_outcome(*host, permit, heard, failed_before, clock::now());
                        host->guard.release();
                        self->wake();
                    });
            }
            if (result) {
                self->stats.count_response(result->status);
            }
            if (auto why = login_verdict(step, i, result, who); !why.empty()) {
                co_return why;
            }
        }
        co_return std::string();
    }

    // Every session logs in before the first seed is fetched; one failure stops the crawl.
    static asio::awaitable<void> login_all(std::shared_ptr<impl> self) {
        if (self->options.login.empty()) {
            co_return;
        }
        for (std::uint32_t i = 0; i < self->identities.size(); ++i) {
            if (i < self->restored_sessions.size() && self->restored_sessions[i]) {
                continue;  // --resume: its jar came back from the journal, logged in
            }
            const identity who = self->identities.current(i);
            std::string error = co_await login_session(self, who, i);
            if (!error.empty()) {
                spdlog::error("session {}: login failed: {}", i, error);
                self->stats.login_error = "session " + std::to_string(i) + ": " + error;
                co_return;
            }
            self->stats.logins.fetch_add(1, std::memory_order_relaxed);
            spdlog::info("session {} logged in", i);
        }
    }

    // engine.max_requests reached: no seed or link is admitted any more.
    bool request_limit_reached() const noexcept {
        return options.engine.max_requests != 0 && admitted >= options.engine.max_requests;
    }

    // No seed will be admitted any more: the stream ran out, or the request limit cut it.
    bool seeds_done() const noexcept { return seeds.exhausted() || request_limit_reached(); }

    // An executor whose handlers never run two at a time: a new strand, unless a single thread
    // runs the io_context and already serializes everything.
    asio::any_io_executor serial_executor() {
        if (options.engine.single_thread_io) {
            return io.get_executor();
        }
        return asio::make_strand(io);
    }

    // Admits a logical request; handles dedup, limits and invalid URLs. Strand only.
    void admit(crawl_request request, clock::time_point now) {
        if (request_limit_reached()) {
            return;
        }
        const auto& idem = options.retry.idempotency_methods;
        if (auto own = find_header(request.http.headers, options.retry.idempotency_header)) {
            request.idempotency_key = *own;  // the caller's key makes the request retryable
        } else if (std::find(idem.begin(), idem.end(), request.http.method) != idem.end()) {
            // One key per logical request, unchanged on every retry.
            request.idempotency_key = uuid_v4();
            request.http.headers.emplace_back(options.retry.idempotency_header,
                                              request.idempotency_key);
        }
        std::string url = request.http.url;
        auto result = frontier::admit_result::queued;
        if (!shared) {
            result = queue.admit(std::move(request), now);
        } else if (!shared->admit(std::move(request))) {
            // Otherwise the shared frontier deduplicates it cluster-wide and leases it back.
            result = frontier::admit_result::invalid_url;
        }
        switch (result) {
            case frontier::admit_result::queued:
                ++admitted;
                break;
            case frontier::admit_result::duplicate:
                stats.dedup_skipped.fetch_add(1, std::memory_order_relaxed);
                break;
            case frontier::admit_result::invalid_url:
                ++admitted;
                stats.count_failure(core::failure_kind::invalid_url);
                pending_failures.push_back(
                    failure_record{std::move(url), core::failure_kind::invalid_url, 0, std::nullopt,
                                   std::nullopt, std::chrono::system_clock::now()});
                break;
        }
    }

    void refill_seeds(clock::time_point now) {
        // Keep enough work queued to fill every slot, no more: seeds stay streamed.
        const std::size_t low_water = 2 * options.engine.concurrency + 1024;
        while (!stopping && !seeds_done() && queue.ready_size() < low_water) {
            auto next = seeds.next();
            if (!next) {
                break;
            }
            // Seeds are dealt round-robin over the sessions.
            next->session = next_seed_session;
            next_seed_session = (next_seed_session + 1) % identities.size();
            admit(std::move(*next), now);
        }
    }

    // Per-host gauges and the counters the frontier keeps, at most 10 times a second: with
    // thousands of hosts this walk must not run once per completion.
    // Returns false when skipped (published less than 100 ms ago): the caller then wakes up
    // again soon enough that a quiet tail of the crawl does not leave the gauges stale.
    bool publish_gauges(clock::time_point now, bool force = false) {
        if (!force && now - last_publish < gauge_interval) {
            return false;
        }
        last_publish = now;
        if (metrics != nullptr) {
            metrics->inflight_requests.with({}).set(static_cast<double>(in_flight));
            metrics->frontier_requests.with({"ready"}).set(
                static_cast<double>(queue.ready_size() - queue.spilled_size()));
            metrics->frontier_requests.with({"spilled"})
                .set(static_cast<double>(queue.spilled_size()));
            metrics->frontier_requests.with({"delayed"})
                .set(static_cast<double>(queue.delayed_size()));
            publish_client_stats();
        }
        stats.in_flight.store(in_flight, std::memory_order_relaxed);
        stats.queued.store(queue.ready_size() + queue.delayed_size(), std::memory_order_relaxed);
        // The gauges' walk over the hosts counts open breakers too; without metrics, ask.
        const auto not_closed = gauges.publish(queue, now);
        stats.open_breakers.store(not_closed ? *not_closed : queue.open_breakers(now),
                                  std::memory_order_relaxed);
        stats.short_circuited.store(queue.short_circuited(), std::memory_order_relaxed);
        stats.retry_budget_exhausted.store(queue.budget_exhausted(), std::memory_order_relaxed);
        stats.frontier_spilled.store(queue.spilled_total(), std::memory_order_relaxed);
        stats.frontier_spill_bytes_peak.store(queue.spill_bytes_peak(), std::memory_order_relaxed);
        stats.frontier_memory_bytes_peak.store(queue.memory_bytes_peak(),
                                               std::memory_order_relaxed);
        stats.dedup_bytes.store(queue.dedup_bytes(), std::memory_order_relaxed);
        return true;
    }

    asio::awaitable<void> schedule() {
        auto self = shared_from_this();
        for (;;) {
            auto now = clock::now();
            save_cookies(now, false);
            refill_seeds(now);
            for (auto& request : queue.expire_open_hosts(now)) {
                if (shared) {
                    shared->complete(request);
                }
                stats.count_failure(core::failure_kind::circuit_open);
                pending_failures.push_back(
                    failure_record{request.http.url, core::failure_kind::circuit_open,
                                   request.attempt, std::nullopt, std::nullopt,
                                   std::chrono::system_clock::now(), request.fingerprint});
            }
            if (!pending_failures.empty()) {
                if (metrics != nullptr) {
                    for (const auto& failure : pending_failures) {
                        if (host_state* host = queue.host_for(failure.url)) {
                            gauges.count_failure(*host, failure.error);
                        }
                    }
                }
                auto failures = std::move(pending_failures);
                pending_failures.clear();
                for (auto& failure : failures) {
                    co_await output->on_failure(std::move(failure));
                }
                continue;  // time passed while the sink took them
            }
            while (!stopping && in_flight < options.engine.concurrency) {
                auto taken = queue.take(clock::now());
                if (!taken) {
                    break;
                }
                ++in_flight;
                gauges.count_sent(*taken->host, taken->request.http.method);
                // A strand per fetch (with more than one thread), though it costs: Beast runs a
                // stream's timeout handler on the operation's executor, where it must not race
                // the read it cancels.
                asio::co_spawn(serial_executor(), fetch(self, std::move(*taken)), log_failure);
            }
            for (host_state* host : queue.take_robots_fetches()) {
                ++robots_in_flight;
                gauges.count_sent(*host, "GET");
                asio::co_spawn(serial_executor(), fetch_robots(self, host), log_failure);
            }
            for (auto& [refused, host] : queue.take_robots_refusals()) {
                if (shared) {
                    shared->complete(refused);
                }
                // RFC 9309: an unreachable robots.txt disallows everything, but the record
                // says why: the host was down, not closed to crawlers.
                const auto& unavailable = host->robots_unavailable;
                const core::failure_kind kind = unavailable ? core::failure_kind::robots_unavailable
                                                            : core::failure_kind::robots_disallowed;
                if (!unavailable) {
                    stats.robots_disallowed.fetch_add(1, std::memory_order_relaxed);
                }
                stats.count_failure(kind);
                pending_failures.push_back(
                    failure_record{std::move(refused.http.url), kind, 0,
                                   unavailable ? unavailable->status : std::nullopt,
                                   unavailable ? unavailable->last_error : std::nullopt,
                                   std::chrono::system_clock::now(), refused.fingerprint});
            }
            if (!pending_failures.empty()) {
                continue;
            }
            const bool published = publish_gauges(clock::now());
            if (in_flight == 0 && robots_in_flight == 0 && logins_in_flight == 0 &&
                (stopping || (queue.empty() && seeds_done() && pending_failures.empty() &&
                              (!shared || shared->finished())))) {
                break;
            }
            timer.expires_at(published
                                 ? queue.next_wakeup()
                                 : std::min(queue.next_wakeup(), last_publish + gauge_interval));
            co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        publish_gauges(clock::now(), true);
        save_cookies(clock::now(), true);  // before the sink's last commit writes it
        if (shared) {
            shared->close();
        }
        co_await output->close();
        if (state_log != nullptr) {
            state_log->finish();  // after the sink's last commit
        }
        client.close_idle();
    }

    static void log_failure(const std::exception_ptr& error) {
        if (error) {
            try {
                std::rethrow_exception(error);
            } catch (const std::exception& e) {
                spdlog::error("fetch task failed: {}", e.what());
            }
        }
    }

    // robots.txt of one origin (robots_fetch.hpp), then on the strand: asked again with the
    // host's retry backoff while unavailable, until retry.max_attempts fetches failed.
    static asio::awaitable<void> fetch_robots(std::shared_ptr<impl> self, host_state* host) {
        robots_answer answer = co_await fetch_robots_txt(
            self->client, *host, self->stats,
            self->options.http_cache.mode == http_cache_options::kind::replay ? self->cache.get()
                                                                              : nullptr,
            self->proxies.get());
        asio::post(self->strand, [self, host, answer = std::move(answer)]() mutable {
            const bool unavailable = answer.unavailable;
            --self->robots_in_flight;
            const unsigned attempts = host->robots_attempts + 1;
            if (unavailable && attempts < std::max(1u, host->policy.options().max_attempts)) {
                const auto delay =
                    host->policy.backoff_delay(attempts, clock::duration{}, thread_rng());
                self->queue.retry_robots(*host, clock::now() + delay);
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
                self->queue.set_robots(*host, std::move(answer.rules));
                if (self->shared) {
                    // Its rate after robots.txt (Crawl-delay included) for the whole cluster.
                    const auto& bucket = host->guard.bucket();
                    self->shared->robots_ready(
                        host->origin, bucket.unlimited() ? 0.0 : bucket.rate(), bucket.burst());
                }
            }
            self->wake();
        });
    }

    static asio::awaitable<void> fetch(std::shared_ptr<impl> self, taken_request taken) {
        crawl_request& request = taken.request;
        host_state& host = *taken.host;
        ++request.attempt;

        const bool cacheable =
            self->cache && request.http.method == "GET" && request.fingerprint != 0;
        const auto sent_header = [&request, &host, &self](std::string_view name) {
            return request_header_value(*self, request.http, *host.http, name);
        };
        std::optional<cache_entry> cached;
        if (cacheable) {
            cached = self->cache->load(request.fingerprint);
            if (cached && !vary_matches(*cached, sent_header)) {
                cached.reset();  // stored for other request headers: fetched and replaced
            }
        }
        const bool replay = self->options.http_cache.mode == http_cache_options::kind::replay;
        boost::system::result<net::http_response> result = net::http_response{};
        std::shared_ptr<core::cookie_jar> done_jar;  // the session's jar this attempt used
        bool unchanged = false;                      // a 304 answered from the cache
        bool unasked_304 = false;
        if (cached && replay) {
            result = response_of(*cached);
            count(self->cache_hit);
        } else {
            self->stats.requests.fetch_add(1, std::memory_order_relaxed);
            const auto deadline = clock::now() + host.http->timeouts.total;
            net::http_request sent = request.http;
            if (cached) {
                add_validators(*cached, sent);
            }
            identity scratch;
            const identity& who = self->identities.of(request.session, scratch);
            if (!who.user_agent.empty() && !find_header(sent.headers, "User-Agent")) {
                sent.headers.emplace_back("User-Agent", who.user_agent);
            }
            std::shared_ptr<core::cookie_jar> jar = host.http->cookies ? who.jar : nullptr;
            done_jar = who.jar;
            if (self->proxies) {
                // sticky_per_session keys on the session when there are sessions, else on the
                // host (proxy_set::fetch).
                const auto session_key = self->options.sessions.count > 1
                                             ? std::optional<std::uint64_t>(request.session)
                                             : std::nullopt;
                result = co_await self->proxies->fetch(self->client, std::move(sent), host.http,
                                                       deadline, host.origin, session_key, jar);
            } else {
                result =
                    co_await self->client.fetch(std::move(sent), host.http, deadline, nullptr, jar);
            }
            if (result) {
                self->stats.count_response(result->status);
                self->stats.bytes_received.fetch_add(result->wire_bytes, std::memory_order_relaxed);
            }
            if (result && cacheable) {
                if (result->status == 304) {
                    if (cached) {
                        count(self->cache_not_modified);
                        net::http_response stored = response_of(*cached);
                        stored.wire_bytes = result->wire_bytes;
                        stored.elapsed = result->elapsed;
                        result = std::move(stored);
                        unchanged = true;
                    } else {
                        // Nothing was stored, so nothing was asked conditionally: the server
                        // answered a question nobody asked, and the page is not there.
                        unasked_304 = true;
                    }
                } else {
                    count(self->cache_miss);
                    if (result->status == 200) {
                        store_response(*self, request.fingerprint, *result, sent_header);
                    }
                }
            }
        }

        completion done;
        done.jar = std::move(done_jar);
        const resilience::attempt_outcome outcome = net::outcome_of(result);
        done.error = outcome.error;
        if (result) {
            done.status = unchanged ? 304u : result->status;
            done.wire_bytes = result->wire_bytes;
            done.elapsed = result->elapsed;
        } else {
            self->stats.count_transport_error(net::failure_kind_of(*outcome.error));
        }
        done.decision = host.policy.classify(
            outcome, request.attempt, request.http.method, !request.idempotency_key.empty(),
            request.previous_backoff, thread_rng(), std::chrono::system_clock::now());
        if (unasked_304) {
            done.decision = resilience::decision{};
            done.decision.what = resilience::verdict::fail;
            done.decision.failure = core::failure_kind::protocol;
        }
        // What the guard needs of it later, on the strand (the Retry-After view would dangle).
        done.outcome.status = outcome.status;
        done.outcome.error = outcome.error;

        bool rendered_page = false;
        if (done.decision.what == resilience::verdict::success) {
            const std::string& page_url =
                result->final_url.empty() ? request.http.url : result->final_url;
            if (const auto* render = self->render_options_for(page_url, *result)) {
                // The page came through the host's guard like any other; the browser gets these
                // bytes for it and fetches only what the page itself asks for.
                // What the page's scripts ask of the same host waits for the host's guard too.
                auto gate = std::make_shared<host_render_gate>(
                    self->strand, host.guard,
                    [self, guarded = &host](const resilience::breaker_permit& permit,
                                            const resilience::attempt_outcome& answered) {
                        bool failed_before = false;  // each sub-request is a request of its own
                        self->record_outcome(*guarded, permit, answered, failed_before,
                                             clock::now());
                    });
                // The session's cookies go into the browser for the page and come back.
                render_input page{page_url,
                                  result->status,
                                  std::string(result->header("Content-Type")),
                                  std::move(result->body),
                                  std::move(gate),
                                  host.http->cookies ? done.jar : nullptr};
                render_options how = *render;
                render_outcome rendered = co_await self->renderer->render(std::move(page), how);
                if (rendered.failure) {
                    // The host answered well (its guard hears a success in complete()); the page
                    // could not be rendered.
                    done.decision = resilience::decision{};
                    done.decision.what = resilience::verdict::fail;
                    done.decision.failure = *rendered.failure;
                    result->body.clear();
                } else {
                    result->body = std::move(rendered.html);
                    rendered_page = true;
                }
            }
        }
        if (done.decision.what == resilience::verdict::success) {
            // The breaker hears of a success as soon as it is known, not after the page went
            // through the sink: of a burst of answers, the failures (which skip the sink) would
            // otherwise reach it first and could open it on a host that mostly succeeds.
            asio::post(self->strand,
                       [self, host = &host, permit = taken.permit, answered = done.outcome]() {
                           bool no_failure = false;  // a success: the request's mark is not needed
                           self->record_outcome(*host, permit, answered, no_failure, clock::now());
                       });
            done.breaker_recorded = true;
            self->stats.succeeded.fetch_add(1, std::memory_order_relaxed);
            if (request.sitemap) {
                read_sitemap(result->body, *host.http, done);
            }
            done.page_url = result->final_url;
            fetched_page page{request, std::move(*result), std::chrono::system_clock::now()};
            page.rendered = rendered_page;
            page.unchanged = unchanged;
            page.emit_unchanged = self->options.http_cache.emit_unchanged;
            if (const auto target = redirect_claim_needed(*self, page)) {
                // The final URL goes through dedup like any link before anything is emitted.
                done.redirected = std::move(page);
                done.redirect_target = *target;
                done.taken = std::move(taken);
                asio::post(self->strand, [self, done = std::move(done)]() mutable {
                    self->claim_redirect(std::move(done));
                });
                co_return;
            }
            sink_result found = co_await self->output->on_success(std::move(page));
            done.links = std::move(found.links);
            done.link_rules = std::move(found.link_rules);
        } else if (done.decision.what == resilience::verdict::fail) {
            self->stats.count_failure(done.decision.failure);
            failure_record failure{
                request.http.url,
                done.decision.failure,
                request.attempt,
                done.status,
                outcome.error ? std::optional(net::failure_kind_of(*outcome.error)) : std::nullopt,
                std::chrono::system_clock::now(),
                request.fingerprint};
            if (result) {
                failure.body = std::move(result->body);
            }
            co_await self->output->on_failure(std::move(failure));
        }
        done.taken = std::move(taken);
        asio::post(self->strand,
                   [self, done = std::move(done)]() mutable { self->complete(std::move(done)); });
    }

    static void count(metrics::counter* cell) {
        if (cell != nullptr) {
            cell->inc();
        }
    }

    // What a request sends for header `name` (lower-case): its own headers, then http.headers,
    // then the client's User-Agent; "" when none. For the cache's Vary check.
    static std::string request_header_value(const impl& self, const net::http_request& request,
                                            const http_options& http, std::string_view name) {
        if (auto own = find_header(request.headers, name)) {
            return *own;
        }
        if (auto configured = find_header(http.headers, name)) {
            return *configured;
        }
        if (core::iequals(name, "user-agent")) {
            return self.options.engine.user_agent.empty() ? default_user_agent()
                                                          : self.options.engine.user_agent;
        }
        return {};
    }

    // http.cache mode conditional: the stored validators, asked again (RFC 9110 13.1).
    static void add_validators(const cache_entry& cached, net::http_request& sent) {
        if (auto etag = find_header(cached.headers, "ETag")) {
            sent.headers.emplace_back("If-None-Match", std::move(*etag));
        }
        if (auto modified = find_header(cached.headers, "Last-Modified")) {
            sent.headers.emplace_back("If-Modified-Since", std::move(*modified));
        }
    }

    // A 200 kept for the next run. Conditional mode keeps only what it can ask about again
    // (an ETag or a Last-Modified) and was not redirected (the validators are the final URL's);
    // replay keeps every 200.
    template <typename RequestHeader>
    static void store_response(impl& self, std::uint64_t key, const net::http_response& response,
                               RequestHeader&& sent_header) {
        const bool replay = self.options.http_cache.mode == http_cache_options::kind::replay;
        if (!replay && (response.redirects != 0 || (response.header("ETag").empty() &&
                                                    response.header("Last-Modified").empty()))) {
            self.cache->remove(key);  // a stale entry would answer the next 304
            return;
        }
        const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
        auto entry = entry_of(response, sent_header, now_ms);
        if (!entry || !self.cache->store(key, *entry)) {
            self.cache->remove(key);
        }
    }

    // The fingerprint of a redirected page's final URL when it differs from its request's and
    // the crawl deduplicates (the local frontier's seen set, or the shared frontier's, which
    // always deduplicates).
    static std::optional<std::uint64_t> redirect_claim_needed(const impl& self,
                                                              const fetched_page& page) {
        if (page.response.redirects == 0 || (!self.options.engine.dedup && !self.shared)) {
            return std::nullopt;
        }
        const auto target = fingerprint(net::http_request{"GET", page.response.final_url, {}, {}});
        if (!target || *target == page.request.fingerprint) {
            return std::nullopt;
        }
        return target;
    }

    // Scheduler strand: a redirected success asks whether its final URL is new to the crawl.
    // New: the page is emitted and the URL marked seen. Known: the page only completes its
    // request; the URL's own request emits it. Either way the sink is called from a coroutine
    // of its own (it may suspend on backpressure), and the request stays in flight until then.
    void claim_redirect(completion done) {
        if (shared) {
            // Asked of the cluster; the answer comes back on this strand.
            auto held = std::make_shared<completion>(std::move(done));
            const auto target = held->redirect_target;
            // The shared frontier keeps a URL's dedup entry with its host's partition.
            const auto parts =
                net::split_origin(held->redirected->response.final_url, /*key_only=*/true);
            const std::string origin = parts ? parts->key : std::string();
            shared->claim(origin, target, [self = shared_from_this(), held](bool fresh) {
                self->deliver_claimed(std::move(*held), fresh);
            });
            return;
        }
        const bool fresh = queue.claim(done.redirect_target);
        deliver_claimed(std::move(done), fresh);
    }

    void deliver_claimed(completion done, bool fresh) {
        fetched_page page = std::move(*done.redirected);
        done.redirected.reset();
        if (fresh) {
            page.redirect_target = done.redirect_target;
        } else {
            page.duplicate = true;
            stats.redirect_duplicates.fetch_add(1, std::memory_order_relaxed);
        }
        asio::co_spawn(serial_executor(),
                       deliver_redirected(shared_from_this(), std::move(page), std::move(done)),
                       log_failure);
    }

    static asio::awaitable<void> deliver_redirected(std::shared_ptr<impl> self, fetched_page page,
                                                    completion done) {
        sink_result found = co_await self->output->on_success(std::move(page));
        done.links = std::move(found.links);
        done.link_rules = std::move(found.link_rules);
        asio::post(self->strand,
                   [self, done = std::move(done)]() mutable { self->complete(std::move(done)); });
    }

    // A sitemap's locations, resolved against nothing (sitemaps.org requires absolute URLs);
    // a gzip-compressed sitemap (sitemap.xml.gz served without Content-Encoding) is inflated
    // block by block, bounded by max_body like any body. The body is read in place: neither it
    // nor its inflated form is copied whole (sitemap_reader).
    static void read_sitemap(const std::string& body, const http_options& http, completion& done) {
        sitemap_reader reader(
            [&done](std::string location) {
                done.sitemap_locations.push_back(std::move(location));
            },
            http.max_body);
        reader.feed(body);
        reader.finish();
        done.sitemap_is_index = reader.is_index();
    }

    // Scheduler strand: one attempt's outcome told to the host's guard (breaker, adaptive
    // rate), and what that changed told to the stats, the log and a shared frontier.
    void record_outcome(host_state& host, const resilience::breaker_permit& permit,
                        const resilience::attempt_outcome& outcome, bool& failed_before,
                        clock::time_point now) {
        const auto effect = host.guard.record(permit, outcome, failed_before, now);
        if (effect.opened) {
            stats.breaker_opened.fetch_add(1, std::memory_order_relaxed);
            spdlog::warn("circuit opened for {}", host.label);
            if (shared) {
                shared->breaker_opened(host.origin,
                                       std::chrono::duration_cast<std::chrono::milliseconds>(
                                           host.guard.breaker().open_duration()));
            }
        }
        if (effect.closed_by_probe && shared) {
            shared->breaker_closed(host.origin);  // the probe succeeded: recovered for everyone
        }
    }

    // Scheduler strand: the bookkeeping of one finished attempt.
    void complete(completion done) {
        const auto now = clock::now();
        host_state& host = *done.taken.host;
        --in_flight;
        queue.finish(host);
        if (!done.breaker_recorded) {
            const bool failed_before = done.taken.request.breaker_failure_counted;
            record_outcome(host, done.taken.permit, done.outcome,
                           done.taken.request.breaker_failure_counted, now);
            if (!failed_before && done.taken.request.breaker_failure_counted &&
                state_log != nullptr && done.decision.what == resilience::verdict::retry) {
                // Its first failure, and it will be tried again: a resume must know it failed.
                state_log->admit(done.taken.request);
            }
        }
        gauges.count_attempt(host, attempt_metrics{done.status, done.error, done.wire_bytes,
                                                   done.elapsed, &done.decision});
        if (done.taken.request.attempt == 1) {
            // Only first attempts earn retry budget: retries must not pay for more retries.
            host.guard.on_first_attempt(now);
        }
        if (shared && done.decision.what != resilience::verdict::retry) {
            // Its page or failure line went to the sink: done once written, not before.
            shared->complete_when_written(done.taken.request);
        }
        if (done.decision.what == resilience::verdict::retry && !stopping) {
            stats.retries.fetch_add(1, std::memory_order_relaxed);
            if (done.decision.from_retry_after) {
                stats.retry_after_waits.fetch_add(1, std::memory_order_relaxed);
            }
            crawl_request& request = done.taken.request;
            request.previous_backoff = done.decision.delay;
            queue.delay(std::move(request), host, now + done.decision.delay);
        }
        const unsigned depth = done.taken.request.depth + 1;
        if (done.status &&
            std::find(options.sessions.retire_on.begin(), options.sessions.retire_on.end(),
                      *done.status) != options.sessions.retire_on.end()) {
            retire(done.taken.request.session, done.jar);
        }
        if (options.engine.max_depth == 0 || depth <= options.engine.max_depth) {
            const std::string& referer =
                done.page_url.empty() ? done.taken.request.http.url : done.page_url;
            for (std::size_t i = 0; i < done.links.size(); ++i) {
                crawl_request request;
                request.http = net::http_request{"GET", std::move(done.links[i]), {}, {}};
                request.depth = depth;
                request.session = done.taken.request.session;  // a link keeps its identity
                const std::uint32_t rule = i < done.link_rules.size() ? done.link_rules[i] : 0;
                request.follow_rule = rule;
                if (rule != 0 && rule <= options.follow_headers.size()) {
                    request.http.headers = options.follow_headers[rule - 1];
                }
                if (options.http.referer && !find_header(request.http.headers, "Referer")) {
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
        wake();
    }
};

crawler::crawler(asio::io_context& io, crawl_options options, std::shared_ptr<sink> out,
                 seed_stream seeds, metrics::crawl_metrics* metrics, journal* log)
    : impl_(std::make_shared<impl>(io, std::move(options), std::move(out), std::move(seeds),
                                   metrics, log)) {}

void crawler::restore(journal_state recovered) {
    impl_->restored_sessions.assign(impl_->identities.size(), false);
    const auto now = std::chrono::system_clock::now();
    for (auto& [session, bytes] : recovered.cookies) {
        if (session >= impl_->identities.size()) {
            continue;  // sessions.count was lowered since
        }
        if (auto cookies = core::cookie_jar::decode(bytes)) {
            impl_->identities.current(session).jar->restore(std::move(*cookies), now);
            impl_->restored_sessions[session] = true;
        }
    }
    impl_->admitted = recovered.seen.size();
    impl_->queue.restore(std::move(recovered.seen), std::move(recovered.pending));
}

void crawler::set_shared_backend(std::shared_ptr<shared_backend> backend) {
    impl_->shared = std::move(backend);
    impl_->options.engine.dedup = false;  // the local frontier sees each leased request once
    std::weak_ptr<impl> weak = impl_;
    shared_backend::local_view local{
        [weak]() -> std::size_t {
            auto self = weak.lock();
            return self ? self->queue.ready_size() + self->queue.delayed_size() : 0;
        },
        [weak](std::vector<crawl_request> requests) {
            if (auto self = weak.lock()) {
                const auto now = clock::now();
                for (auto& request : requests) {
                    crawl_request handle;
                    handle.fingerprint = request.fingerprint;
                    if (self->queue.admit(std::move(request), now) !=
                        frontier::admit_result::queued) {
                        self->shared->complete(handle);  // unusable: do not hold its lease
                    }
                }
                self->wake();
            }
        }};
    impl_->shared->start(impl_->strand, std::move(local));
}

void crawler::set_renderer(std::shared_ptr<page_renderer> renderer) {
    impl_->renderer = std::move(renderer);
}

crawler::~crawler() = default;

asio::awaitable<void> crawler::run() {
    co_await impl::login_all(impl_);
    if (!impl_->stats.login_error.empty()) {
        // Nothing is fetched; the sink and the journal are closed as after a stop.
        impl_->stopping = true;
    }
    co_await asio::co_spawn(impl_->strand, impl_->schedule(), asio::use_awaitable);
}

void crawler::stop() {
    auto self = impl_;
    asio::post(self->strand, [self] {
        self->stopping = true;
        self->wake();
    });
}

bool crawler::reload_proxies() {
    const proxy_options& proxy = impl_->options.proxy;
    if (proxy.file.empty()) {
        spdlog::warn("reload: no proxies_file in the config, nothing to reload");
        return false;
    }
    if (!impl_->proxies) {
        spdlog::error(
            "reload of proxies_file {} refused: the crawl started without proxies and goes "
            "direct; proxies can only be added to a crawl that started with some (restart it)",
            proxy.file);
        return false;
    }
    return impl_->proxies->reload_file(proxy);
}

bool crawler::stopped() const noexcept {
    return impl_->stopping.load();
}

const crawl_stats& crawler::stats() const noexcept {
    return impl_->stats;
}

}  // namespace harvest::crawl
