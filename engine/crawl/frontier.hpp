#pragma once
// The frontier: every request not yet completed, per host, with the host's policies.
//
// Threading: owned by the scheduler strand; nothing here is synchronized and nothing here
// suspends. Fetches running on other threads report back by posting to that strand.
//
// A request is in exactly one of three places: a host's ready queue, the delayed heap (waiting
// for a retry's backoff or a retry budget, with `not_before`), or in flight. Waiting for a
// token or for an open breaker leaves it in the ready queue: waiting never holds a coroutine,
// a connection or a concurrency permit.

#include "engine/core/failure_kind.hpp"
#include "engine/core/robots.hpp"
#include "engine/crawl/fingerprint_set.hpp"
#include "engine/crawl/options.hpp"
#include "engine/crawl/request.hpp"
#include "engine/crawl/spill.hpp"
#include "engine/resilience/host_guard.hpp"
#include "engine/resilience/retry_policy.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <list>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace harvest::crawl {

class journal;
using clock = std::chrono::steady_clock;

// The per-origin state: queue, limits and resilience policies of one `scheme://host:port`.
struct host_state {
    host_state(std::string origin, std::string label, const crawl_options& options,
               const host_overrides* overrides);

    std::string origin;  // scheme://host:port, the unit of per-host limits
    std::string label;   // host or host:port, as metrics name it
    // The network shard its fetches run on (crawl_context::fetch_executor), given at the first.
    static constexpr std::size_t no_shard = static_cast<std::size_t>(-1);
    std::size_t shard = no_shard;
    std::deque<crawl_request> ready;
    // Behind `ready`, in order: the host's requests beyond engine.frontier_memory (null until
    // the host first spills).
    std::unique_ptr<spill_queue> spill;
    std::shared_ptr<const http_options> http;
    // Concurrency, token bucket (adaptive), breaker and retry budget of the host: the one
    // per-host guard every front end uses.
    resilience::host_guard guard;
    // Since when the head of the queue has waited for a token (rate-limit wait accounting).
    std::optional<clock::time_point> token_wait_since;
    clock::duration token_wait_total{};
    std::uint64_t short_circuited = 0;         // requests held back by this host's breaker
    std::uint64_t retry_budget_exhausted = 0;  // retries held back by this host's budget
    resilience::retry_policy policy;
    // robots.txt (engine.robots_txt: obey): fetched once before the host's first request.
    enum class robots_status { unknown, fetching, ready } robots = robots_status::unknown;
    std::optional<core::robots_rules> robots_rules;
    unsigned robots_attempts = 0;  // fetches of robots.txt that got no usable answer
    // Set when robots.txt stayed unavailable (5xx or no answer) after every try: the host's
    // requests are refused as `robots_unavailable`, with the last answer's status or error.
    struct robots_failure {
        std::optional<unsigned> status;
        std::optional<core::failure_kind> last_error;  // none when the server answered
    };
    std::optional<robots_failure> robots_unavailable;
    clock::time_point robots_retry_at{};  // when robots.txt may be asked for again
    // The breaker episode (from closed to open until closed again, numbered by
    // transitions_to(closed)) whose held-back requests were counted in short_circuited: each
    // waiting request is counted once per opening of the breaker, not once per pass or probe.
    std::optional<std::uint64_t> short_circuit_episode;
    bool in_rotation = false;  // listed in the frontier's rotation of hosts with ready work
};

struct taken_request {
    crawl_request request;
    host_state* host = nullptr;
    resilience::breaker_permit permit;
};

class frontier {
  public:
    // `log`, when given, records every admitted request (the state journal for --resume).
    explicit frontier(const crawl_options& options, journal* log = nullptr);

    // Resume: the fingerprints a previous run admitted (the dedup set) and the requests it
    // left pending, queued again without being journaled twice.
    void restore(fingerprint_set seen, std::vector<crawl_request> pending);

    enum class admit_result { queued, duplicate, invalid_url };
    // A new logical request (seed or discovered link). Dedup by fingerprint when enabled.
    // `request` is moved from only when queued: a duplicate or an invalid URL leaves it whole.
    admit_result admit(crawl_request&& request, clock::time_point now);
    admit_result admit(const crawl_request& request, clock::time_point now) {
        return admit(crawl_request(request), now);
    }
    // A redirect ended at `target` (a fingerprint): true when the crawl had no such request
    // (it is now marked seen, so links to it are duplicates), false when it has one already.
    // Always true with dedup off.
    bool claim(std::uint64_t target);
    // A request to retry at `not_before` (backoff or Retry-After).
    void delay(crawl_request request, host_state& host, clock::time_point not_before);

    // The next request that may be sent now: round-robin over hosts, skipping those at their
    // concurrency limit, without a token, or with an open breaker. The caller owns one
    // in-flight slot of the host until it calls `finish`.
    std::optional<taken_request> take(clock::time_point now);
    void finish(host_state& host);

    // Hosts whose robots.txt must be fetched before anything else is sent to them (obey only).
    // Each host is listed once; the caller fetches and then calls `set_robots`.
    std::vector<host_state*> take_robots_fetches();
    void set_robots(host_state& host, core::robots_rules rules);
    // robots.txt could not be fetched (5xx, unreachable): ask again at `retry_at`; the host's
    // requests keep waiting (RFC 9309 §2.3.1.4: disallow all until it can be fetched).
    void retry_robots(host_state& host, clock::time_point retry_at);
    // Requests that robots.txt disallows, removed from the frontier, to be failed with
    // `robots_disallowed` (or `robots_unavailable` when their host's robots_unavailable is set).
    struct robots_refusal {
        crawl_request request;
        const host_state* host = nullptr;
    };
    std::vector<robots_refusal> take_robots_refusals();

