#pragma once
// A host's guard settings from a crawl's options: its `hosts:` entry (may be null) over the
// crawl-wide sections. The one place where a host's overrides are applied to the guard (the
// crawl's frontier and the bulk service both build their guards with it).

#include "engine/crawl/options.hpp"
#include "engine/resilience/host_guard.hpp"

namespace harvest::crawl {

inline resilience::guard_options guard_options_of(const crawl_options& crawl,
                                                  const host_overrides* host) {
    resilience::guard_options out;
    out.rate = host != nullptr && host->rate_limit ? *host->rate_limit : crawl.rate_limit.per_host;
    out.adaptive = crawl.rate_limit.adaptive;
    out.breaker =
        host != nullptr && host->circuit_breaker ? *host->circuit_breaker : crawl.circuit_breaker;
    const auto& retry = host != nullptr && host->retry ? *host->retry : crawl.retry;
    out.budget_ratio = retry.budget_ratio;
    out.budget_min_per_second = retry.budget_min_per_second;
    out.concurrency = host != nullptr && host->per_host_concurrency
                          ? *host->per_host_concurrency
                          : crawl.engine.per_host_concurrency;
    return out;
}

}  // namespace harvest::crawl
