// The hot path (inc, add, set, observe) must not allocate. This translation unit replaces the
// global operator new for the whole unit_metrics binary; it only counts while `counting` is set.
// Under AddressSanitizer the replacement is left out (ASan owns operator new and reports
// new/free pairs as mismatched) and the test only warns.

#include "engine/metrics/registry.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define HARVEST_COUNT_ALLOCATIONS 0
#else
#define HARVEST_COUNT_ALLOCATIONS 1
#endif

namespace {
std::atomic<bool> counting{false};
std::atomic<std::size_t> allocations{0};

#if HARVEST_COUNT_ALLOCATIONS
void* counted_alloc(std::size_t size, std::size_t align) {
    if (counting.load(std::memory_order_relaxed)) {
        allocations.fetch_add(1, std::memory_order_relaxed);
    }
    if (size == 0) {
        size = 1;
    }
    void* p = nullptr;
    if (align <= alignof(std::max_align_t)) {
        p = std::malloc(size);
    } else {
        const std::size_t rounded = (size + align - 1) / align * align;
        p = std::aligned_alloc(align, rounded);
    }
    if (p == nullptr) {
        throw std::bad_alloc();
    }
    return p;
}
#endif
}  // namespace

#if HARVEST_COUNT_ALLOCATIONS
void* operator new(std::size_t size) {
    return counted_alloc(size, alignof(std::max_align_t));
}
void* operator new[](std::size_t size) {
    return counted_alloc(size, alignof(std::max_align_t));
}
void* operator new(std::size_t size, std::align_val_t align) {
    return counted_alloc(size, static_cast<std::size_t>(align));
}
void* operator new[](std::size_t size, std::align_val_t align) {
    return counted_alloc(size, static_cast<std::size_t>(align));
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete[](void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
    std::free(p);
}

#endif

using namespace harvest::metrics;

TEST_CASE("inc, add, set and observe do not allocate", "[unit]") {
    if (!HARVEST_COUNT_ALLOCATIONS) {
        WARN("AddressSanitizer build: allocation counting disabled");
        return;
    }
    registry reg({{"crawl", "c"}});
    // Resolving cells allocates, once.
    counter& c = reg.add_counter("a_total", "a", {"host"}).with({"h"});
    gauge& g = reg.add_gauge("g", "g", {"host"}).with({"h"});
    histogram& h = reg.add_histogram("h_seconds", "h", {"host"}).with({"h"});

    SECTION("the counting itself works") {
        allocations = 0;
        counting = true;
        auto* v = new std::vector<int>(100);
        counting = false;
        delete v;
        CHECK(allocations.load() >= 2);
    }
    SECTION("1e5 hot-path operations allocate nothing") {
        allocations = 0;
        counting = true;
        for (int i = 0; i < 100'000; ++i) {
            c.inc();
            c.add(0.5);
            g.set(i);
            g.add(1);
            h.observe(i * 1e-4);
        }
        counting = false;
        CHECK(allocations.load() == 0);
        CHECK(c.value() == 150'000);
    }
    SECTION("looking up an existing series does not allocate either") {
        auto& fam = reg.add_counter("b_total", "b", {"host", "code"});
        counter& cell = fam.with({"h", "200"});
        allocations = 0;
        counting = true;
        counter* again = nullptr;
        for (int i = 0; i < 1000; ++i) {
            again = &fam.with({"h", "200"});
        }
        counting = false;
        CHECK(allocations.load() == 0);
        CHECK(again == &cell);
    }
}
