#pragma once
// How many idle keep-alive connections the crawler's HTTP client keeps per origin.
//
// An origin never has more fetches in flight than its per-host concurrency, so that many idle
// connections are enough for every next request to find one. Fewer is expensive at scale: with
// 10,000 fetches in flight to one origin and only 64 kept, almost every answered fetch closed its
// connection and the next one opened a new one — a connect storm that churns through the
// ephemeral ports (TIME_WAIT) and held the crawl near half of its Little's-law bound.

#include "engine/crawl/options.hpp"

#include <algorithm>
#include <cstddef>

namespace harvest::crawl {

// The client's default; kept as a floor so small crawls behave exactly as before.
inline constexpr std::size_t min_idle_per_origin = 64;

// The largest per-host concurrency any origin may reach (crawl-wide or a `hosts:` override),
// capped by the crawl-wide concurrency (0 = uncapped), and at least min_idle_per_origin.
inline std::size_t idle_connections_per_origin(const crawl_options& options) {
    std::size_t per_host = options.engine.per_host_concurrency;
    for (const auto& [origin, overrides] : options.hosts) {
        if (overrides.per_host_concurrency) {
            per_host = std::max(per_host, *overrides.per_host_concurrency);
        }
    }
    if (options.engine.concurrency > 0) {
        per_host = std::min(per_host, options.engine.concurrency);
    }
    return std::max(per_host, min_idle_per_origin);
}

}  // namespace harvest::crawl
