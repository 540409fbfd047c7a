#include "engine/resilience/backoff.hpp"

#include <catch2/catch.hpp>

#include <climits>
#include <cmath>
#include <vector>

namespace {

using harvest::resilience::backoff;
using harvest::resilience::backoff_options;
using harvest::resilience::backoff_strategy;
using harvest::resilience::clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

backoff make(backoff_strategy s, milliseconds base = milliseconds(500),
             milliseconds max = seconds(30)) {
    return backoff(backoff_options{s, base, max});
}

double secs(clock::duration d) {
    return std::chrono::duration<double>(d).count();
}

}  // namespace

TEST_CASE("backoff: cap(n) = min(max, base * 2^(n-1)) without overflow", "[unit][backoff]") {
    const auto b = make(backoff_strategy::none);
    CHECK(b.cap(0) == clock::duration::zero());
    CHECK(b.cap(1) == milliseconds(500));
    CHECK(b.cap(2) == milliseconds(1000));
    CHECK(b.cap(6) == milliseconds(16000));
    CHECK(b.cap(7) == seconds(30));
    for (unsigned n : {8u, 30u, 62u, 63u, 64u, 65u, 1000u, UINT_MAX}) {
        INFO("n = " << n);
        CHECK(b.cap(n) == seconds(30));
    }
    // A max near the limit of the representation still does not overflow.
    const auto huge = make(backoff_strategy::none, milliseconds(1), milliseconds(LLONG_MAX));
    CHECK(huge.cap(40) == milliseconds(1LL << 39));
    CHECK(huge.cap(UINT_MAX) > clock::duration::zero());
    // base above max: the max wins from the first retry.
    CHECK(make(backoff_strategy::none, seconds(60), seconds(30)).cap(1) == seconds(30));
}

TEST_CASE("backoff: every strategy stays within its bounds", "[unit][backoff]") {
    std::mt19937_64 rng(1);
    const auto full = make(backoff_strategy::full_jitter);
    const auto equal = make(backoff_strategy::equal_jitter);
    const auto decorrelated = make(backoff_strategy::decorrelated_jitter);
    const auto none = make(backoff_strategy::none);
    for (unsigned n : {1u, 2u, 3u, 5u, 7u, 10u, 64u, 100u, UINT_MAX}) {
        const auto cap = none.cap(n);
        CHECK(none.delay(n, {}, rng) == cap);
        clock::duration previous{};
        for (int i = 0; i < 2000; ++i) {
            const auto f = full.delay(n, {}, rng);
            REQUIRE(f >= clock::duration::zero());
            REQUIRE(f <= cap);
            const auto e = equal.delay(n, {}, rng);
            REQUIRE(e >= cap / 2);
            REQUIRE(e <= cap);
            const auto d = decorrelated.delay(n, previous, rng);
            REQUIRE(d >= milliseconds(500));
            REQUIRE(d <= seconds(30));
            // previous 0 stands for base.
            const auto from = previous == clock::duration::zero() ? milliseconds(500) : previous;
            REQUIRE(d <= std::max<clock::duration>(milliseconds(500), from * 3));
            previous = d;
        }
    }
    CHECK(full.delay(0, {}, rng) == clock::duration::zero());
    // Decorrelated from nothing starts in [base, 3 * base].
    for (int i = 0; i < 1000; ++i) {
        const auto d = decorrelated.delay(1, {}, rng);
        REQUIRE(d >= milliseconds(500));
        REQUIRE(d <= milliseconds(1500));
    }
}

TEST_CASE("backoff: empirical means within 5% of the formulas", "[unit][backoff]") {
    std::mt19937_64 rng(12345);
    constexpr int draws = 100'000;
    const auto mean = [&](const backoff& b, unsigned n, clock::duration previous) {
        double sum = 0;
        for (int i = 0; i < draws; ++i) {
            sum += secs(b.delay(n, previous, rng));
        }
        return sum / draws;
    };
    for (unsigned n : {1u, 3u, 6u, 9u}) {
        INFO("retry " << n);
        const double cap = secs(make(backoff_strategy::none).cap(n));
        CHECK(mean(make(backoff_strategy::full_jitter), n, {}) == Approx(cap / 2).epsilon(0.05));
        CHECK(mean(make(backoff_strategy::equal_jitter), n, {}) ==
              Approx(cap * 3 / 4).epsilon(0.05));
    }
    // Decorrelated: uniform[base, 3 * previous] has mean (base + 3 * previous) / 2.
    const auto d = make(backoff_strategy::decorrelated_jitter);
    CHECK(mean(d, 1, {}) == Approx((0.5 + 1.5) / 2).epsilon(0.05));
    CHECK(mean(d, 4, seconds(2)) == Approx((0.5 + 6) / 2).epsilon(0.05));
    // Capped: previous 20 s draws uniform[0.5, 60] cut at 30: mean = E[min(U, 30)].
    const double lo = 0.5;
    const double hi = 60;
    const double capped = ((30 * 30 - lo * lo) / 2 + 30 * (hi - 30)) / (hi - lo);
    CHECK(mean(d, 4, seconds(20)) == Approx(capped).epsilon(0.05));
}

TEST_CASE("backoff: a fixed seed gives a fixed sequence", "[unit][backoff]") {
    for (auto strategy : {backoff_strategy::full_jitter, backoff_strategy::equal_jitter,
                          backoff_strategy::decorrelated_jitter}) {
        const auto b = make(strategy);
        std::mt19937_64 first(99);
        std::mt19937_64 second(99);
        std::mt19937_64 other(100);
        std::vector<clock::duration> a;
        std::vector<clock::duration> c;
        std::vector<clock::duration> o;
        clock::duration pa{};
        clock::duration pc{};
        clock::duration po{};
        for (unsigned n = 1; n <= 50; ++n) {
            a.push_back(pa = b.delay(n, pa, first));
            c.push_back(pc = b.delay(n, pc, second));
            o.push_back(po = b.delay(n, po, other));
        }
        CHECK(a == c);
        CHECK(a != o);
    }
}
