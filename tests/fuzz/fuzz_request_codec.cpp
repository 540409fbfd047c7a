// Fuzzes request_codec, the one encoding of a crawl_request (journal, spill, Redis): decoding
// arbitrary bytes must never read out of bounds, crash or allocate without bound; whatever
// decodes must encode to encoded_size() bytes and decode back to the same request, and that
// second encoding must be stable. The spill framing and decode_any (which hands '{' to the
// previous release's JSON reader) run over the same bytes.

#include "engine/crawl/request_codec.hpp"
#include "engine/crawl/spill.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

namespace codec = harvest::crawl::request_codec;
using harvest::crawl::crawl_request;

bool same(const crawl_request& a, const crawl_request& b) {
    return a.http.method == b.http.method && a.http.url == b.http.url &&
           a.http.headers == b.http.headers && a.http.body == b.http.body && a.depth == b.depth &&
           a.attempt == b.attempt && a.previous_backoff == b.previous_backoff &&
           a.idempotency_key == b.idempotency_key && a.fingerprint == b.fingerprint &&
           a.sitemap == b.sitemap && a.breaker_failure_counted == b.breaker_failure_counted;
}

void check_round_trip(const crawl_request& request) {
    std::string once;
    codec::encode(request, once);
    if (once.size() != codec::encoded_size(request)) {
        __builtin_trap();
    }
    const auto back = codec::decode(once);
    if (!back.ok() || !same(back.request, request)) {
        __builtin_trap();
    }
    std::string twice;
    codec::encode(back.request, twice);
    if (twice != once) {
        __builtin_trap();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);

    const auto decoded = codec::decode(bytes);
    if (decoded.ok()) {
        check_round_trip(decoded.request);
    } else if (!same(decoded.request, crawl_request{})) {
        __builtin_trap();  // a failed decode hands out no half-filled request
    }

    crawl_request spilled;
    const std::size_t used =
        harvest::crawl::decode_spill_record(reinterpret_cast<const char*>(data), size, spilled);
    if (used != 0 && used != static_cast<std::size_t>(-1)) {
        if (used > size) {
            __builtin_trap();
        }
        check_round_trip(spilled);
    }

    const auto any = codec::decode_any(bytes);
    if (any.ok()) {
        check_round_trip(any.request);  // a request read from JSON is carried by the codec too
    }
    return 0;
}
