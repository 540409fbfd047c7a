#pragma once

// Every metric family of docs/metrics.md, declared once (STYLE.md: Envoy-style stats
// lists). Names, types and label names are the contract the Grafana dashboard relies on; the
// `crawl` label of the spec is the registry's constant label, so families declare only the
// labels after it.
//
// The engine resolves cells once per host (through `hosts`, the label limiter, then `with`)
// and keeps the references; the per-request path only increments.

#include "engine/metrics/registry.hpp"

#include <cstddef>
#include <string_view>

namespace harvest::metrics {

// metrics.host_label_limit's default (crawl::crawl_options::host_label_limit).
inline constexpr std::size_t default_host_label_limit = 100;

// The cells whose only label besides `crawl` is `host`, resolved together.
struct host_cells {
    histogram& request_duration;
    histogram& backoff;
    counter& retry_budget_exhausted;
    counter& rate_limit_wait_seconds;
    gauge& circuit_state;
    counter& circuit_short_circuits;
    counter& response_bytes;
};

struct crawl_metrics {
    // Throws std::invalid_argument if `reg` has no constant `crawl` label (every series must
    // carry it) or if any of these names is already registered.
    explicit crawl_metrics(registry& reg, std::size_t host_label_limit = default_host_label_limit);

    // `host` after the cardinality cap: the host itself or "other". The view lives as long as
    // this object.
    [[nodiscard]] std::string_view host_label(std::string_view host) { return hosts.admit(host); }

    // Caps `host` and resolves every host-only cell for it.
    [[nodiscard]] host_cells for_host(std::string_view host);

    label_limiter hosts;

    counter_family& requests;                 // harvest_requests_total{host, method}
    counter_family& responses;                // harvest_responses_total{host, code}
    counter_family& request_errors;           // harvest_request_errors_total{host, kind}
    histogram_family& request_duration;       // harvest_request_duration_seconds{host}
    counter_family& retries;                  // harvest_retries_total{host, reason}
    counter_family& retry_budget_exhausted;   // harvest_retry_budget_exhausted_total{host}
    counter_family& failures;                 // harvest_failures_total{host, kind}
    histogram_family& backoff;                // harvest_backoff_seconds{host}
    counter_family& rate_limit_wait_seconds;  // harvest_rate_limit_wait_seconds_total{host}
    gauge_family& circuit_state;              // harvest_circuit_state{host}: 0, 1 half-open, 2 open
    counter_family& circuit_transitions;      // harvest_circuit_transitions_total{host, to}
    counter_family& circuit_short_circuits;   // harvest_circuit_short_circuits_total{host}
    gauge_family& inflight_requests;          // harvest_inflight_requests{}
    gauge_family& frontier_requests;          // harvest_frontier_requests{state}: ready, delayed
    counter_family& response_bytes;           // harvest_response_bytes_total{host}
    counter_family& items;                    // harvest_items_total{extractor, outcome}
    counter_family& output_items;             // harvest_output_items_total{output, outcome}
    gauge_family& output_queue_items;         // harvest_output_queue_items{output}
    // http.cache: result = hit (replay, no request), not_modified (a 304 answered from the
    // cache), miss (fetched in full)
    counter_family& http_cache;  // harvest_http_cache_total{result}
    // Connections and HTTP/2 (net::client_stats), published with the other gauges.
    counter_family& connections_opened;  // harvest_connections_opened_total{protocol}
    gauge_family& h2_streams;            // harvest_h2_streams{}: in flight
    counter_family& h2_resends;          // harvest_h2_resends_total{reason}
    // Workers of a distributed crawl only (frontier.backend: redis); bound by the CLI.
    gauge_family& redis_up;            // harvest_redis_up{}: 1 Redis answers, 0 lost
    counter_family& redis_reconnects;  // harvest_redis_reconnects_total{}
    gauge_family& redis_buffered;      // harvest_redis_buffered{kind}: links, completions
    // `proxies:` only. proxy = host:port (never credentials), capped like `host`.
    label_limiter proxies;
    // outcome: ok, banned, proxy_connect, proxy_auth, proxy_tunnel, error (another transport
    // error through the proxy)
    counter_family& proxy_requests;  // harvest_proxy_requests_total{proxy, outcome}
    gauge_family& proxy_state;       // harvest_proxy_state{proxy}: 0 closed, 1 half-open, 2 open
    // Rendering (render: rules; engine/render/browser_pool.hpp).
    gauge_family& render_inflight;       // harvest_render_inflight{}
    histogram_family& render_duration;   // harvest_render_duration_seconds{}
    counter_family& renders;             // harvest_renders_total{result}
    counter_family& browser_restarts;    // harvest_browser_restarts_total{reason}
    counter_family& render_subrequests;  // harvest_render_subrequests_total{action}
};

}  // namespace harvest::metrics
