#pragma once
// One target's guard: everything that decides whether a request may be sent to one host now,
// and what its answer means for the next ones. Every front end asks the same guard — the crawl's
// frontier, the bulk service's items, webhook and callback delivery (resilient_sender) — so the
// per-host rules exist once (DESIGN.md, principle 8):
//
//   admit(now)        per-host concurrency, then the token bucket (and an optional global bucket
//                     of several hosts, peeked and spent together), then the circuit breaker:
//                     a permit, or when to ask again and why. Nothing is spent on a refusal.
//   record(...)       the attempt sent under a permit ended: the slot comes back, the breaker
//                     hears it (a request counts one failure in its life; a probe's failure
//                     always counts), the adaptive rate hears its status.
//   try_retry(now)    the retry budget: may a retry be sent now (counted when it may)?
//   gives_up(now)     circuit_breaker.give_up_after: open that long with a failed probe.
//
// A plain value told `now`: no I/O, no clock, no Asio. Not thread-safe: one host's guard is
// touched from one place at a time (the crawl's scheduler strand, the service's runner thread,
// or under the sender's mutex).

#include "engine/resilience/circuit_breaker.hpp"
#include "engine/resilience/clock.hpp"
#include "engine/resilience/options.hpp"
#include "engine/resilience/retry_budget.hpp"
#include "engine/resilience/retry_policy.hpp"
#include "engine/resilience/token_bucket.hpp"

#include <cstddef>
#include <optional>

namespace harvest::resilience {

// A retry over its host's retry budget waits this long before it asks again (the budget names
// no time: it grows with the host's first attempts). The one such interval: the frontier,
// resilient_sender and the bulk service all wait this long (docs/bulk-api.md says 250 ms).
inline constexpr auto budget_recheck = std::chrono::milliseconds(250);

// What a guard is made of: the crawl config's per-host values, after `hosts:` overrides
// (crawl::guard_options_of, engine/crawl/host_guard_options.hpp).
struct guard_options {
    bucket_options rate;    // rate_limit.per_host (or the host's rate_limit)
    bool adaptive = false;  // rate_limit.adaptive: a 429 halves the rate
    breaker_options breaker;
    double budget_ratio = 0.2;  // retry.budget
    double budget_min_per_second = 5;
    std::size_t concurrency = 32;  // engine.per_host_concurrency; 0 = unlimited
};

enum class wait_reason {
    none,          // admitted
    concurrency,   // every slot of the host is taken: a completion frees one (no time)
    token,         // the host's bucket: not_before is when a token is there
    global_token,  // the global bucket: not_before likewise
    breaker,       // open: not_before is when it turns half-open; half-open with every probe
                   // out: a probe's completion decides (no time)
};

struct admission {
    std::optional<breaker_permit> permit;  // set: send now, and record() the result
    clock::time_point not_before = clock::time_point::max();  // max = on an event, not a time
    wait_reason why = wait_reason::none;
};

// What record() changed, for logs, metrics and a cluster that shares breaker openings.
struct record_effect {
    bool opened = false;           // the breaker went from closed to open
    bool closed_by_probe = false;  // a half-open probe's success closed it
};

class host_guard {
  public:
    explicit host_guard(const guard_options& options);

    // May a request go now? `global`, when given, is a bucket shared with other hosts: it is
    // looked at first and spent only together with this host's token.
    [[nodiscard]] admission admit(clock::time_point now, token_bucket* global = nullptr);

    // The same question for a request that takes no concurrency slot: what a rendered page's
    // own script asks of its host runs under the page's slot, but spends the host's tokens and
    // is judged by its breaker like any request. record() its answer; never release() it, and
    // cancel_unslotted() it when it is never answered.
    [[nodiscard]] admission admit_unslotted(clock::time_point now, token_bucket* global = nullptr);
    void cancel_unslotted(const breaker_permit& permit) { breaker_.cancel(permit); }

    // The attempt sent under `permit` ended with `outcome`. `failed_before` is the request's own
    // mark (kept with the request across its retries): set here on its first failure, so that
    // its later failures count as neutral while the breaker is closed.
    record_effect record(const breaker_permit& permit, const attempt_outcome& outcome,
                         bool& failed_before, clock::time_point now);

    // The request admitted under a permit is no longer in flight (its answer arrived or it
    // failed): frees its concurrency slot. Separate from record(), which may come earlier.
    void release() noexcept {
        if (in_flight_ > 0) {
            --in_flight_;
        }
    }

    // A permit whose request was never sent (shut down, cancelled): frees the slot and a probe.
    void cancel(const breaker_permit& permit) {
        breaker_.cancel(permit);
        release();
    }

    // retry.budget: true (and counted) when a retry may be sent now.
    [[nodiscard]] bool try_retry(clock::time_point now) { return budget_.try_spend(now); }
    // A first attempt was sent: it earns retry budget.
    void on_first_attempt(clock::time_point now) { budget_.on_request(now); }

    // circuit_breaker.give_up_after: the breaker has been open (or half-open) that long without
    // closing, and a half-open probe failed in that time. Time alone never gives up on a host.
    [[nodiscard]] bool gives_up(clock::time_point now) const;

    // robots.txt Crawl-delay: at most one request per `seconds`, from the next request on (a
    // bucket of one token), unless the configured rate is slower.
    void apply_crawl_delay(double seconds);

    const circuit_breaker& breaker() const noexcept { return breaker_; }
    const token_bucket& bucket() const noexcept { return bucket_; }
    std::size_t in_flight() const noexcept { return in_flight_; }
    std::size_t concurrency() const noexcept { return concurrency_; }

  private:
    admission admit_tokens(clock::time_point now, token_bucket* global);

    token_bucket bucket_;
    std::optional<adaptive_rate> adaptive_;
    circuit_breaker breaker_;
    retry_budget budget_;
    clock::duration give_up_after_;
    std::size_t concurrency_;
    std::size_t in_flight_ = 0;
};

}  // namespace harvest::resilience
