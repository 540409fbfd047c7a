// Fuzzes the Retry-After header parser (delta-seconds and the three HTTP-date forms).

#include "engine/resilience/retry_after.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view value(reinterpret_cast<const char*>(data), size);
    // A fixed "now" keeps runs reproducible: 2024-01-01T00:00:00Z.
    const std::chrono::system_clock::time_point now{std::chrono::seconds{1704067200}};
    const auto delay = harvest::resilience::parse_retry_after(value, now);
    if (delay && delay->count() < 0) {
        __builtin_trap();  // a delay is never negative (past dates mean "now")
    }
    return 0;
}
