// The proxy chooser and its health bookkeeping (engine/resilience/proxy_pool.hpp): every
// rotation with a seeded generator, breakers, buckets and the per-host bench, on a fake clock.

#include "engine/resilience/proxy_pool.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace {

using harvest::resilience::breaker_state;
using harvest::resilience::clock;
using harvest::resilience::proxy_choice;
using harvest::resilience::proxy_pool;
using harvest::resilience::proxy_pool_options;
using harvest::resilience::proxy_result;
using harvest::resilience::proxy_rotation;
using std::chrono::milliseconds;
using std::chrono::seconds;

const clock::time_point pool_t0 = clock::time_point(std::chrono::hours(1000));

proxy_pool_options with(proxy_rotation rotation) {
    proxy_pool_options options;
    options.rotation = rotation;
    options.breaker.window = 4;
    options.breaker.min_calls = 2;
    options.breaker.failure_rate = 0.5;
    options.breaker.min_open_for = milliseconds(1000);
    options.breaker.open_for = milliseconds(8000);
    options.breaker.half_open_probes = 1;
    options.bench_for = seconds(60);
    return options;
}

std::size_t pick_ok(proxy_pool& pool, std::string_view origin, clock::time_point now,
                    std::optional<std::uint64_t> key = std::nullopt) {
    auto pick = pool.pick(origin, key, {}, now);
    REQUIRE(pick.chosen);
    pool.record(*pick.chosen, origin, proxy_result::ok, now);
    return pick.chosen->index;
}

}  // namespace

TEST_CASE("proxy_pool: round_robin spreads evenly and skips an open proxy", "[unit][proxy]") {
    proxy_pool pool(3, with(proxy_rotation::round_robin), 1);
    std::map<std::size_t, int> counts;
    for (int i = 0; i < 30; ++i) {
        ++counts[pick_ok(pool, "http://a:80", pool_t0)];
    }
    CHECK(counts == std::map<std::size_t, int>{{0, 10}, {1, 10}, {2, 10}});

    // Proxy 1 fails twice: its breaker opens, and it is skipped.
    for (int i = 0; i < 2; ++i) {
        const std::vector<std::size_t> others{0, 2};
        auto pick = pool.pick("http://a:80", std::nullopt, others, pool_t0);
        REQUIRE(pick.chosen);
        REQUIRE(pick.chosen->index == 1);
        pool.record(*pick.chosen, "http://a:80", proxy_result::failure, pool_t0);
    }
    CHECK(pool.state(1, pool_t0) == breaker_state::open);
    std::set<std::size_t> used;
    for (int i = 0; i < 12; ++i) {
        used.insert(pick_ok(pool, "http://a:80", pool_t0));
    }
    CHECK(used == std::set<std::size_t>{0, 2});
    // After min_open_for it is probed again, and a good probe closes it.
    const auto later = pool_t0 + milliseconds(1001);
    bool probed = false;
    for (int i = 0; i < 3 && !probed; ++i) {
        probed = pick_ok(pool, "http://a:80", later) == 1;
    }
    CHECK(probed);
    CHECK(pool.state(1, later) == breaker_state::closed);
}

TEST_CASE("proxy_pool: random is uniform-ish and reproducible from its seed", "[unit][proxy]") {
    proxy_pool a(4, with(proxy_rotation::random), 42);
    proxy_pool b(4, with(proxy_rotation::random), 42);
    std::map<std::size_t, int> counts;
    for (int i = 0; i < 4000; ++i) {
        const auto first = pick_ok(a, "http://a:80", pool_t0);
        CHECK(first == pick_ok(b, "http://a:80", pool_t0));
        ++counts[first];
    }
    REQUIRE(counts.size() == 4);
    for (const auto& [index, n] : counts) {
        INFO(index);
        CHECK(n > 850);
        CHECK(n < 1150);
    }
}

TEST_CASE(
    "proxy_pool: sticky_per_host keeps a host on one proxy, and moves it when that one "
    "fails",
    "[unit][proxy]") {
    proxy_pool pool(3, with(proxy_rotation::sticky_per_host), 7);
    std::set<std::size_t> chosen;
    std::map<std::string, std::size_t> home;
    for (int host = 0; host < 30; ++host) {
        const std::string origin = "http://h" + std::to_string(host) + ":80";
        home[origin] = pick_ok(pool, origin, pool_t0);
        for (int i = 0; i < 5; ++i) {
            CHECK(pick_ok(pool, origin, pool_t0) == home[origin]);
        }
        chosen.insert(home[origin]);
        CHECK(home[origin] == proxy_pool::hash_origin(origin) % 3);
    }
    CHECK(chosen.size() == 3);  // 30 hosts spread over all three
    // The home of h0 goes down: h0 moves to the next proxy, deterministically.
    const std::string origin = "http://h0:80";
    const auto down = home[origin];
    for (int i = 0; i < 2; ++i) {
        auto pick = pool.pick(origin, std::nullopt, {}, pool_t0);
        REQUIRE(pick.chosen);
        pool.record(*pick.chosen, origin, proxy_result::failure, pool_t0);
    }
    CHECK(pool.state(down, pool_t0) == breaker_state::open);
    CHECK(pick_ok(pool, origin, pool_t0) == (down + 1) % 3);
}

