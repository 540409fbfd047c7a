#include "engine/resilience/circuit_breaker.hpp"

#include <catch2/catch.hpp>

#include <vector>

namespace {

using harvest::resilience::breaker_options;
using harvest::resilience::breaker_permit;
using harvest::resilience::breaker_state;
using harvest::resilience::call_outcome;
using harvest::resilience::circuit_breaker;
using harvest::resilience::clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

const clock::time_point t0 = clock::time_point(std::chrono::hours(1000));

// window 10, min_calls 4, failure_rate 0.5, every opening 30 s, 2 probes.
breaker_options small() {
    breaker_options o;
    o.window = 10;
    o.min_calls = 4;
    o.failure_rate = 0.5;
    o.min_open_for = seconds(30);
    o.open_for = seconds(30);
    o.half_open_probes = 2;
    return o;
}

void call(circuit_breaker& b, call_outcome outcome, clock::time_point now) {
    const auto permit = b.try_acquire(now);
    REQUIRE(permit.has_value());
    REQUIRE_FALSE(permit->probe);
    b.record(*permit, outcome, now);
}

// Opens the breaker at `now` with min_calls failures.
void trip(circuit_breaker& b, clock::time_point now) {
    for (int i = 0; i < 4; ++i) {
        call(b, call_outcome::failure, now);
    }
    REQUIRE(b.state(now) == breaker_state::open);
}

}  // namespace

TEST_CASE("circuit_breaker: opens exactly at the threshold", "[unit][breaker]") {
    circuit_breaker b(small());
    // 5 successes then 4 failures: 4/9 < 0.5, stays closed.
    for (int i = 0; i < 5; ++i) {
        call(b, call_outcome::success, t0);
    }
    for (int i = 0; i < 4; ++i) {
        call(b, call_outcome::failure, t0);
    }
    CHECK(b.state(t0) == breaker_state::closed);
    CHECK(b.window_calls() == 9);
    CHECK(b.window_failures() == 4);
    // The 5th failure: 5/10 = 0.5 >= 0.5, opens.
    call(b, call_outcome::failure, t0);
    CHECK(b.state(t0) == breaker_state::open);
    CHECK(b.transitions_to(breaker_state::open) == 1);
    CHECK(b.open_since() == t0);
    CHECK(b.next_attempt_at() == t0 + seconds(30));
    CHECK_FALSE(b.try_acquire(t0 + seconds(29)).has_value());
}

TEST_CASE("circuit_breaker: no decision below min_calls", "[unit][breaker]") {
    circuit_breaker b(small());
    for (int i = 0; i < 3; ++i) {
        call(b, call_outcome::failure, t0);
    }
    CHECK(b.state(t0) == breaker_state::closed);  // 3/3 failed, but only 3 calls
    call(b, call_outcome::failure, t0);
    CHECK(b.state(t0) == breaker_state::open);
}

TEST_CASE("circuit_breaker: neutral outcomes do not count", "[unit][breaker]") {
    circuit_breaker b(small());
    for (int i = 0; i < 100; ++i) {
        call(b, call_outcome::neutral, t0);
    }
    CHECK(b.window_calls() == 0);
    for (int i = 0; i < 3; ++i) {
        call(b, call_outcome::failure, t0);
    }
    CHECK(b.state(t0) == breaker_state::closed);
}

TEST_CASE("circuit_breaker: the window slides", "[unit][breaker]") {
    circuit_breaker b(small());
    for (int i = 0; i < 10; ++i) {
        call(b, call_outcome::success, t0);
    }
    // One failure in three: at most 4 of the last 10, never 50%.
    for (int round = 0; round < 60; ++round) {
        call(b, round % 3 == 0 ? call_outcome::failure : call_outcome::success, t0);
        REQUIRE(b.state(t0) == breaker_state::closed);
        REQUIRE(b.window_calls() == 10);
        REQUIRE(b.window_failures() <= 4);
    }
    for (int i = 0; i < 10; ++i) {
        call(b, call_outcome::success, t0);
    }
    REQUIRE(b.window_failures() == 0);
    // 4 failures among the last 10 stay closed; the 5th opens (5/10). Without the slide the
    // counts would be 5 of 80 and it would not open.
    for (int i = 0; i < 4; ++i) {
        call(b, call_outcome::failure, t0);
    }
    CHECK(b.state(t0) == breaker_state::closed);
    call(b, call_outcome::failure, t0);
    CHECK(b.state(t0) == breaker_state::open);
}

