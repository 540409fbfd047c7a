// Bytes per URL of the dedup set: N random 64-bit fingerprints into Harvest's flat
// fingerprint_set and into std::unordered_set (what it replaced), each measured by the growth of
// the process's resident memory (the allocator's real cost, not a formula) and timed.
//
//   dedup_bench [N]      (default 5,000,000)
//
// Prints one line per structure: entries, bytes per entry by RSS, bytes per entry the table
// reports (fingerprint_set only), ns per insert. Not part of ctest; see bench/all.sh.

#include "engine/crawl/fingerprint_set.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <unordered_set>

namespace {

std::size_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::size_t pages = 0;
    std::size_t resident = 0;
    statm >> pages >> resident;
    return resident * 4096;
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 5'000'000;
    {
        const std::size_t before = resident_bytes();
        const auto start = std::chrono::steady_clock::now();
        harvest::crawl::fingerprint_set set;
        std::mt19937_64 random(1);
        for (std::size_t i = 0; i < n; ++i) {
            set.insert(random());
        }
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const std::size_t grown = resident_bytes() - before;
        std::printf(
            "fingerprint_set      %zu entries  %.1f B/URL (RSS)  %.1f B/URL (table)  "
            "%.0f ns/insert\n",
            set.size(), static_cast<double>(grown) / static_cast<double>(n),
            static_cast<double>(set.memory_bytes()) / static_cast<double>(n),
            seconds * 1e9 / static_cast<double>(n));
    }
    {
        const std::size_t before = resident_bytes();
        const auto start = std::chrono::steady_clock::now();
        std::unordered_set<std::uint64_t> set;
        std::mt19937_64 random(1);
        for (std::size_t i = 0; i < n; ++i) {
            set.insert(random());
        }
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const std::size_t grown = resident_bytes() - before;
        std::printf(
            "std::unordered_set   %zu entries  %.1f B/URL (RSS)  "
            "%.0f ns/insert\n",
            set.size(), static_cast<double>(grown) / static_cast<double>(n),
            seconds * 1e9 / static_cast<double>(n));
    }
    return 0;
}
