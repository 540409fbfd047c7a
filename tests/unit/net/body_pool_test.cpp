// The per-thread pool of response bodies (engine/net/body_pool.hpp): what it gives out is always
// empty and large enough, it reuses a string only for a body that needs at least half of it, and
// it stays within its bounds whatever the sequence of takes and returns.

#include "engine/net/body_pool.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using harvest::net::pooled_bodies_max;
using harvest::net::pooled_body_capacity_max;
using harvest::net::pooled_bytes_max;
using harvest::net::recycle_body_buffer;
using harvest::net::take_body_buffer;

void drain_pool() {
    harvest::net::detail::body_pool().clear();
}

}  // namespace

TEST_CASE("a recycled body serves the next body of about its size", "[unit][net][body_pool]") {
    drain_pool();
    std::string body = take_body_buffer(40'000);
    REQUIRE(body.empty());
    REQUIRE(body.capacity() == 65'535);  // its size class: 64 KiB with the terminating null
    body.assign(35'000, 'x');
    const char* memory = body.data();
    recycle_body_buffer(std::move(body));

    SECTION("reused, empty, for a body that needs at least half of it") {
        const std::string again = take_body_buffer(33'000);
        CHECK(again.data() == memory);
        CHECK(again.empty());
        CHECK(again.capacity() == 65'535);
        CHECK(harvest::net::detail::body_pool().empty());
    }
    SECTION("reused for a body larger than the one it held, up to its capacity") {
        const std::string larger = take_body_buffer(65'535);
        CHECK(larger.data() == memory);
        CHECK(harvest::net::detail::body_pool().empty());
    }
    SECTION("not for a body it cannot hold, nor for one far smaller") {
        const std::string larger = take_body_buffer(65'536);
        CHECK(larger.data() != memory);
        CHECK(larger.capacity() >= 65'536);
        const std::string smaller = take_body_buffer(32'000);
        CHECK(smaller.data() != memory);
        CHECK(smaller.capacity() == 32'767);
        CHECK(harvest::net::detail::body_pool().size() == 1);
    }
}

TEST_CASE("a body's size class fits every body that makes one of its class",
          "[unit][net][body_pool]") {
    using harvest::net::body_capacity_class;
    for (std::size_t size = 0; size <= pooled_body_capacity_max + 100; ++size) {
        const std::size_t capacity = body_capacity_class(size);
        INFO("size " << size << ", class " << capacity);
        REQUIRE(capacity >= size);
        if (size < 1024 || size >= pooled_body_capacity_max) {
            REQUIRE(capacity == size);  // never pooled: no room to spare
            continue;
        }
        REQUIRE(std::has_single_bit(capacity + 1));
        REQUIRE(capacity <= pooled_body_capacity_max);  // a class string can be pooled
        REQUIRE(capacity / 2 <= size);                  // and serves the body that made it
        REQUIRE(capacity <= 2 * size);                  // at most twice the size
    }
    // End to end: a recycled string serves the smallest and the largest body of its class.
    drain_pool();
    for (const std::size_t size :
         {std::size_t{2048}, std::size_t{4095}, std::size_t{40'000}, std::size_t{100'000}}) {
        std::string body = harvest::net::take_body_space(size);
        const char* memory = body.data();
        const std::size_t capacity = body.capacity();
        recycle_body_buffer(std::move(body));
        const std::size_t smallest = (capacity + 1) / 2;
        INFO("size " << size << ", capacity " << capacity);
        std::string again = harvest::net::take_body_space(smallest);
        CHECK(again.data() == memory);
        recycle_body_buffer(std::move(again));
        again = harvest::net::take_body_space(capacity);
        CHECK(again.data() == memory);
        CHECK(harvest::net::detail::body_pool().empty());
    }
}

TEST_CASE("body space: a recycled body of about the size, its bytes kept, at the size asked",
          "[unit][net][body_pool]") {
    drain_pool();
    std::string body = harvest::net::take_body_space(40'000);
    CHECK(body.size() == 40'000);  // a new one: zero-filled once
    body.assign(36'000, 'x');
    const char* memory = body.data();
    recycle_body_buffer(std::move(body));
    // Larger than the old body: its bytes stay, only the rest is filled.
    std::string again = harvest::net::take_body_space(38'000);
    CHECK(again.data() == memory);
    CHECK(again.size() == 38'000);
    CHECK(again[35'999] == 'x');
    CHECK(again[36'000] == '\0');
    recycle_body_buffer(std::move(again));
    // Smaller: trimmed, nothing filled.
    const std::string smaller = harvest::net::take_body_space(34'000);
    CHECK(smaller.data() == memory);
    CHECK(smaller.size() == 34'000);
    CHECK(smaller.back() == 'x');
    // Too small or too large for any pooled body: a new one.
    drain_pool();
    CHECK(harvest::net::take_body_space(70'000).size() == 70'000);
    CHECK(harvest::net::take_body_space(20'000).capacity() == 32'767);
}

TEST_CASE("the body pool keeps neither tiny nor huge bodies, nor more than its bound",
          "[unit][net][body_pool]") {
    drain_pool();
    std::string tiny;
    tiny.reserve(100);
    recycle_body_buffer(std::move(tiny));
    std::string huge;
    huge.reserve(pooled_body_capacity_max + 1);
    recycle_body_buffer(std::move(huge));
    CHECK(harvest::net::detail::body_pool().empty());
    for (std::size_t i = 0; i < pooled_bodies_max + 10; ++i) {
        recycle_body_buffer(take_body_buffer(4096 + i));
        std::string fresh;
        fresh.reserve(8192);
        recycle_body_buffer(std::move(fresh));
    }
    CHECK(harvest::net::detail::body_pool().size() == pooled_bodies_max);
    drain_pool();
}

TEST_CASE("the body pool keeps the bodies of a burst of responses, up to its byte bound",
          "[unit][net][body_pool]") {
    drain_pool();
    // 64 product pages read at once (their strings of the 64 KiB class), extracted, handed back
    // together: the next 64 reads all find one, as 64 responses in flight need.
    std::vector<std::string> burst;
    std::set<const char*> memory;
    for (int i = 0; i < 64; ++i) {
        burst.push_back(harvest::net::take_body_space(33'000 + 400 * i));
        memory.insert(burst.back().data());
    }
    for (auto& body : burst) {
        recycle_body_buffer(std::move(body));
    }
    CHECK(harvest::net::detail::body_pool().size() == 64);
    std::vector<std::string> next;
    for (int i = 0; i < 64; ++i) {
        next.push_back(harvest::net::take_body_space(40'000));
        CHECK(memory.erase(next.back().data()) == 1);  // one of the burst's, not a new string
    }
    CHECK(harvest::net::detail::body_pool().empty());
    // Bodies of the largest class: the byte bound stops the pool at 8 MiB of them.
    for (int i = 0; i < 100; ++i) {
        std::string large;
        large.reserve(pooled_body_capacity_max);
        recycle_body_buffer(std::move(large));
    }
    const auto& pool = harvest::net::detail::body_pool();
    CHECK(pool.bytes <= pooled_bytes_max);
    CHECK(pool.bytes > pooled_bytes_max - pooled_body_capacity_max - 64);
    CHECK(pool.size() < 100);
    drain_pool();
}

TEST_CASE("random takes and returns keep the body pool's invariants", "[unit][net][body_pool]") {
    drain_pool();
    std::mt19937_64 rng(22);
    std::vector<std::string> held;
    for (int step = 0; step < 20'000; ++step) {
        if (held.empty() || rng() % 2 == 0) {
            const std::size_t want = 1 + rng() % (pooled_body_capacity_max + 4096);
            std::string body = take_body_buffer(want);
            REQUIRE(body.empty());
            REQUIRE(body.capacity() >= want);
            // A pooled string is never more than twice the need (plus what SSO or the
            // allocator round a fresh one up to).
            REQUIRE((body.capacity() / 2 <= want || body.capacity() <= 2 * want + 64));
            body.assign(want / 2, 'b');
            held.push_back(std::move(body));
        } else {
            const std::size_t at = rng() % held.size();
            recycle_body_buffer(std::move(held[at]));
            held.erase(held.begin() + static_cast<std::ptrdiff_t>(at));
        }
        const auto& pool = harvest::net::detail::body_pool();
        REQUIRE(pool.size() <= pooled_bodies_max);
        std::size_t bytes = 0;
        for (const auto& pooled : pool.bodies) {
            REQUIRE(pooled.capacity() <= pooled_body_capacity_max);
            REQUIRE(pooled.capacity() >= 1024);
            bytes += pooled.capacity();
        }
        REQUIRE(pool.bytes == bytes);
        REQUIRE(bytes <= pooled_bytes_max);
    }
    drain_pool();
}

TEST_CASE("each thread has its own body pool", "[unit][net][body_pool]") {
    drain_pool();
    std::string body = take_body_buffer(10'000);
    const char* memory = body.data();
    std::thread other([&body] { recycle_body_buffer(std::move(body)); });
    other.join();
    CHECK(memory != nullptr);
    // It went to the other thread's pool (freed when that thread ended), not to this one's.
    CHECK(harvest::net::detail::body_pool().empty());
}