TEST_CASE("proxy_pool: sticky_per_session follows the session key, else the host",
          "[unit][proxy]") {
    proxy_pool pool(5, with(proxy_rotation::sticky_per_session), 3);
    std::set<std::size_t> spread;
    for (std::uint64_t key = 0; key < 50; ++key) {
        const auto first = pick_ok(pool, "http://a:80", pool_t0, key);
        CHECK(first == proxy_pool::hash_session(key) % 5);
        // The same session on another host keeps its proxy.
        CHECK(pick_ok(pool, "http://b:80", pool_t0, key) == first);
        spread.insert(first);
    }
    CHECK(spread.size() == 5);
    CHECK(pick_ok(pool, "http://a:80", pool_t0) == proxy_pool::hash_origin("http://a:80") % 5);
    // Stable across instances (and runs): no per-process hash seed.
    proxy_pool other(5, with(proxy_rotation::sticky_per_session), 99);
    CHECK(pick_ok(other, "http://a:80", pool_t0, 12345) ==
          pick_ok(pool, "http://a:80", pool_t0, 12345));
}

TEST_CASE("proxy_pool: a ban benches the proxy for that host only, for bench_for",
          "[unit][proxy]") {
    proxy_pool pool(2, with(proxy_rotation::round_robin), 1);
    auto pick = pool.pick("http://a:80", std::nullopt, {}, pool_t0);
    REQUIRE(pick.chosen);
    const auto banned = pick.chosen->index;
    pool.record(*pick.chosen, "http://a:80", proxy_result::banned, pool_t0);
    CHECK(pool.benched(banned, "http://a:80", pool_t0));
    CHECK_FALSE(pool.benched(banned, "http://b:80", pool_t0));
    CHECK(pool.state(banned, pool_t0) == breaker_state::closed);  // the proxy itself is fine
    std::set<std::size_t> for_a;
    std::set<std::size_t> for_b;
    for (int i = 0; i < 10; ++i) {
        for_a.insert(pick_ok(pool, "http://a:80", pool_t0 + seconds(30)));
    }
    for (int i = 0; i < 10; ++i) {
        for_b.insert(pick_ok(pool, "http://b:80", pool_t0 + seconds(30)));
    }
    CHECK(for_a == std::set<std::size_t>{1 - banned});
    CHECK(for_b == std::set<std::size_t>{0, 1});
    CHECK_FALSE(pool.benched(banned, "http://a:80", pool_t0 + seconds(60)));
    // Both benched for a (the other one 10 s later): the one whose bench ends first is used;
    // excluded, nothing is left.
    auto other = pool.pick("http://a:80", std::nullopt, {}, pool_t0 + seconds(10));
    REQUIRE(other.chosen);
    REQUIRE(other.chosen->index == 1 - banned);
    pool.record(*other.chosen, "http://a:80", proxy_result::banned, pool_t0 + seconds(10));
    for (int i = 0; i < 4; ++i) {
        CHECK(pick_ok(pool, "http://a:80", pool_t0 + seconds(20)) == banned);
    }
    const std::vector<std::size_t> tried{banned};
    auto last = pool.pick("http://a:80", std::nullopt, tried, pool_t0 + seconds(20));
    REQUIRE(last.chosen);
    CHECK(last.chosen->index == 1 - banned);
    const std::vector<std::size_t> both{0, 1};
    CHECK_FALSE(pool.pick("http://a:80", std::nullopt, both, pool_t0 + seconds(20)).chosen);
}

TEST_CASE("proxy_pool: each proxy's bucket; an empty one says when a token comes",
          "[unit][proxy]") {
    auto options = with(proxy_rotation::round_robin);
    options.rate = {1, 1};  // one request a second per proxy
    proxy_pool pool(2, options, 1);
    CHECK(pick_ok(pool, "http://a:80", pool_t0) != pick_ok(pool, "http://a:80", pool_t0));
    auto empty = pool.pick("http://a:80", std::nullopt, {}, pool_t0);
    CHECK_FALSE(empty.chosen);
    REQUIRE(empty.token_at);
    CHECK(*empty.token_at == pool_t0 + seconds(1));
    CHECK(pool.pick("http://a:80", std::nullopt, {}, *empty.token_at).chosen);
}

