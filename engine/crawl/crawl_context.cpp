#include "engine/crawl/crawl_context.hpp"

#include "engine/core/text.hpp"
#include "engine/crawl/connection_budget.hpp"
#include "engine/crawl/crawler.hpp"
#include "engine/crawl/http_cache.hpp"
#include "engine/crawl/proxy_set.hpp"
#include "engine/crawl/renderer.hpp"
#include "engine/crawl/shared_backend.hpp"
#include "engine/metrics/crawl_metrics.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/strand.hpp>

namespace harvest::crawl {
namespace asio = boost::asio;

std::mt19937_64& thread_rng() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return rng;
}

std::optional<std::string> find_header(const net::header_list& headers, std::string_view name) {
    for (const auto& [key, value] : headers) {
        if (core::iequals(key, name)) {
            return value;
        }
    }
    return std::nullopt;
}

crawl_context::crawl_context(asio::io_context& io_context, crawl_options crawl,
                             std::shared_ptr<sink> out, metrics::crawl_metrics* crawl_metrics,
                             journal* log)
    : metrics(crawl_metrics),
      state_log(log),
      io(io_context),
      options(std::move(crawl)),
      output(std::move(out)),
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
        cache = std::make_unique<http_cache>(http_cache_dir(options), options.http_cache.max_size);
    }
    for (const auto& rule : options.render_rules) {
        // Validated by the config loader; searched like an extract rule's match.
        render_patterns.emplace_back(rule.match, std::regex::ECMAScript);
    }
    if (metrics != nullptr) {
        // At 0 from the start, cache on or off, like every series of metrics.md: a query
        // over them has data, and a rate starts from a known value.
        cache_hit = &metrics->http_cache.with({"hit"});
        cache_not_modified = &metrics->http_cache.with({"not_modified"});
        cache_miss = &metrics->http_cache.with({"miss"});
    }
}

crawl_context::~crawl_context() = default;

asio::any_io_executor crawl_context::serial_executor() {
    if (options.engine.single_thread_io) {
        return io.get_executor();
    }
    return asio::make_strand(io);
}

asio::any_io_executor crawl_context::fetch_executor(host_state& host) {
    if (shards.empty()) {
        return serial_executor();
    }
    if (host.shard == host_state::no_shard) {
        host.shard = next_shard;
        next_shard = (next_shard + 1) % shards.size();
    }
    return shards[host.shard];
}

void crawl_context::record_outcome(host_state& host, const resilience::breaker_permit& permit,
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

void crawl_context::log_failure(const std::exception_ptr& error) {
    if (error) {
        try {
            std::rethrow_exception(error);
        } catch (const std::exception& e) {
            spdlog::error("fetch task failed: {}", e.what());
        }
    }
}

}  // namespace harvest::crawl
