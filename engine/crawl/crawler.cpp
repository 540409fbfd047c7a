#include "engine/crawl/crawler.hpp"

#include "engine/crawl/frontier.hpp"
#include "engine/net/http_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <random>

namespace harvest::crawl {
namespace asio = boost::asio;

std::string default_user_agent() { return std::string("harvest/") + HARVEST_VERSION; }

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
    std::snprintf(text, sizeof text, "%08x-%04x-%04x-%04x-%012llx",
                  static_cast<unsigned>(hi >> 32), static_cast<unsigned>((hi >> 16) & 0xffff),
                  static_cast<unsigned>(hi & 0xffff), static_cast<unsigned>(lo >> 48),
                  static_cast<unsigned long long>(lo & 0xffffffffffffull));
    return text;
}

bool has_header(const net::header_list& headers, std::string_view name) {
    return std::any_of(headers.begin(), headers.end(), [name](const auto& h) {
        return h.first.size() == name.size() &&
               std::equal(h.first.begin(), h.first.end(), name.begin(), [](char a, char b) {
                   return std::tolower(static_cast<unsigned char>(a)) ==
                          std::tolower(static_cast<unsigned char>(b));
               });
    });
}

resilience::call_outcome breaker_outcome(const resilience::attempt_outcome& outcome) {
    // Transport errors and 5xx count against a host; 4xx and 429 say nothing about its health.
    if (outcome.error) {
        return resilience::call_outcome::failure;
    }
    if (*outcome.status >= 500) {
        return resilience::call_outcome::failure;
    }
    if (*outcome.status >= 400) {
        return resilience::call_outcome::neutral;
    }
    return resilience::call_outcome::success;
}

}  // namespace

// What a fetch reports back to the scheduler strand.
struct completion {
    taken_request taken;
    resilience::decision decision;
    std::vector<std::string> links;
    std::optional<unsigned> status;
    bool transport_error = false;
};

struct crawler::impl : std::enable_shared_from_this<crawler::impl> {
    impl(asio::io_context& io_context, crawl_options crawl, std::shared_ptr<sink> out,
         seed_stream seed_source)
        : io(io_context),
          options(std::move(crawl)),
          output(std::move(out)),
          seeds(std::move(seed_source)),
          strand(asio::make_strand(io_context)),
          timer(strand),
          queue(options),
          client(io_context.get_executor(),
                 net::client_options{options.engine.user_agent.empty()
                                         ? default_user_agent()
                                         : options.engine.user_agent}) {}

    asio::io_context& io;
    crawl_options options;
    std::shared_ptr<sink> output;
    seed_stream seeds;
    asio::strand<asio::io_context::executor_type> strand;
    asio::steady_timer timer;
    frontier queue;
    net::http_client client;
    crawl_stats stats;
    std::size_t in_flight = 0;  // scheduler strand only
    std::uint64_t admitted = 0;
    std::atomic<bool> stopping{false};
    std::vector<failure_record> pending_failures;  // failed on the strand, to hand to the sink

    void wake() { timer.cancel(); }

    // Admits a logical request; handles dedup, limits and invalid URLs. Strand only.
    void admit(net::http_request http, unsigned depth, clock::time_point now) {
        if (options.engine.max_requests != 0 && admitted >= options.engine.max_requests) {
            return;
        }
        crawl_request request;
        request.http = std::move(http);
        request.depth = depth;
        const auto& idem = options.retry.idempotency_methods;
        if (std::find(idem.begin(), idem.end(), request.http.method) != idem.end() &&
            !has_header(request.http.headers, options.retry.idempotency_header)) {
            // One key per logical request, unchanged on every retry.
            request.idempotency_key = uuid_v4();
            request.http.headers.emplace_back(options.retry.idempotency_header,
                                              request.idempotency_key);
        }
        std::string url = request.http.url;
        switch (queue.admit(std::move(request), now)) {
            case frontier::admit_result::queued: ++admitted; break;
            case frontier::admit_result::duplicate:
                stats.dedup_skipped.fetch_add(1, std::memory_order_relaxed);
                break;
            case frontier::admit_result::invalid_url:
                ++admitted;
                stats.count_failure("invalid_url");
                pending_failures.push_back(failure_record{std::move(url), "invalid_url", 0,
                                                          std::nullopt, "",
                                                          std::chrono::system_clock::now()});
                break;
        }
    }

    void refill_seeds(clock::time_point now) {
        // Keep enough work queued to fill every slot, no more: seeds stay streamed.
        const std::size_t low_water = 2 * options.engine.concurrency + 1024;
        while (!stopping && !seeds.exhausted() && queue.ready_size() < low_water &&
               (options.engine.max_requests == 0 || admitted < options.engine.max_requests)) {
            auto next = seeds.next();
            if (!next) {
                break;
            }
            admit(std::move(*next), 0, now);
        }
    }

    void publish_gauges(clock::time_point now) {
        stats.in_flight.store(in_flight, std::memory_order_relaxed);
        stats.queued.store(queue.ready_size() + queue.delayed_size(), std::memory_order_relaxed);
        stats.open_breakers.store(queue.open_breakers(now), std::memory_order_relaxed);
        stats.short_circuited.store(queue.short_circuited(), std::memory_order_relaxed);
        stats.retry_budget_exhausted.store(queue.budget_exhausted(), std::memory_order_relaxed);
    }

