#include "engine/resilience/retry_budget.hpp"

#include <catch2/catch.hpp>

namespace {

using harvest::resilience::clock;
using harvest::resilience::retry_budget;
using std::chrono::milliseconds;
using std::chrono::seconds;

const clock::time_point budget_t0 = clock::time_point(std::chrono::hours(100));

int spend_all(retry_budget& b, clock::time_point now, int limit = 100'000) {
    int spent = 0;
    while (spent < limit && b.try_spend(now)) {
        ++spent;
    }
    return spent;
}

}  // namespace

TEST_CASE("retry_budget: ratio of requests plus a floor per second", "[unit][retry_budget]") {
    SECTION("no traffic: only the floor, min_per_second * window") {
        retry_budget b(0.2, 5);
        CHECK(spend_all(b, budget_t0) == 50);
        CHECK_FALSE(b.try_spend(budget_t0 + seconds(9)));  // still in the same window
    }
    SECTION("1000 requests allow 200 retries plus the floor") {
        retry_budget b(0.2, 0);
        for (int i = 0; i < 1000; ++i) {
            b.on_request(budget_t0 + milliseconds(i));
        }
        CHECK(spend_all(b, budget_t0 + seconds(1)) == 200);
    }
    SECTION("ratio and floor add up") {
        retry_budget b(0.5, 1, seconds(10));
        for (int i = 0; i < 10; ++i) {
            b.on_request(budget_t0);
        }
        CHECK(spend_all(b, budget_t0) == 5 + 10);
    }
    SECTION("5 requests at 0.2 make exactly one retry despite rounding") {
        retry_budget b(0.2, 0);
        for (int i = 0; i < 5; ++i) {
            b.on_request(budget_t0);
        }
        CHECK(b.try_spend(budget_t0));
        CHECK_FALSE(b.try_spend(budget_t0));
    }
}

TEST_CASE("retry_budget: the window slides and old counts expire", "[unit][retry_budget]") {
    retry_budget b(0.1, 0);
    for (int i = 0; i < 100; ++i) {
        b.on_request(budget_t0);
    }
    CHECK(spend_all(b, budget_t0) == 10);
    // Requests from t0 still count 9 s later; the retries too.
    CHECK_FALSE(b.try_spend(budget_t0 + seconds(9)));
    // 10 s later t0's bucket left the window: nothing left to spend, nothing owed either.
    CHECK_FALSE(b.try_spend(budget_t0 + seconds(10)));
    for (int i = 0; i < 50; ++i) {
        b.on_request(budget_t0 + seconds(10));
    }
    CHECK(spend_all(b, budget_t0 + seconds(10)) == 5);
    // A long silence: the ring is reused, no stale counts leak in.
    const auto much_later = budget_t0 + std::chrono::hours(5);
    for (int i = 0; i < 20; ++i) {
        b.on_request(much_later);
    }
    CHECK(spend_all(b, much_later) == 2);
}

TEST_CASE("retry_budget: over a long run retries stay within the bound", "[unit][retry_budget]") {
    // 100 requests/s for 10 minutes, every failure wants a retry.
    retry_budget b(0.2, 5);
    long retries_in_window_max = 0;
    std::vector<int> per_second(600, 0);
    for (int ms = 0; ms < 600'000; ms += 10) {
        const auto now = budget_t0 + milliseconds(ms);
        b.on_request(now);
        if (b.try_spend(now)) {
            ++per_second[static_cast<std::size_t>(ms / 1000)];
        }
    }
    for (std::size_t s = 10; s < per_second.size(); ++s) {
        long sum = 0;
        for (std::size_t k = s - 9; k <= s; ++k) {
            sum += per_second[k];
        }
        retries_in_window_max = std::max(retries_in_window_max, sum);
        // 0.2 * 1000 requests in 10 s + 5/s * 10 s.
        REQUIRE(sum <= 250);
    }
    CHECK(retries_in_window_max >= 240);  // and the budget is actually used
}

TEST_CASE("retry_budget: sub-second windows", "[unit][retry_budget]") {
    retry_budget b(1.0, 0, milliseconds(100));
    b.on_request(budget_t0);
    b.on_request(budget_t0);
    CHECK(spend_all(b, budget_t0 + milliseconds(50)) == 2);
    b.on_request(budget_t0 + milliseconds(200));
    CHECK(spend_all(b, budget_t0 + milliseconds(200)) == 1);
}
