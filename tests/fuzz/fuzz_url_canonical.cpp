// Fuzzes URL canonicalization and safe_url_string (w3lib semantics) on arbitrary bytes.

#include "engine/core/url_canonical.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    // The first byte picks the options, the rest is the URL.
    const std::uint8_t flags = data[0];
    const std::string_view url(reinterpret_cast<const char*>(data + 1), size - 1);
    harvest::core::canonicalize_options options;
    options.keep_fragments = (flags & 1) != 0;
    (void)harvest::core::canonicalize_url(url, options);
    (void)harvest::core::safe_url_string(url);
    return 0;
}