TEST_CASE("circuit_breaker: half-open probes, limits, close", "[unit][breaker]") {
    circuit_breaker b(small());
    trip(b, t0);
    const auto later = t0 + seconds(30);
    CHECK(b.state(later) == breaker_state::half_open);  // as a gauge would read it
    const auto p1 = b.try_acquire(later);
    const auto p2 = b.try_acquire(later);
    REQUIRE(p1.has_value());
    REQUIRE(p2.has_value());
    CHECK(p1->probe);
    CHECK(p2->probe);
    CHECK_FALSE(b.try_acquire(later).has_value());  // at most 2 concurrent probes
    CHECK(b.transitions_to(breaker_state::half_open) == 1);
    b.record(*p1, call_outcome::success, later);
    CHECK(b.state(later) == breaker_state::half_open);
    CHECK_FALSE(b.try_acquire(later).has_value());  // still 2 granted in this half-open
    b.record(*p2, call_outcome::neutral, later);    // answered: counts as success
    CHECK(b.state(later) == breaker_state::closed);
    CHECK(b.transitions_to(breaker_state::closed) == 1);
    CHECK_FALSE(b.open_since().has_value());
    CHECK(b.window_calls() == 0);  // cleared
    // Closed again with an empty window: 3 failures are below min_calls.
    for (int i = 0; i < 3; ++i) {
        call(b, call_outcome::failure, later);
    }
    CHECK(b.state(later) == breaker_state::closed);
}

TEST_CASE("circuit_breaker: a failed probe reopens", "[unit][breaker]") {
    circuit_breaker b(small());
    trip(b, t0);
    auto now = t0 + seconds(30);
    const auto p1 = b.try_acquire(now);
    const auto p2 = b.try_acquire(now);
    REQUIRE(p1);
    REQUIRE(p2);
    b.record(*p1, call_outcome::failure, now + seconds(1));
    CHECK(b.state(now + seconds(1)) == breaker_state::open);
    CHECK(b.next_attempt_at() == now + seconds(31));
    CHECK(b.transitions_to(breaker_state::open) == 2);
    // open_since stays at the start of the unbroken open period.
    CHECK(b.open_since() == t0);
    // The other probe answers late: stale, ignored (it does not close the breaker).
    b.record(*p2, call_outcome::success, now + seconds(2));
    CHECK(b.state(now + seconds(2)) == breaker_state::open);
    CHECK_FALSE(b.try_acquire(now + seconds(30)).has_value());
    now += seconds(31);
    const auto p3 = b.try_acquire(now);
    REQUIRE(p3);
    CHECK(p3->probe);
    CHECK(b.transitions_to(breaker_state::half_open) == 2);
}

TEST_CASE("circuit_breaker: each failed probe doubles the opening, up to open_for",
          "[unit][breaker]") {
    auto o = small();
    o.min_open_for = seconds(1);
    o.open_for = seconds(5);
    o.half_open_probes = 1;
    circuit_breaker b(o);
    trip(b, t0);
    CHECK(b.next_attempt_at() == t0 + seconds(1));
    auto now = t0;
    for (const int expected : {2, 4, 5, 5}) {
        now = b.next_attempt_at();
        const auto probe = b.try_acquire(now);
        REQUIRE(probe);
        REQUIRE(probe->probe);
        b.record(*probe, call_outcome::failure, now);
        CHECK(b.next_attempt_at() - now == seconds(expected));
    }
    CHECK(b.failed_probes() == 4);
    now = b.next_attempt_at();
    const auto probe = b.try_acquire(now);
    REQUIRE(probe);
    b.record(*probe, call_outcome::success, now);
    CHECK(b.state(now) == breaker_state::closed);
    CHECK(b.failed_probes() == 0);
    // A new episode starts from min_open_for again.
    trip(b, now);
    CHECK(b.next_attempt_at() == now + seconds(1));
}

