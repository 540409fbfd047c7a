// Fuzzes the crawl config loader: YAML text -> overrides -> ${ENV} -> validation. config_error is
// the documented failure; any other exception escaping parse_config is a bug and aborts here.

#include "config/crawl_config.hpp"
#include "config/loader.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        (void)harvest::config::parse_config(text, "fuzz.yaml", "/tmp", {});
    } catch (const harvest::config::config_error&) {
        // Expected for invalid configs.
    }
    return 0;
}
