#include "engine/resilience/token_bucket.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <vector>

namespace {

using harvest::resilience::adaptive_rate;
using harvest::resilience::clock;
using harvest::resilience::token_bucket;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

// A fake clock's start: far from the epoch, like a real steady_clock.
const clock::time_point bucket_t0 = clock::time_point(std::chrono::hours(24 * 365));

// Every window [t_i, t_j] holding grants i..j must satisfy count <= rate * T + burst, checked in
// integers: (count - burst) * interval <= t_j - t_i.
bool window_bound_holds(const std::vector<clock::time_point>& grants, nanoseconds interval,
                        long burst) {
    for (std::size_t i = 0; i < grants.size(); ++i) {
        for (std::size_t j = i; j < grants.size(); ++j) {
            const long count = static_cast<long>(j - i + 1);
            if ((count - burst) * interval > grants[j] - grants[i]) {
                return false;
            }
        }
    }
    return true;
}

}  // namespace

TEST_CASE("token_bucket: 1000 greedy acquisitions at 50/s burst 10", "[unit][token_bucket]") {
    token_bucket bucket(50, 10);
    std::vector<clock::time_point> grants;
    clock::time_point now = bucket_t0;
    for (int i = 0; i < 1000; ++i) {
        now = bucket.next_available(now);
        REQUIRE(bucket.try_acquire(now));
        grants.push_back(now);
    }
    // The burst goes at once, then one grant every 20 ms exactly.
    for (int i = 0; i < 10; ++i) {
        CHECK(grants[i] == bucket_t0);
    }
    for (int i = 10; i < 1000; ++i) {
        REQUIRE(grants[i] - grants[i - 1] == milliseconds(20));
    }
    CHECK(grants.back() - bucket_t0 == milliseconds(20) * 990);
    CHECK(window_bound_holds(grants, milliseconds(20), 10));
    // The bound is tight: one grant more in the first window would break it.
    auto tampered = grants;
    tampered[10] = bucket_t0;
    CHECK_FALSE(window_bound_holds(tampered, milliseconds(20), 10));
}

