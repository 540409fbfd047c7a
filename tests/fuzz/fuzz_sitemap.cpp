// Fuzzes the sitemap / sitemap index XML parser.

#include "engine/crawl/sitemap.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view xml(reinterpret_cast<const char*>(data), size);
    (void)harvest::crawl::parse_sitemap(xml);
    return 0;
}
