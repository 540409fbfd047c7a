#include "engine/crawl/fingerprint_set.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <unordered_set>
#include <vector>

using harvest::crawl::fingerprint_set;

TEST_CASE("fingerprint_set keeps exactly the fingerprints inserted, 0 included", "[dedup]") {
    fingerprint_set set;
    CHECK(set.empty());
    CHECK_FALSE(set.contains(0));
    CHECK(set.begin() == set.end());

    std::mt19937_64 random(7);
    std::unordered_set<std::uint64_t> reference;
    for (int i = 0; i < 200'000; ++i) {
        // Some repeats, some small values that share low bits, and 0.
        const std::uint64_t fp = i % 5 == 0 ? random() % 1000 : random();
        CHECK(set.insert(fp) == reference.insert(fp).second);
    }
    CHECK(set.insert(0) == reference.insert(0).second);
    CHECK_FALSE(set.insert(0));
    REQUIRE(set.size() == reference.size());
    for (const std::uint64_t fp : reference) {
        REQUIRE(set.contains(fp));
    }
    std::mt19937_64 other(8);
    for (int i = 0; i < 10'000; ++i) {
        const std::uint64_t fp = other();
        REQUIRE(set.contains(fp) == reference.contains(fp));
    }

    // Iteration visits each one once, 0 too.
    std::unordered_set<std::uint64_t> visited;
    for (const std::uint64_t fp : set) {
        REQUIRE(visited.insert(fp).second);
    }
    CHECK(visited == reference);
}

TEST_CASE("fingerprint_set stays within 22 bytes per fingerprint", "[dedup]") {
    fingerprint_set set;
    std::mt19937_64 random(1);
    for (std::size_t n = 1; n <= 1'000'000; ++n) {
        set.insert(random() | 1);
        if (n >= 1000 && n % 997 == 0) {
            // Just after a doubling the table is 3/8 full: 21.3 bytes per entry at most.
            REQUIRE(static_cast<double>(set.memory_bytes()) / static_cast<double>(n) < 22.0);
        }
    }
    CHECK(set.size() == 1'000'000);
}

TEST_CASE("fingerprint_set merges, compares and reserves", "[dedup]") {
    fingerprint_set a;
    fingerprint_set b;
    for (std::uint64_t i = 0; i < 1000; ++i) {
        a.insert(i * 3);
        b.insert(i * 5);
    }
    fingerprint_set merged = a;
    merged.merge(b);
    for (std::uint64_t i = 0; i < 1000; ++i) {
        REQUIRE(merged.contains(i * 3));
        REQUIRE(merged.contains(i * 5));
    }
    CHECK(merged.size() == 1000 + 1000 - 200);  // both hold the 200 multiples of 15 below 3000

    fingerprint_set same;
    for (std::uint64_t i = 1000; i-- > 0;) {
        same.insert(i * 3);
    }
    CHECK(same == a);
    CHECK_FALSE(same == b);

    fingerprint_set reserved;
    reserved.reserve(10'000);
    const std::size_t bytes = reserved.memory_bytes();
    for (std::uint64_t i = 1; i <= 10'000; ++i) {
        reserved.insert(i);
    }
    CHECK(reserved.memory_bytes() == bytes);
}