TEST_CASE("circuit_breaker: stale permits are ignored", "[unit][breaker]") {
    circuit_breaker b(small());
    // Permits taken while closed, answered after the breaker opened.
    std::vector<breaker_permit> in_flight;
    for (int i = 0; i < 6; ++i) {
        in_flight.push_back(*b.try_acquire(t0));
    }
    trip(b, t0);
    for (const auto& p : in_flight) {
        b.record(p, call_outcome::success, t0 + seconds(1));
    }
    CHECK(b.state(t0 + seconds(1)) == breaker_state::open);
    // After half-open and close, old failures do not count in the new window.
    const auto later = t0 + seconds(30);
    const auto p1 = b.try_acquire(later);
    const auto p2 = b.try_acquire(later);
    b.record(*p1, call_outcome::success, later);
    b.record(*p2, call_outcome::success, later);
    REQUIRE(b.state(later) == breaker_state::closed);
    for (const auto& p : in_flight) {
        b.record(p, call_outcome::failure, later);
    }
    CHECK(b.window_calls() == 0);
    CHECK(b.state(later) == breaker_state::closed);
    // Every state change moved the generation on, so the old permits can never match again.
    CHECK(b.generation() > in_flight.front().generation);
}

TEST_CASE("circuit_breaker: cancel frees a probe slot", "[unit][breaker]") {
    circuit_breaker b(small());
    trip(b, t0);
    const auto later = t0 + seconds(30);
    const auto p1 = b.try_acquire(later);
    const auto p2 = b.try_acquire(later);
    REQUIRE(p1);
    REQUIRE(p2);
    REQUIRE_FALSE(b.try_acquire(later));
    b.cancel(*p2);
    const auto p3 = b.try_acquire(later);
    REQUIRE(p3);
    b.record(*p1, call_outcome::success, later);
    b.record(*p3, call_outcome::success, later);
    CHECK(b.state(later) == breaker_state::closed);
}

TEST_CASE("circuit_breaker: spec defaults and odd options", "[unit][breaker]") {
    circuit_breaker b{breaker_options{}};  // window 20, min_calls 10, 0.5, 30 s, 2 probes
    for (int i = 0; i < 9; ++i) {
        call(b, call_outcome::failure, t0);
    }
    CHECK(b.state(t0) == breaker_state::closed);
    call(b, call_outcome::failure, t0);
    CHECK(b.state(t0) == breaker_state::open);

    breaker_options odd;
    odd.window = 3;
    odd.min_calls = 10;  // above the window: treated as the window, or it could never open
    odd.half_open_probes = 0;
    circuit_breaker c(odd);
    for (int i = 0; i < 3; ++i) {
        call(c, call_outcome::failure, t0);
    }
    CHECK(c.state(t0) == breaker_state::open);
    const auto probe = c.try_acquire(t0 + seconds(30));
    REQUIRE(probe);
    CHECK_FALSE(c.try_acquire(t0 + seconds(30)));  // one probe at least, and at most
    c.record(*probe, call_outcome::success, t0 + seconds(30));
    CHECK(c.state(t0 + seconds(30)) == breaker_state::closed);

    breaker_options never;
    never.failure_rate = 0;  // 0 failures never open it
    circuit_breaker d(never);
    for (int i = 0; i < 50; ++i) {
        call(d, call_outcome::success, t0);
    }
    CHECK(d.state(t0) == breaker_state::closed);
}
