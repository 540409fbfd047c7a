// host_guard: the per-host rules every front end shares, told `now` (no clock, no I/O).

#include "engine/resilience/host_guard.hpp"

#include <catch2/catch.hpp>

namespace {

using harvest::resilience::admission;
using harvest::resilience::attempt_outcome;
using harvest::resilience::breaker_state;
using harvest::resilience::clock;
using harvest::resilience::guard_options;
using harvest::resilience::host_guard;
using harvest::resilience::token_bucket;
using harvest::resilience::wait_reason;
using std::chrono::milliseconds;
using std::chrono::seconds;

const clock::time_point guard_t0 = clock::time_point(std::chrono::hours(1000));

guard_options unlimited() {
    guard_options o;
    o.rate = {0, 0};
    o.concurrency = 0;
    o.breaker.window = 10;
    o.breaker.min_calls = 4;
    o.breaker.failure_rate = 0.5;
    o.breaker.min_open_for = seconds(1);
    o.breaker.open_for = seconds(8);
    o.breaker.half_open_probes = 1;
    o.breaker.give_up_after = seconds(60);
    return o;
}

attempt_outcome status_outcome(unsigned code) {
    attempt_outcome out;
    out.status = code;
    return out;
}

// Sends one request under a fresh permit and records `code` for it.
void answer(host_guard& guard, unsigned code, bool& failed_before, clock::time_point now) {
    const admission a = guard.admit(now);
    REQUIRE(a.permit);
    guard.release();
    guard.record(*a.permit, status_outcome(code), failed_before, now);
}

}  // namespace

TEST_CASE("host_guard: concurrency, then tokens, then the breaker; a refusal spends nothing",
          "[unit][guard]") {
    auto o = unlimited();
    o.concurrency = 2;
    o.rate = {10, 2};
    host_guard guard(o);
    REQUIRE(guard.admit(guard_t0).permit);
    REQUIRE(guard.admit(guard_t0).permit);
    const auto full = guard.admit(guard_t0);
    CHECK_FALSE(full.permit);
    CHECK(full.why == wait_reason::concurrency);
    CHECK(full.not_before == clock::time_point::max());  // a completion frees a slot
    guard.release();
    guard.release();
    const auto no_token = guard.admit(guard_t0);
    CHECK(no_token.why == wait_reason::token);
    CHECK(no_token.not_before == guard_t0 + milliseconds(100));
    CHECK(guard.admit(guard_t0 + milliseconds(100)).permit);
}

TEST_CASE("host_guard: a global bucket is spent only together with the host's token",
          "[unit][guard]") {
    auto o = unlimited();
    o.rate = {1, 1};
    host_guard a(o);
    host_guard b(o);
    token_bucket global(1, 2);
    REQUIRE(a.admit(guard_t0, &global).permit);
    a.release();
    // a has no token: the global one it would need stays for b.
    CHECK(a.admit(guard_t0, &global).why == wait_reason::token);
    REQUIRE(b.admit(guard_t0, &global).permit);
    const auto both_spent = b.admit(guard_t0 + seconds(1) / 2, &global);
    CHECK(both_spent.why == wait_reason::global_token);
}

TEST_CASE("host_guard: one URL failing again and again counts once; distinct URLs open it",
          "[unit][guard]") {
    host_guard guard(unlimited());
    bool same_url = false;
    for (int attempt = 0; attempt < 20; ++attempt) {
        answer(guard, 500, same_url, guard_t0);
    }
    CHECK(guard.breaker().state(guard_t0) == breaker_state::closed);
    for (int url = 0; url < 3; ++url) {
        bool fresh = false;
        answer(guard, 500, fresh, guard_t0);
    }
    // 4 counted failures of 4 counted calls: open.
    CHECK(guard.breaker().state(guard_t0) == breaker_state::open);
    const auto held = guard.admit(guard_t0);
    CHECK(held.why == wait_reason::breaker);
    CHECK(held.not_before == guard_t0 + seconds(1));  // min_open_for
}

