#pragma once
// Counters of one crawl, read by the run summary and `--stats-json` (docs/cli.md).
// Written from any thread: plain atomics for the hot counters, a mutex only for the keyed
// maps of rare events (failure kinds, retry reasons).

#include "engine/core/failure_kind.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace harvest::crawl {

class crawl_stats {
  public:
    std::atomic<std::uint64_t> requests{0};  // attempts sent
    std::atomic<std::uint64_t> retries{0};
    std::atomic<std::uint64_t> retry_after_waits{0};
    std::atomic<std::uint64_t> retry_budget_exhausted{0};
    std::atomic<std::uint64_t> dedup_skipped{0};
    // Redirected responses whose final URL the crawl already had: completed, nothing emitted.
    std::atomic<std::uint64_t> redirect_duplicates{0};
    std::atomic<std::uint64_t> robots_disallowed{0};
    std::atomic<std::uint64_t> breaker_opened{0};
    std::atomic<std::uint64_t> short_circuited{0};
    std::atomic<std::uint64_t> bytes_received{0};
    std::atomic<std::uint64_t> succeeded{0};  // requests that ended in a success
    std::atomic<std::uint64_t> failed_total{0};
    std::atomic<std::uint64_t> in_flight{0};
    std::atomic<std::uint64_t> queued{0};
    std::atomic<std::uint64_t> open_breakers{0};
    // engine.frontier_memory: requests spilled to disk, the spill's peak size and the peak of
    // the frontier's in-memory estimate.
    std::atomic<std::uint64_t> frontier_spilled{0};
    std::atomic<std::uint64_t> frontier_spill_bytes_peak{0};
    std::atomic<std::uint64_t> frontier_memory_bytes_peak{0};
    std::atomic<std::uint64_t> dedup_bytes{0};       // the dedup table, part of frontier_memory
    std::atomic<std::uint64_t> sessions_retired{0};  // sessions replaced after a retire_on status
    std::atomic<std::uint64_t> logins{0};            // sessions logged in (`login:` steps passed)
    // Why the `login:` steps failed (the crawl then fetched no seed); empty when they passed.
    // Written before the crawl's first request, read after crawler::run() returned.
    std::string login_error;

    void count_response(unsigned status) noexcept {
        if (status < responses_.size()) {
            responses_[status].fetch_add(1, std::memory_order_relaxed);
        }
    }
    void count_failure(core::failure_kind kind);
    void count_transport_error(core::failure_kind kind);

    std::map<unsigned, std::uint64_t> responses() const;
    // Keyed by the kinds' names, so the summary and --stats-json list them alphabetically.
    std::map<std::string, std::uint64_t> failures() const;
    std::map<std::string, std::uint64_t> transport_errors() const;

  private:
    std::array<std::atomic<std::uint64_t>, 600> responses_{};
    mutable std::mutex mutex_;
    std::map<std::string, std::uint64_t> failures_;
    std::map<std::string, std::uint64_t> transport_errors_;
};

}  // namespace harvest::crawl