TEST_CASE("token_bucket: random polling never beats rate*T + burst", "[unit][token_bucket]") {
    token_bucket bucket(50, 10);
    std::mt19937_64 rng(42);
    std::uniform_int_distribution<long> step_us(0, 40'000);
    std::vector<clock::time_point> grants;
    clock::time_point now = bucket_t0;
    for (int polls = 0; grants.size() < 1000 && polls < 1'000'000; ++polls) {
        now += std::chrono::microseconds(step_us(rng));
        if (bucket.try_acquire(now)) {
            grants.push_back(now);
        }
    }
    REQUIRE(grants.size() == 1000);
    CHECK(window_bound_holds(grants, milliseconds(20), 10));
}

TEST_CASE("token_bucket: exact over a million grants, no drift", "[unit][token_bucket]") {
    SECTION("50/s: interval 20 ms exactly") {
        token_bucket bucket(50, 10);
        clock::time_point now = bucket_t0;
        for (int i = 0; i < 1'000'000; ++i) {
            now = bucket.next_available(now);
            REQUIRE(bucket.try_acquire(now));
        }
        CHECK(now - bucket_t0 == milliseconds(20) * (1'000'000 - 10));
    }
    SECTION("3/s: an interval of 333,333,333.3 ns is not a whole number") {
        token_bucket bucket(3, 1);
        clock::time_point now = bucket_t0;
        for (long i = 0; i < 1'000'000; ++i) {
            now = bucket.next_available(now);
            REQUIRE(bucket.try_acquire(now));
            // Grant i is due at i/3 s, rounded up to a nanosecond: never early, never late.
            const long long due_ns = (i * 1'000'000'000LL + 2) / 3;
            if (now - bucket_t0 != nanoseconds(due_ns)) {
                FAIL("grant " << i << " at " << (now - bucket_t0).count() << " ns, due " << due_ns);
            }
        }
    }
    SECTION("0.7/s burst 2 with polling every millisecond") {
        // Burst 2: a poll's lateness is not lost to a full bucket, so the count is exact.
        token_bucket bucket(0.7, 2);
        long grants = 0;
        clock::time_point now = bucket_t0;
        const long polls = 1000L * 1000;  // 1000 s
        for (long i = 0; i <= polls; ++i) {
            if (bucket.try_acquire(now)) {
                ++grants;
            }
            now += milliseconds(1);
        }
        // rate * T + burst exactly: 0.7 * 1000 + 2.
        CHECK(grants == 702);
    }
}

TEST_CASE("token_bucket: next_available is exact", "[unit][token_bucket]") {
    token_bucket bucket(3, 2);
    clock::time_point now = bucket_t0;
    REQUIRE(bucket.try_acquire(now));
    REQUIRE(bucket.try_acquire(now));
    REQUIRE_FALSE(bucket.try_acquire(now));
    for (int i = 0; i < 100; ++i) {
        const auto next = bucket.next_available(now);
        REQUIRE(next > now);
        // Probe a copy: one nanosecond early fails, on time succeeds.
        token_bucket early = bucket;
        CHECK_FALSE(early.try_acquire(next - nanoseconds(1)));
        CHECK(bucket.try_acquire(next));
        now = next;
    }
    // When a token is available, next_available is now.
    CHECK(bucket.next_available(now + seconds(10)) == now + seconds(10));
    token_bucket fresh(5, 1);
    CHECK(fresh.next_available(bucket_t0) == bucket_t0);
}

TEST_CASE("token_bucket: unlimited, burst below 1, fractional burst", "[unit][token_bucket]") {
    SECTION("per_second 0 always acquires") {
        token_bucket bucket(0, 0);
        CHECK(bucket.unlimited());
        for (int i = 0; i < 10'000; ++i) {
            REQUIRE(bucket.try_acquire(bucket_t0));
        }
        CHECK(bucket.next_available(bucket_t0) == bucket_t0);
        CHECK(token_bucket(-1, 5).unlimited());
        CHECK_FALSE(token_bucket(0.001, 1).unlimited());
    }
    SECTION("burst < 1 is 1") {
        token_bucket bucket(10, 0.2);
        CHECK(bucket.try_acquire(bucket_t0));
        CHECK_FALSE(bucket.try_acquire(bucket_t0));
        CHECK(bucket.next_available(bucket_t0) == bucket_t0 + milliseconds(100));
    }
    SECTION("burst 2.5 grants 2 at once, the third half an interval later") {
        token_bucket bucket(10, 2.5);
        CHECK(bucket.try_acquire(bucket_t0));
        CHECK(bucket.try_acquire(bucket_t0));
        CHECK_FALSE(bucket.try_acquire(bucket_t0));
        CHECK(bucket.next_available(bucket_t0) == bucket_t0 + milliseconds(50));
    }
    SECTION("an idle bucket refills to its burst, not beyond") {
        token_bucket bucket(10, 5);
        int granted = 0;
        for (int i = 0; i < 100; ++i) {
            granted += bucket.try_acquire(bucket_t0) ? 1 : 0;
        }
        CHECK(granted == 5);
        granted = 0;
        const auto later = bucket_t0 + std::chrono::hours(1);
        for (int i = 0; i < 100; ++i) {
            granted += bucket.try_acquire(later) ? 1 : 0;
        }
        CHECK(granted == 5);
    }
}

TEST_CASE("token_bucket: set_rate", "[unit][token_bucket]") {
    token_bucket bucket(10, 1);
    REQUIRE(bucket.try_acquire(bucket_t0));
    CHECK(bucket.next_available(bucket_t0) == bucket_t0 + milliseconds(100));
    bucket.set_rate(5);
    CHECK(bucket.rate() == 5);
    // The debt already taken stays; the next intervals follow the new rate.
    const auto next = bucket.next_available(bucket_t0);
    CHECK(next == bucket_t0 + milliseconds(100));
    REQUIRE(bucket.try_acquire(next));
    CHECK(bucket.next_available(next) == next + milliseconds(200));
    bucket.set_rate(0);
    CHECK(bucket.unlimited());
    CHECK(bucket.try_acquire(next));
    bucket.set_rate(1);
    CHECK(bucket.try_acquire(next));  // back from unlimited: starts full
    CHECK_FALSE(bucket.try_acquire(next));
}

TEST_CASE("adaptive_rate: halve on 429 down to a tenth, restore additively",
          "[unit][token_bucket][adaptive]") {
    adaptive_rate rate(20);
    CHECK(rate.current() == 20);
    clock::time_point now = bucket_t0;
    CHECK(rate.on_throttled(now) == 10);
    // 429s within the cooldown answer requests sent at the old rate: counted once.
    CHECK(rate.on_throttled(now + milliseconds(500)) == 10);
    now += seconds(1);
    CHECK(rate.on_throttled(now) == 5);
    now += seconds(1);
    CHECK(rate.on_throttled(now) == 2.5);
    now += seconds(1);
    CHECK(rate.on_throttled(now) == 2);  // floor: configured / 10
    now += seconds(1);
    CHECK(rate.on_throttled(now) == 2);
    // Restore: configured/20 = 1 request/s per second of good answers.
    CHECK(rate.on_success(now) == 2);
    CHECK(rate.on_success(now + seconds(1)) == Approx(3));
    CHECK(rate.on_success(now + milliseconds(1500)) == Approx(3.5));
    CHECK(rate.on_success(now + seconds(100)) == 20);  // never above configured
    CHECK(rate.on_success(now + seconds(200)) == 20);
    adaptive_rate unlimited(0);
    CHECK(unlimited.on_throttled(bucket_t0) == 0);
}

TEST_CASE("adaptive_rate::on_answer moves the bucket with the rate",
          "[unit][token_bucket][adaptive]") {
    adaptive_rate rate(20);
    token_bucket bucket(20, 1);
    rate.on_answer(429, bucket_t0, bucket);
    CHECK(bucket.rate() == 10);
    rate.on_answer(200, bucket_t0 + seconds(2), bucket);  // 2 s of good answers: +1/s per second
    CHECK(bucket.rate() == Approx(12));
    rate.on_answer(503, bucket_t0 + seconds(3), bucket);  // not a 429: restores too
    CHECK(bucket.rate() == Approx(13));
}
