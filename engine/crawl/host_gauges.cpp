#include "engine/crawl/host_gauges.hpp"

#include <algorithm>
#include <chrono>

namespace harvest::crawl {
namespace {

// The counter of `family` for (host, label(key)), found in the host's short list or added to it.
template <typename Key, typename Lookup, typename Family, typename Label>
metrics::counter& cached_cell(std::vector<std::pair<Key, metrics::counter*>>& cache, Family& family,
                              std::string_view host, const Lookup& key, Label&& label) {
    for (const auto& [cached, cell] : cache) {
        if (cached == key) {
            return *cell;
        }
    }
    return *cache.emplace_back(Key(key), &family.with({host, label(key)})).second;
}

template <typename Family>
metrics::counter& kind_cell(std::vector<std::pair<core::failure_kind, metrics::counter*>>& cache,
                            Family& family, std::string_view host, core::failure_kind kind) {
    return cached_cell(cache, family, host, kind,
                       [](core::failure_kind k) { return core::to_string(k); });
}

template <typename Family>
metrics::counter& text_cell(std::vector<std::pair<std::string, metrics::counter*>>& cache,
                            Family& family, std::string_view host, std::string_view key) {
    return cached_cell(cache, family, host, key, [](std::string_view k) { return k; });
}

// The kinds harvest_failures_total and harvest_request_errors_total list in docs/metrics.md,
// pre-created for every host label. Kinds a crawl cannot produce (`cancelled`, `deadline`, the
// bulk service's) stay out: they would only add series that never move.
constexpr std::array transport_kinds{
    core::failure_kind::connect,
    core::failure_kind::dns,
    core::failure_kind::tls_handshake,
    core::failure_kind::tls_verify,
    core::failure_kind::timeout,
    core::failure_kind::reset,
    core::failure_kind::protocol,
    core::failure_kind::body_too_large,
    core::failure_kind::too_many_redirects,
    core::failure_kind::unsupported_scheme,
};
constexpr std::array decided_kinds{
    core::failure_kind::status_4xx,         core::failure_kind::status_5xx,
    core::failure_kind::retries_exhausted,  core::failure_kind::retry_after_too_long,
    core::failure_kind::circuit_open,       core::failure_kind::robots_disallowed,
    core::failure_kind::robots_unavailable, core::failure_kind::invalid_url,
};

}  // namespace

host_gauges::host_cells& host_gauges::cells_for(const host_state& host) {
    auto it = hosts_.find(&host);
    if (it == hosts_.end()) {
        it = hosts_.try_emplace(&host, *metrics_, host).first;
        create_zero_series(host, it->second.label);
    }
    return it->second;
}

void host_gauges::create_zero_series(const host_state& host, std::string_view label) {
    if (!zeroed_labels_.insert(label).second) {
        return;
    }
    // `with` creates a series at 0 and returns its cell; nothing is incremented here.
    for (const auto kind : transport_kinds) {
        (void)metrics_->request_errors.with({label, core::to_string(kind)});
        (void)metrics_->failures.with({label, core::to_string(kind)});
    }
    for (const auto kind : decided_kinds) {
        (void)metrics_->failures.with({label, core::to_string(kind)});
    }
    // A retry's reason is the status as text or the error kind (retry_policy::classify): only
    // those this host's policy can retry on.
    const crawl::retry_options& retry = host.policy.options();
    if (retry.max_attempts > 1) {
        for (const auto kind : retry.on_errors) {
            (void)metrics_->retries.with({label, core::to_string(kind)});
        }
        for (const auto* statuses : {&retry.on_status, &retry.on_status_with_retry_after}) {
            for (const unsigned status : *statuses) {
                (void)metrics_->retries.with({label, std::to_string(status)});
            }
        }
    }
    for (const std::string_view to : {"closed", "half_open", "open"}) {
        (void)metrics_->circuit_transitions.with({label, to});
    }
}

void host_gauges::count_sent(const host_state& host, std::string_view method) {
    if (metrics_ == nullptr) {
        return;
    }
    auto& cache = cells_for(host);
    text_cell(cache.requests_by_method, metrics_->requests, cache.label, method).inc();
}

void host_gauges::count_failure(const host_state& host, core::failure_kind kind) {
    if (metrics_ == nullptr) {
        return;
    }
    auto& cache = cells_for(host);
    kind_cell(cache.failures_by_kind, metrics_->failures, cache.label, kind).inc();
}

void host_gauges::count_attempt(const host_state& host, const attempt_metrics& attempt) {
    if (metrics_ == nullptr) {
        return;
    }
    auto& cache = cells_for(host);
    if (attempt.status) {
        cached_cell(cache.responses_by_code, metrics_->responses, cache.label, *attempt.status,
                    [](unsigned code) { return std::to_string(code); })
            .inc();
        cache.cells.request_duration.observe(
            std::chrono::duration<double>(attempt.elapsed).count());
        cache.cells.response_bytes.inc(attempt.wire_bytes);
    }
    if (attempt.error) {
        kind_cell(cache.errors_by_kind, metrics_->request_errors, cache.label,
                  net::failure_kind_of(*attempt.error))
            .inc();
    }
    if (attempt.decision == nullptr) {
        return;
    }
    const resilience::decision& decision = *attempt.decision;
    if (decision.what == resilience::verdict::retry) {
        text_cell(cache.retries_by_reason, metrics_->retries, cache.label, decision.reason).inc();
        cache.cells.backoff.observe(std::chrono::duration<double>(decision.delay).count());
    } else if (decision.what == resilience::verdict::fail) {
        kind_cell(cache.failures_by_kind, metrics_->failures, cache.label, decision.failure).inc();
    }
}

std::optional<std::size_t> host_gauges::publish(frontier& queue, clock::time_point now) {
    if (metrics_ == nullptr) {
        return std::nullopt;
    }
    std::size_t not_closed = 0;
    queue.for_each_host([this, now, &not_closed](host_state& host) {
        auto& cache = cells_for(host);
        const auto& breaker = host.guard.breaker();
        const auto state = breaker.state(now);
        if (state != resilience::breaker_state::closed) {
            ++not_closed;
        }
        cache.cells.circuit_state.set(static_cast<double>(state));
        static constexpr std::array<std::string_view, 3> names{"closed", "half_open", "open"};
        for (std::size_t to = 0; to < names.size(); ++to) {
            const auto seen = breaker.transitions_to(static_cast<resilience::breaker_state>(to));
            if (seen > cache.transitions_seen[to]) {
                metrics_->circuit_transitions.with({cache.label, names[to]})
                    .inc(seen - cache.transitions_seen[to]);
                cache.transitions_seen[to] = seen;
            }
        }
        if (host.short_circuited > cache.short_circuited_seen) {
            cache.cells.circuit_short_circuits.inc(host.short_circuited -
                                                   cache.short_circuited_seen);
            cache.short_circuited_seen = host.short_circuited;
        }
        if (host.retry_budget_exhausted > cache.budget_exhausted_seen) {
            cache.cells.retry_budget_exhausted.inc(host.retry_budget_exhausted -
                                                   cache.budget_exhausted_seen);
            cache.budget_exhausted_seen = host.retry_budget_exhausted;
        }
        if (host.token_wait_total > cache.token_wait_seen) {
            cache.cells.rate_limit_wait_seconds.add(
                std::chrono::duration<double>(host.token_wait_total - cache.token_wait_seen)
                    .count());
            cache.token_wait_seen = host.token_wait_total;
        }
    });
    return not_closed;
}

}  // namespace harvest::crawl
