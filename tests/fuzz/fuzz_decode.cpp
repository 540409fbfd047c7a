// Fuzzes Content-Encoding decoding (gzip, deflate, br) and its size bound.

#include "engine/net/decode.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

// Small enough that bombs hit the bound quickly, large enough for real bodies.
constexpr std::uint64_t max_size = 1 << 20;
constexpr const char* encodings[] = {"gzip",          "deflate", "br",     "identity",   "gzip, br",
                                     "deflate, gzip", "x-gzip",  "br, br", "bogus, gzip"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const char* encoding = encodings[data[0] % std::size(encodings)];
    std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
    const auto decoded = harvest::net::decode_content(encoding, std::move(body), max_size);
    if (decoded && decoded->size() > max_size) {
        __builtin_trap();  // documented: the decoded size never exceeds max_size
    }
    return 0;
}