    asio::awaitable<void> schedule() {
        auto self = shared_from_this();
        for (;;) {
            auto now = clock::now();
            refill_seeds(now);
            for (auto& request : queue.expire_open_hosts(now)) {
                stats.count_failure("circuit_open");
                pending_failures.push_back(failure_record{
                    request.http.url, "circuit_open", request.attempt, std::nullopt, "",
                    std::chrono::system_clock::now()});
            }
            if (!pending_failures.empty()) {
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
                asio::co_spawn(asio::make_strand(io), fetch(self, std::move(*taken)),
                               [](const std::exception_ptr& error) {
                                   if (error) {
                                       try {
                                           std::rethrow_exception(error);
                                       } catch (const std::exception& e) {
                                           spdlog::error("fetch task failed: {}", e.what());
                                       }
                                   }
                               });
            }
            publish_gauges(now);
            if (in_flight == 0 &&
                (stopping || (queue.empty() && seeds.exhausted() && pending_failures.empty()))) {
                break;
            }
            timer.expires_at(queue.next_wakeup());
            co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        publish_gauges(clock::now());
        co_await output->close();
        client.close_idle();
    }

    static asio::awaitable<void> fetch(std::shared_ptr<impl> self, taken_request taken) {
        crawl_request& request = taken.request;
        host_state& host = *taken.host;
        ++request.attempt;
        self->stats.requests.fetch_add(1, std::memory_order_relaxed);

        const auto deadline = clock::now() + host.http->timeouts.total;
        auto result = co_await self->client.fetch(request.http, host.http, deadline);

        completion done;
        resilience::attempt_outcome outcome;
        if (result) {
            outcome.status = result->status;
            outcome.retry_after = result->header("Retry-After");
            done.status = result->status;
            self->stats.count_response(result->status);
            self->stats.bytes_received.fetch_add(result->wire_bytes, std::memory_order_relaxed);
        } else {
            auto code = result.error();
            if (code.category() == net::fetch_error_category()) {
                outcome.error = static_cast<net::fetch_error>(code.value());
            } else {
                outcome.error = net::fetch_error::protocol;
            }
            done.transport_error = true;
            self->stats.count_transport_error(std::string(net::to_string(*outcome.error)));
        }
        done.decision = host.policy.classify(outcome, request.attempt, request.http.method,
                                             !request.idempotency_key.empty(),
                                             request.previous_backoff, thread_rng(),
                                             std::chrono::system_clock::now());
        const auto breaker_result = breaker_outcome(outcome);

        if (done.decision.what == resilience::verdict::success) {
            self->stats.succeeded.fetch_add(1, std::memory_order_relaxed);
            fetched_page page{request, std::move(*result), std::chrono::system_clock::now()};
            sink_result found = co_await self->output->on_success(std::move(page));
            done.links = std::move(found.links);
        } else if (done.decision.what == resilience::verdict::fail) {
            self->stats.count_failure(done.decision.failure_kind);
            failure_record failure{request.http.url, done.decision.failure_kind,
                                   request.attempt, done.status,
                                   outcome.error ? std::string(net::to_string(*outcome.error))
                                                 : std::string(),
                                   std::chrono::system_clock::now()};
            co_await self->output->on_failure(std::move(failure));
        }
        done.taken = std::move(taken);
        asio::post(self->strand, [self, done = std::move(done), breaker_result]() mutable {
            self->complete(std::move(done), breaker_result);
        });
    }

    // Scheduler strand: the bookkeeping of one finished attempt.
    void complete(completion done, resilience::call_outcome breaker_result) {
        const auto now = clock::now();
        host_state& host = *done.taken.host;
        --in_flight;
        queue.finish(host);
        const bool was_closed =
            host.breaker.state(now) == resilience::breaker_state::closed;
        host.breaker.record(done.taken.permit, breaker_result, now);
        if (was_closed && host.breaker.state(now) == resilience::breaker_state::open) {
            stats.breaker_opened.fetch_add(1, std::memory_order_relaxed);
            spdlog::warn("circuit opened for {}", host.label);
        }
        if (done.taken.request.attempt == 1) {
            // Only first attempts earn retry budget: retries must not pay for more retries.
            host.budget.on_request(now);
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
        if (options.engine.max_depth == 0 || depth <= options.engine.max_depth) {
            for (auto& link : done.links) {
                admit(net::http_request{"GET", std::move(link), {}, {}}, depth, now);
            }
        }
        wake();
    }
};

crawler::crawler(asio::io_context& io, crawl_options options, std::shared_ptr<sink> out,
                 seed_stream seeds)
    : impl_(std::make_shared<impl>(io, std::move(options), std::move(out), std::move(seeds))) {}

crawler::~crawler() = default;

asio::awaitable<void> crawler::run() {
    co_await asio::co_spawn(impl_->strand, impl_->schedule(), asio::use_awaitable);
}

void crawler::stop() {
    auto self = impl_;
    asio::post(self->strand, [self] {
        self->stopping = true;
        self->wake();
    });
}

bool crawler::stopped() const noexcept { return impl_->stopping.load(); }

const crawl_stats& crawler::stats() const noexcept { return impl_->stats; }

}  // namespace harvest::crawl
