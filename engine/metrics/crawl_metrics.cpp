#include "engine/metrics/crawl_metrics.hpp"

#include <stdexcept>

namespace harvest::metrics {

namespace {

// Runs before the members are bound, so a registry without `crawl` fails before registering.
registry& require_crawl_label(registry& reg) {
    if (!reg.const_label("crawl")) {
        throw std::invalid_argument(
            "crawl_metrics: the registry needs a constant 'crawl' label (metrics.md)");
    }
    return reg;
}

}  // namespace

crawl_metrics::crawl_metrics(registry& reg_in, std::size_t host_label_limit)
    : hosts(host_label_limit),
      requests(require_crawl_label(reg_in).add_counter(
          "harvest_requests_total", "Requests sent, every attempt counted.", {"host", "method"})),
      responses(reg_in.add_counter("harvest_responses_total", "Responses received, by status code.",
                                   {"host", "code"})),
      request_errors(reg_in.add_counter("harvest_request_errors_total",
                                        "Attempts that ended without a response, by error kind.",
                                        {"host", "kind"})),
      request_duration(
          reg_in.add_histogram("harvest_request_duration_seconds",
                               "Time from sending the request to the last body byte, in seconds.",
                               {"host"}, default_latency_buckets())),
      retries(reg_in.add_counter("harvest_retries_total",
                                 "Retries scheduled, by reason (a status code or an error kind).",
                                 {"host", "reason"})),
      retry_budget_exhausted(reg_in.add_counter(
          "harvest_retry_budget_exhausted_total",
          "Retries held back because the host's retry budget was spent.", {"host"})),
      failures(reg_in.add_counter("harvest_failures_total",
                                  "Requests given up for good, by failure kind.",
                                  {"host", "kind"})),
      backoff(reg_in.add_histogram("harvest_backoff_seconds",
                                   "Delay chosen before each retry (Retry-After included), in "
                                   "seconds.",
                                   {"host"}, default_backoff_buckets())),
      rate_limit_wait_seconds(reg_in.add_counter(
          "harvest_rate_limit_wait_seconds_total",
          "Time requests spent waiting for a rate-limit token, in seconds.", {"host"})),
      circuit_state(reg_in.add_gauge("harvest_circuit_state",
                                     "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
                                     {"host"})),
      circuit_transitions(reg_in.add_counter("harvest_circuit_transitions_total",
                                             "Circuit breaker state changes, by new state.",
                                             {"host", "to"})),
      circuit_short_circuits(reg_in.add_counter(
          "harvest_circuit_short_circuits_total",
          "Requests held back because the host's circuit breaker was open.", {"host"})),
      inflight_requests(
          reg_in.add_gauge("harvest_inflight_requests", "Requests in flight now.", {})),
      frontier_requests(reg_in.add_gauge(
          "harvest_frontier_requests",
          "Requests waiting in the frontier: ready, or delayed (backoff or rate limit).",
          {"state"})),
      response_bytes(reg_in.add_counter("harvest_response_bytes_total",
                                        "Response body bytes received, before decoding.",
                                        {"host"})),
      items(reg_in.add_counter("harvest_items_total", "Items extracted, by extractor and outcome.",
                               {"extractor", "outcome"})),
      output_items(reg_in.add_counter("harvest_output_items_total",
                                      "Items written per output, by outcome.",
                                      {"output", "outcome"})),
      output_queue_items(reg_in.add_gauge(
          "harvest_output_queue_items", "Items waiting for an output (backpressure).", {"output"})),
      http_cache(reg_in.add_counter(
          "harvest_http_cache_total",
          "Requests of http.cache, by result: hit (served offline), not_modified (304), miss.",
          {"result"})),
      connections_opened(reg_in.add_counter(
          "harvest_connections_opened_total",
          "Connections opened to sites, by protocol: http/1.1, h2.", {"protocol"})),
      h2_streams(reg_in.add_gauge("harvest_h2_streams", "HTTP/2 streams in flight now.", {})),
      h2_resends(reg_in.add_counter(
          "harvest_h2_resends_total",
          "Requests sent again over HTTP/2 because the server had not processed them, by "
          "reason: goaway, refused_stream, connection_lost.",
          {"reason"})),
      redis_up(reg_in.add_gauge("harvest_redis_up",
                                "1 while the shared frontier's Redis answers, 0 while it is lost.",
                                {})),
      redis_reconnects(reg_in.add_counter("harvest_redis_reconnects_total",
                                          "Connections to Redis made again after losing it.", {})),
      redis_buffered(reg_in.add_gauge(
          "harvest_redis_buffered",
          "Discovered links and completions held by this worker, not yet written to Redis.",
          {"kind"})),
      proxies(host_label_limit),
      proxy_requests(reg_in.add_counter(
          "harvest_proxy_requests_total",
          "Attempts through each proxy, by outcome (ok, banned, proxy_connect, proxy_auth, "
          "proxy_tunnel, error).",
          {"proxy", "outcome"})),
      proxy_state(reg_in.add_gauge("harvest_proxy_state",
                                   "Each proxy's circuit breaker: 0 closed, 1 half-open, 2 open.",
                                   {"proxy"})),
      render_inflight(reg_in.add_gauge("harvest_render_inflight",
                                       "Pages being rendered in headless Chromium (render:).", {})),
      render_duration(reg_in.add_histogram(
          "harvest_render_duration_seconds",
          "Time to render a page: a free tab, navigation, the wait, the serialized DOM.", {},
          default_latency_buckets())),
      renders(reg_in.add_counter(
          "harvest_renders_total",
          "Pages rendered, by result: ok, render_timeout, render_crash, render_refused.",
          {"result"})),
      browser_restarts(reg_in.add_counter(
          "harvest_browser_restarts_total",
          "Browsers killed and started again, by reason: crash, hang, memory.", {"reason"})),
      render_subrequests(reg_in.add_counter(
          "harvest_render_subrequests_total",
          "Requests of rendered pages' sub-resources, by action: sent, blocked (render.block), "
          "refused (egress guard).",
          {"action"})) {}

host_cells crawl_metrics::for_host(std::string_view host) {
    const std::string_view label = hosts.admit(host);
    return host_cells{
        .request_duration = request_duration.with({label}),
        .backoff = backoff.with({label}),
        .retry_budget_exhausted = retry_budget_exhausted.with({label}),
        .rate_limit_wait_seconds = rate_limit_wait_seconds.with({label}),
        .circuit_state = circuit_state.with({label}),
        .circuit_short_circuits = circuit_short_circuits.with({label}),
        .response_bytes = response_bytes.with({label}),
    };
}

}  // namespace harvest::metrics
