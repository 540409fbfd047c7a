#pragma once
// Response bodies recycled on the thread that read them. A product page is some 35 KB: freed
// after extraction, its memory went back to the system within mimalloc's decommit delay (2 ms,
// see cli/main.cpp) and the next body faulted it in again, page by page (a fifth of the CPU of
// an HTML crawl). A body whose consumer is done with it is handed back here, and the response
// reader takes it for the next body of a known length that fits it. No Asio.
//
// Bounded: per thread, at most pooled_bodies_max strings and pooled_bytes_max of capacity in
// all, none over pooled_body_capacity_max; a pooled string is given out only for a body that
// needs at least half its capacity, so a body kept for long (the bulk service's results, say)
// holds at most twice its size. The pool holds only strings that were bodies in use at once,
// so it never keeps more than a crawl's peak. A bound of 32 strings was too few: with 64
// responses in flight and a crawl slower than the server, a burst of bodies came back at once,
// the pool kept 32 and freed the rest, and 875 of 2,000 product pages then found no string that
// fitted and zero-filled a new one (under valgrind: 129,090 instructions per page, 112,852 with
// the bounds below; at full speed 13 pages did).
//
// Size classes: a new body string gets a capacity of 2^k - 1 bytes (with std::string's
// terminating null, 2^k allocated), the least that holds the body. A recycled string of that
// class then fits every body that would have made one of its class. With exact capacities a
// recycled string fitted only bodies no larger than the one it held: of 2,000 product pages of
// 28 to 62 KB, 64 in flight, 241 found strings in the pool but none that fit, and each was a
// new allocation, zero-filled whole; with size classes 1 to 6 did.
// Thread-safety: each thread has its own pool; a string may be taken on one thread and given
// back on another.

#include <bit>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace harvest::net {

inline constexpr std::size_t pooled_bodies_max = 256;
inline constexpr std::size_t pooled_bytes_max = std::size_t{8} << 20;
inline constexpr std::size_t pooled_body_capacity_max = std::size_t{128} << 10;

namespace detail {
struct pooled_bodies {
    std::vector<std::string> bodies;
    std::size_t bytes = 0;  // the bodies' capacities, summed

    [[nodiscard]] std::size_t size() const noexcept { return bodies.size(); }
    [[nodiscard]] bool empty() const noexcept { return bodies.empty(); }
    void clear() noexcept {
        bodies.clear();
        bytes = 0;
    }
};

inline pooled_bodies& body_pool() noexcept {
    thread_local pooled_bodies pool;
    return pool;
}
}  // namespace detail

// The capacity a new body string of `size` bytes is reserved with: its size class (above) when
// the pool may keep it, else `size`.
[[nodiscard]] constexpr std::size_t body_capacity_class(std::size_t size) noexcept {
    if (size < 1024 || size >= pooled_body_capacity_max) {
        return size;
    }
    return std::bit_ceil(size + 1) - 1;
}

namespace detail {
// A recycled body with room for `capacity` bytes (capacity in [capacity, 2 * capacity]), as it
// was handed back (its size and bytes too), or an empty string.
inline std::string take_pooled_body(std::size_t capacity) noexcept {
    auto& pool = body_pool();
    auto& bodies = pool.bodies;
    for (auto it = bodies.rbegin(); it != bodies.rend(); ++it) {  // the most recent first: warm
        if (it->capacity() >= capacity && it->capacity() / 2 <= capacity) {
            std::string body = std::move(*it);
            *it = std::move(bodies.back());
            bodies.pop_back();
            pool.bytes -= body.capacity();
            return body;
        }
    }
    return {};
}
}  // namespace detail

// An empty string with room for `capacity` bytes: a recycled body when one fits, else a new
// reservation of the size class.
inline std::string take_body_buffer(std::size_t capacity) {
    std::string body = detail::take_pooled_body(capacity);
    body.clear();
    if (body.capacity() < capacity) {
        body.reserve(body_capacity_class(capacity));
    }
    return body;
}

// A string of `size` bytes whose contents are unspecified, for a reader that writes a body into
// it in place and then trims it to what came. A recycled body keeps the bytes it held, so only
// what a body needs beyond the last one's size is zero-filled (std::string's resize), not the
// whole body on every read.
inline std::string take_body_space(std::size_t size) {
    std::string body = detail::take_pooled_body(size);
    if (body.capacity() < size) {
        body.reserve(body_capacity_class(size));
    }
    body.resize(size);
    return body;
}

// Hands a body its owner is done with back to this thread's pool (or frees it when the pool is
// full, by count or by bytes, or the body is too large or too small to be worth keeping).
inline void recycle_body_buffer(std::string&& body) noexcept {
    auto& pool = detail::body_pool();
    const std::size_t capacity = body.capacity();
    if (capacity < 1024 || capacity > pooled_body_capacity_max ||
        pool.size() >= pooled_bodies_max || pool.bytes + capacity > pooled_bytes_max) {
        std::string dropped = std::move(body);
        return;
    }
    try {
        if (pool.bodies.capacity() == 0) {
            // Never grows again: push_back cannot throw below.
            pool.bodies.reserve(pooled_bodies_max);
        }
        pool.bodies.push_back(std::move(body));
        pool.bytes += capacity;
    } catch (...) {  // the reserve failed: the body is simply freed
    }
}

}  // namespace harvest::net
