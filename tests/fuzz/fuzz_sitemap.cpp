// Fuzzes the sitemap / sitemap index XML parser, and checks that reading the same bytes in two
// chunks (split where the first byte says) finds exactly what reading them whole finds.

#include "engine/crawl/sitemap.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view xml(reinterpret_cast<const char*>(data), size);
    const auto whole = harvest::crawl::parse_sitemap(xml);
    if (size == 0) {
        return 0;
    }
    std::vector<std::string> chunked;
    harvest::crawl::sitemap_parser parser(
        [&chunked](std::string location) { chunked.push_back(std::move(location)); });
    const std::size_t split = data[0] % size;
    parser.feed(xml.substr(0, split));
    parser.feed(xml.substr(split));
    parser.finish();
    if (chunked != whole.locations || parser.is_index() != whole.is_index) {
        __builtin_trap();
    }
    return 0;
}
