// Fuzzes the robots.txt parser and the matcher on a fixed agent and path.

#include "engine/core/robots.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    const auto rules = harvest::core::robots_rules::parse(body);
    (void)rules.allowed("harvest/1.0", "/a/b/page.html?q=1&r=%2F");
    (void)rules.allowed("Googlebot", "/");
    if (!rules.allowed("harvest", "/robots.txt")) {
        __builtin_trap();  // documented: /robots.txt is always allowed
    }
    (void)rules.crawl_delay("harvest");
    return 0;
}