TEST_CASE(
    "host_guard: a probe's failure counts even for a request that failed before; "
    "give_up_after needs one",
    "[unit][guard]") {
    host_guard guard(unlimited());
    for (int url = 0; url < 4; ++url) {
        bool fresh = false;
        answer(guard, 503, fresh, guard_t0);
    }
    REQUIRE(guard.breaker().state(guard_t0) == breaker_state::open);
    // Never probed: not given up, however long it was open.
    CHECK_FALSE(guard.gives_up(guard_t0 + seconds(600)));
    const auto probe = guard.admit(guard_t0 + seconds(1));
    REQUIRE(probe.permit);
    REQUIRE(probe.permit->probe);
    guard.release();
    bool failed_before = true;  // a retry
    const auto effect =
        guard.record(*probe.permit, status_outcome(503), failed_before, guard_t0 + seconds(1));
    CHECK_FALSE(effect.opened);  // it was not closed
    CHECK(guard.breaker().state(guard_t0 + seconds(1)) == breaker_state::open);
    CHECK(guard.breaker().next_attempt_at() == guard_t0 + seconds(3));  // 2 s: doubled
    CHECK_FALSE(guard.gives_up(guard_t0 + seconds(59)));
    CHECK(guard.gives_up(guard_t0 + seconds(60)));
    // A probe that succeeds closes it, and says so.
    const auto next = guard.admit(guard_t0 + seconds(3));
    REQUIRE(next.permit);
    guard.release();
    bool fresh = false;
    const auto closed =
        guard.record(*next.permit, status_outcome(200), fresh, guard_t0 + seconds(3));
    CHECK(closed.closed_by_probe);
    CHECK_FALSE(guard.gives_up(guard_t0 + seconds(600)));
}

TEST_CASE("host_guard: Crawl-delay holds from the next request, whatever the configured burst",
          "[unit][guard]") {
    auto o = unlimited();
    o.rate = {20, 20};
    host_guard guard(o);
    guard.apply_crawl_delay(2.0);
    REQUIRE(guard.admit(guard_t0).permit);
    const auto second = guard.admit(guard_t0);
    CHECK(second.why == wait_reason::token);
    CHECK(second.not_before == guard_t0 + seconds(2));
    // A configured rate slower than the delay stays, with a burst of one.
    auto slow = unlimited();
    slow.rate = {0.1, 5};
    host_guard patient(slow);
    patient.apply_crawl_delay(2.0);
    CHECK(patient.bucket().rate() == Approx(0.1));
    CHECK(patient.bucket().burst() == Approx(1));
}

TEST_CASE("host_guard: rate_limit.adaptive halves the rate on a 429", "[unit][guard]") {
    auto o = unlimited();
    o.rate = {10, 1};
    o.adaptive = true;
    host_guard guard(o);
    bool fresh = false;
    answer(guard, 429, fresh, guard_t0);
    CHECK(guard.bucket().rate() == Approx(5));
    CHECK(guard.breaker().window_calls() == 0);  // a 429 says nothing of the host's health
}

TEST_CASE("host_guard: an unslotted request spends tokens and feeds the breaker, never a slot",
          "[unit][guard]") {
    auto o = unlimited();
    o.concurrency = 1;
    o.rate = {10, 1};
    host_guard guard(o);
    // The page holds the host's only slot; its own sub-requests still go, one token each.
    REQUIRE(guard.admit(guard_t0).permit);
    CHECK(guard.admit(guard_t0 + seconds(1)).why == wait_reason::concurrency);
    const auto first = guard.admit_unslotted(guard_t0 + seconds(1));
    REQUIRE(first.permit);
    CHECK(guard.in_flight() == 1);
    const auto no_token = guard.admit_unslotted(guard_t0 + seconds(1));
    CHECK_FALSE(no_token.permit);
    CHECK(no_token.why == wait_reason::token);
    CHECK(no_token.not_before > guard_t0 + seconds(1));
    CHECK(no_token.not_before <= guard_t0 + seconds(1) + milliseconds(100));
    // Failures of unslotted requests open the breaker (4 calls, all failed).
    bool failed_before = false;
    guard.record(*first.permit, status_outcome(503), failed_before, guard_t0 + seconds(1));
    auto now = guard_t0 + seconds(2);
    for (int i = 0; i < 3; ++i) {
        now += milliseconds(100);
        const auto a = guard.admit_unslotted(now);
        REQUIRE(a.permit);
        bool fresh = false;
        guard.record(*a.permit, status_outcome(503), fresh, now);
    }
    CHECK(guard.breaker().state(now) == breaker_state::open);
    const auto refused = guard.admit_unslotted(now + milliseconds(100));
    CHECK(refused.why == wait_reason::breaker);
    CHECK(refused.not_before == guard.breaker().next_attempt_at());
    // Slots were never taken: the page's is the only one.
    CHECK(guard.in_flight() == 1);
    // A permit never used gives its probe back without touching the slots.
    const auto probe_time = guard.breaker().next_attempt_at();
    const auto probe = guard.admit_unslotted(probe_time);
    REQUIRE(probe.permit);
    guard.cancel_unslotted(*probe.permit);
    CHECK(guard.in_flight() == 1);
    CHECK(guard.admit_unslotted(probe_time + milliseconds(100)).permit);
}
