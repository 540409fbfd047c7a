#pragma once
// The one binary encoding of a crawl_request, shared by the journal (admit records), the
// frontier's spill files and the Redis shared frontier (DESIGN.md principle 8).
//
// Pure: no I/O, no clock, no exceptions on the decode side; decoding never reads past its input
// and never allocates more than a small multiple of the input's size, whatever the bytes say.
// The containers (journal record, spill record, Redis value) frame and delimit the payload; the
// codec encodes exactly one request and decodes exactly one whole payload.
//
// Format version 1, little-endian, every field always present:
//
//     u8      version (1)
//     u8      flags: bit 0 sitemap, bit 1 breaker_failure_counted, bit 2 identity; other bits
//             are an error
//     u64     fingerprint (fixed width: it is a hash, a varint would only grow it)
//     varint  depth, varint attempt (each at most UINT32_MAX)
//     varint  previous_backoff in nanoseconds, zig-zag encoded (any int64)
//     str     method, str url
//     varint  header count, then count x (str name, str value)
//     str     body, str idempotency key
//     [varint session, varint follow_rule]   only with flag bit 2 (each at most UINT32_MAX);
//             records written before sessions have neither and read as session 0, rule 0
//
// varint = unsigned LEB128, at most 10 bytes; str = varint byte length, then the bytes (any
// bytes, NUL and non-UTF-8 included). A future version changes the first byte; it must never be
// '{' (0x7b), which marks the JSON form older Harvests wrote to Redis (see legacy_json).

#include "engine/crawl/request.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace harvest::crawl::request_codec {

inline constexpr std::uint8_t version = 1;

enum class decode_error : std::uint8_t {
    none = 0,
    empty,            // no bytes at all
    unknown_version,  // first byte is not a version this Harvest reads
    unknown_flags,    // a flag bit this Harvest does not know (it would fetch the request wrongly)
    truncated,        // the input ends inside a field
    bad_varint,       // longer than 10 bytes or above 2^64 - 1
    out_of_range,     // depth or attempt above UINT32_MAX
    bad_count,        // a header count the rest of the input cannot hold
    trailing_bytes,   // bytes left after the idempotency key
};

[[nodiscard]] std::string_view to_string(decode_error error) noexcept;

struct decoded {
    crawl_request request;  // meaningful only when error == none
    decode_error error = decode_error::none;

    [[nodiscard]] bool ok() const noexcept { return error == decode_error::none; }
};

// Appends the request's version-1 encoding to `out` (which is not cleared, so callers can
// build records in place).
void encode(const crawl_request& request, std::string& out);

// The bytes encode() appends for `request`, computed without encoding.
[[nodiscard]] std::size_t encoded_size(const crawl_request& request) noexcept;

// Decodes one whole payload: `bytes` must be exactly one encoded request.
[[nodiscard]] decoded decode(std::string_view bytes);

// The JSON object that Harvest releases before the codec wrote as a Redis frontier value:
// {"m": method, "u": url, "h": [[name, value], ...], "b": body, "d": depth, "s": sitemap,
//  "k": idempotency key, "f": fingerprint}, optional members omitted when empty/zero. It carries
// neither attempt, backoff nor breaker_failure_counted, and only valid UTF-8 strings.
namespace legacy_json {
// Writes it: Redis workers still write this form, so that workers of the previous release can
// read what new workers queue during a rolling upgrade (see redis_backend.cpp).
void encode(const crawl_request& request, std::string& out);
// Reads it; a payload that is not such an object is decode_error::unknown_version.
[[nodiscard]] decoded decode(std::string_view bytes);
}  // namespace legacy_json

// Reads either form: the binary codec, or (first byte '{') the legacy JSON.
[[nodiscard]] decoded decode_any(std::string_view bytes);

}  // namespace harvest::crawl::request_codec