    // Requests of hosts whose guard gives up (open past give_up_after, with a failed probe);
    // they are removed from the frontier and must be failed with `circuit_open`.
    std::vector<crawl_request> expire_open_hosts(clock::time_point now);

    // When something may become takeable without any completion: the earliest delayed request,
    // token or half-open time seen by the last `take`. max() when nothing is waiting on time.
    clock::time_point next_wakeup() const noexcept { return next_wakeup_; }

    // Ready requests, in memory and spilled to disk.
    std::size_t ready_size() const noexcept { return ready_count_ + spilled_now_; }
    std::size_t delayed_size() const noexcept { return delayed_.size(); }
    bool empty() const noexcept { return ready_size() == 0 && delayed_.empty(); }
    // engine.frontier_memory: the estimate (estimate_request_bytes) of what the ready queues
    // hold in memory, and the spill to `<state dir>/spill/` beyond it.
    std::size_t memory_bytes() const noexcept { return memory_bytes_; }
    std::size_t memory_bytes_peak() const noexcept { return memory_bytes_peak_; }
    // The dedup table's own memory; it counts against engine.frontier_memory too.
    std::size_t dedup_bytes() const noexcept { return seen_.memory_bytes(); }
    std::size_t spilled_size() const noexcept { return spilled_now_; }
    std::uint64_t spilled_total() const noexcept { return spilled_total_; }
    std::uint64_t spill_bytes_peak() const noexcept { return spill_bytes_peak_; }
    const std::filesystem::path& spill_dir() const noexcept { return spill_dir_; }
    std::size_t open_breakers(clock::time_point now) const;
    template <typename Visit>
    void for_each_host(Visit&& visit) {
        for (auto& [origin, host] : hosts_) {
            visit(*host);
        }
    }
    std::uint64_t short_circuited() const noexcept { return short_circuited_; }
    std::uint64_t budget_exhausted() const noexcept { return budget_exhausted_; }

    host_state* host_for(const std::string& url);

  private:
    struct delayed_entry {
        clock::time_point not_before;
        std::uint64_t sequence;  // FIFO among equal times
        host_state* host;
        crawl_request request;
    };
    struct later_first {
        bool operator()(const delayed_entry& a, const delayed_entry& b) const {
            return a.not_before != b.not_before ? a.not_before > b.not_before
                                                : a.sequence > b.sequence;
        }
    };

    void promote_due(clock::time_point now);
    // Which of a host's ready requests a half-open probe takes (frontier.cpp says why).
    std::size_t probe_candidate(const host_state& host);
    // `may_spill` false: a retry coming back from the delayed heap stays in memory.
    void enqueue_ready(host_state& host, crawl_request&& request, bool may_spill = true);
    void push_memory(host_state& host, crawl_request&& request);
    crawl_request pop_memory(host_state& host);
    // The request at `index` of the host's memory queue (a half-open probe picks a fresh one).
    crawl_request pop_memory_at(host_state& host, std::size_t index);
    bool spill_to_disk(host_state& host, crawl_request& request);
    void refill(host_state& host);
    void drain_spill(host_state& host, std::vector<crawl_request>& into);
    void note_spill_change(host_state& host, std::size_t count_before, std::uint64_t bytes_before);

    const crawl_options& options_;
    journal* journal_;
    std::string robots_agent_;  // the product token robots.txt groups are matched against
    std::unordered_map<std::string, std::unique_ptr<host_state>> hosts_;
    std::list<host_state*> rotation_;     // hosts with ready requests
    std::vector<delayed_entry> delayed_;  // min-heap by later_first
    std::vector<host_state*> robots_needed_;
    std::vector<robots_refusal> robots_refused_;
    fingerprint_set seen_;
    resilience::token_bucket global_bucket_;
    std::size_t ready_count_ = 0;
    std::uint64_t sequence_ = 0;
    std::uint64_t short_circuited_ = 0;
    std::uint64_t budget_exhausted_ = 0;
    std::filesystem::path spill_dir_;
    bool spill_dir_ready_ = false;  // created (and cleared of a previous run's files)
    bool spill_disabled_ = false;   // after a write error: everything stays in memory
    std::size_t memory_bytes_ = 0;
    std::size_t memory_bytes_peak_ = 0;
    std::size_t spilled_now_ = 0;
    std::uint64_t spilled_total_ = 0;
    std::uint64_t spill_bytes_ = 0;
    std::uint64_t spill_bytes_peak_ = 0;
    std::uint64_t spill_files_ = 0;  // names the next host's segment files
    clock::time_point next_wakeup_ = clock::time_point::max();
    std::minstd_rand probe_rng_{0x5eed};  // probe draws; fixed seed: a run replays the same
};

// 64-bit fingerprint of a request (method, canonical URL, body), for dedup; nullopt when the
// URL cannot be parsed.
std::optional<std::uint64_t> fingerprint(const net::http_request& request);

}  // namespace harvest::crawl
