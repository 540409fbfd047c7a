#pragma once
// Content-Encoding decoding (gzip, deflate, br), bounded: the decoded size never exceeds
// `max_size`, and no more than max_size + body_padding bytes are ever allocated, so a
// decompression bomb costs at most max_body. No Asio.

#include <boost/system/result.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace harvest::net {

// Spare capacity kept after every body (simdjson's SIMDJSON_PADDING is 64).
inline constexpr std::size_t body_padding = 64;

enum class content_coding { identity, gzip, deflate, br, unknown };

// One coding token of a Content-Encoding header ("gzip", "x-gzip", "deflate", "br", "identity").
[[nodiscard]] content_coding parse_content_coding(std::string_view token) noexcept;

// Decodes `input` coded with `coding`. gzip accepts concatenated members and zlib streams;
// deflate accepts a zlib stream or raw deflate data. Errors: fetch_error::body_too_large once the
// output would exceed max_size, fetch_error::protocol for corrupt or truncated data. identity and
// unknown return the input unchanged (the caller decides what unknown means).
[[nodiscard]] boost::system::result<std::string> decode_body(content_coding coding,
                                                             std::string_view input,
                                                             std::uint64_t max_size);

// Which codings the caller decodes (http.decompress); a disabled one counts as unknown.
struct coding_set {
    bool gzip = true;
    bool deflate = true;
    bool br = true;
};

// Applies a whole Content-Encoding header value ("gzip", "deflate, br", ...) in reverse order.
// An unknown (or disabled) coding stops decoding and leaves the body as it is at that point
// (unchanged, for a single unknown coding): the body is still delivered, just not decoded.
[[nodiscard]] boost::system::result<std::string> decode_content(std::string_view content_encoding,
                                                                std::string body,
                                                                std::uint64_t max_size,
                                                                coding_set enabled = {});

}  // namespace harvest::net
