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

// Inserts `n` random fingerprints (the same sequence for every table) into a fresh `Table`;
// prints its bytes per entry by resident-memory growth, by the table's own count when it has one,
// and the time per insert.
template <typename Table, typename Insert>
void measure(const char* name, std::size_t n, Insert insert) {
    const std::size_t before = resident_bytes();
    const auto start = std::chrono::steady_clock::now();
    Table table;
    std::mt19937_64 random(1);
    for (std::size_t i = 0; i < n; ++i) {
        insert(table, random());
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double per = static_cast<double>(n);
    std::printf("%-20s %zu entries  %.1f B/URL (RSS)", name, table.size(),
                static_cast<double>(resident_bytes() - before) / per);
    if constexpr (requires { table.memory_bytes(); }) {
        std::printf("  %.1f B/URL (table)", static_cast<double>(table.memory_bytes()) / per);
    }
    std::printf("  %.0f ns/insert\n", seconds * 1e9 / per);
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 5'000'000;
    measure<harvest::crawl::fingerprint_set>(
        "fingerprint_set", n, [](auto& table, std::uint64_t fp) { table.insert(fp); });
    measure<std::unordered_set<std::uint64_t>>(
        "std::unordered_set", n, [](auto& table, std::uint64_t fp) { table.insert(fp); });
    return 0;
}