TEST_CASE("proxy_pool: randomized outcomes keep the invariants", "[unit][proxy]") {
    for (const auto rotation :
         {proxy_rotation::round_robin, proxy_rotation::random, proxy_rotation::sticky_per_host,
          proxy_rotation::sticky_per_session}) {
        proxy_pool pool(4, with(rotation), 5);
        std::mt19937_64 rng(11);
        auto now = pool_t0;
        for (int i = 0; i < 5000; ++i) {
            now += milliseconds(rng() % 50);
            const std::string origin = "http://h" + std::to_string(rng() % 6) + ":80";
            std::vector<std::size_t> exclude;
            if (rng() % 4 == 0) {
                exclude.push_back(rng() % 4);
            }
            const auto key = rng() % 2 ? std::optional<std::uint64_t>(rng() % 10) : std::nullopt;
            auto pick = pool.pick(origin, key, exclude, now);
            if (!pick.chosen) {
                continue;
            }
            // Never an excluded proxy, one benched for that host, or one whose breaker is open.
            CHECK(pick.chosen->index < 4);
            CHECK(std::find(exclude.begin(), exclude.end(), pick.chosen->index) == exclude.end());
            // A benched proxy only when every other candidate is benched too.
            if (pool.benched(pick.chosen->index, origin, now)) {
                for (std::size_t i = 0; i < 4; ++i) {
                    const bool excluded =
                        std::find(exclude.begin(), exclude.end(), i) != exclude.end();
                    CHECK((excluded || pool.benched(i, origin, now) ||
                           pool.state(i, now) != breaker_state::closed));
                }
            }
            const auto result = static_cast<proxy_result>(rng() % 4);
            pool.record(*pick.chosen, origin, result, now);
        }
    }
}

TEST_CASE(
    "proxy_pool: a reloaded list: removed proxies are never picked, kept ones keep their "
    "breaker, added ones start fresh",
    "[unit][proxy][reload]") {
    proxy_pool pool(2, with(proxy_rotation::round_robin), 1);
    // Proxy 1's breaker opens.
    for (int i = 0; i < 2; ++i) {
        const std::vector<std::size_t> others{0};
        auto pick = pool.pick("http://a:80", std::nullopt, others, pool_t0);
        REQUIRE(pick.chosen);
        pool.record(*pick.chosen, "http://a:80", proxy_result::failure, pool_t0);
    }
    REQUIRE(pool.state(1, pool_t0) == breaker_state::open);
    // Reload: 0 removed, 1 kept (still open), 2 added.
    pool.set_active(0, false);
    CHECK(pool.add() == 2);
    CHECK_FALSE(pool.active(0));
    CHECK(pool.active(1));
    CHECK(pool.active(2));
    CHECK(pool.state(1, pool_t0) == breaker_state::open);
    for (int i = 0; i < 10; ++i) {
        CHECK(pick_ok(pool, "http://a:80", pool_t0) == 2);  // 0 is gone, 1 is open
    }
    // Every proxy but the removed one excluded: nothing, not the removed one.
    const std::vector<std::size_t> tried{1, 2};
    CHECK_FALSE(pool.pick("http://a:80", std::nullopt, tried, pool_t0).chosen);
    // Brought back, it has the health it had (closed) and takes its turn again.
    pool.set_active(0, true);
    std::set<std::size_t> used;
    for (int i = 0; i < 6; ++i) {
        used.insert(pick_ok(pool, "http://a:80", pool_t0));
    }
    CHECK(used == std::set<std::size_t>{0, 2});
}

TEST_CASE(
    "proxy_pool: randomized reloads never pick an inactive proxy, and every rotation "
    "finds an active usable one",
    "[unit][proxy][reload]") {
    std::mt19937_64 rng(20);
    for (const auto rotation :
         {proxy_rotation::round_robin, proxy_rotation::random, proxy_rotation::sticky_per_host,
          proxy_rotation::sticky_per_session}) {
        proxy_pool pool(3, with(rotation), 7);
        for (int round = 0; round < 300; ++round) {
            const auto op = rng() % 4;
            if (op == 0 && pool.size() < 12) {
                (void)pool.add();
            } else if (op == 1) {
                pool.set_active(rng() % pool.size(), rng() % 2 == 0);
            }
            std::size_t active = 0;
            for (std::size_t i = 0; i < pool.size(); ++i) {
                active += pool.active(i) ? 1 : 0;
            }
            const std::string origin = "http://h" + std::to_string(rng() % 5) + ":80";
            auto pick = pool.pick(origin, rng() % 3, {}, pool_t0);
            // Only ok outcomes: every breaker stays closed, so an active proxy is always usable.
            CHECK(pick.chosen.has_value() == (active > 0));
            if (pick.chosen) {
                CHECK(pool.active(pick.chosen->index));
                pool.record(*pick.chosen, origin, proxy_result::ok, pool_t0);
            }
        }
    }
}
