#pragma once
// The crawl's per-host metrics (docs/metrics.md): counters touched as attempts are sent and end,
// and the gauges and counters read off each host's guard at most ten times a second. The
// metric cells of a host are resolved once, when it is first seen: label lookups stay off the
// hot path. Scheduler strand only; a null crawl_metrics makes every call a no-op.

#include "engine/core/failure_kind.hpp"
#include "engine/crawl/frontier.hpp"
#include "engine/metrics/crawl_metrics.hpp"
#include "engine/net/fetch_error.hpp"
#include "engine/resilience/retry_policy.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace harvest::crawl {

// What one finished attempt reports to the metrics.
struct attempt_metrics {
    std::optional<unsigned> status;         // a response arrived
    std::optional<net::fetch_error> error;  // none did
    std::uint64_t wire_bytes = 0;
    clock::duration elapsed{};
    const resilience::decision* decision = nullptr;  // what the retry policy made of it
};

class host_gauges {
  public:
    explicit host_gauges(metrics::crawl_metrics* metrics) : metrics_(metrics) {}

    // harvest_requests_total counts attempts as they are sent, not as they end.
    void count_sent(const host_state& host, std::string_view method);
    void count_attempt(const host_state& host, const attempt_metrics& attempt);
    // A request that ended without an attempt of its own (circuit_open, robots, invalid URL).
    void count_failure(const host_state& host, core::failure_kind kind);

    // The per-host gauges and the counters kept by each host's guard, brought up to date.
    // Returns how many hosts have a breaker that is not closed; nullopt without metrics.
    std::optional<std::size_t> publish(frontier& queue, clock::time_point now);

  private:
    // A host sees a handful of methods, codes and kinds: a short vector searched in order is
    // cheaper per completion than a map's node walk.
    template <typename Key>
    using cell_list = std::vector<std::pair<Key, metrics::counter*>>;

    struct host_cells {
        host_cells(metrics::crawl_metrics& m, const host_state& host)
            : label(m.host_label(host.label)), cells(m.for_host(host.label)) {}

        std::string_view label;
        metrics::host_cells cells;
        cell_list<std::string> requests_by_method;
        cell_list<unsigned> responses_by_code;
        cell_list<core::failure_kind> errors_by_kind;
        cell_list<std::string> retries_by_reason;
        cell_list<core::failure_kind> failures_by_kind;
        // What the guard's own counters stood at when last published.
        std::array<std::uint64_t, 3> transitions_seen{};
        std::uint64_t short_circuited_seen = 0;
        std::uint64_t budget_exhausted_seen = 0;
        clock::duration token_wait_seen{};
    };

    host_cells& cells_for(const host_state& host);
    // The series a dashboard expects before the first event, created at 0 once per label
    // (docs/metrics.md, "Series that exist from the start").
    void create_zero_series(const host_state& host, std::string_view label);

    metrics::crawl_metrics* metrics_;
    std::unordered_map<const host_state*, host_cells> hosts_;
    // Host labels whose zero series exist; views into metrics_->hosts, which outlives them.
    // "other" is entered once, with the retry policy of the first host counted under it.
    std::unordered_set<std::string_view> zeroed_labels_;
};

}  // namespace harvest::crawl
