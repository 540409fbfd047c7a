#include "engine/net/decode.hpp"

#include "engine/core/text.hpp"
#include "engine/net/fetch_error.hpp"

#include <brotli/decode.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <memory>
#include <vector>

namespace harvest::net {

namespace {

constexpr std::size_t chunk_size = 64 * 1024;

using core::iequals;

// Appends decoded bytes while keeping the allocation within max_size + body_padding: growth is
// geometric, capped there, so a bomb never makes us allocate past the limit.
bool bounded_append(std::string& out, const char* data, std::size_t n, std::uint64_t max_size) {
    if (n > max_size - out.size()) {
        return false;
    }
    const std::size_t needed = out.size() + n;
    if (needed + body_padding > out.capacity()) {
        const std::size_t cap_limit = static_cast<std::size_t>(max_size) + body_padding;
        std::size_t next = std::max<std::size_t>(out.capacity() * 2, needed + body_padding);
        // libstdc++'s reserve() on a non-empty string may double past the request: reserve on
        // an empty one (exact) and move the bytes over.
        std::string bigger;
        bigger.reserve(std::min(next, cap_limit));
        bigger.append(out);
        out.swap(bigger);
    }
    out.append(data, n);
    return true;
}

struct zstream_guard {
    z_stream* stream;
    ~zstream_guard() { inflateEnd(stream); }
};

// window_bits: 15+32 (zlib or gzip, auto-detected), 15 (zlib), -15 (raw deflate).
boost::system::result<std::string> inflate_all(std::string_view input, int window_bits,
                                               std::uint64_t max_size) {
    z_stream zs{};
    if (inflateInit2(&zs, window_bits) != Z_OK) {
        return fetch_error::protocol;
    }
    zstream_guard guard{&zs};
    std::string out;
    std::array<unsigned char, chunk_size> scratch{};
    // zlib counts in uInt; feed at most 1 GiB at a time so huge bodies cannot overflow it.
    const unsigned char* next = reinterpret_cast<const unsigned char*>(input.data());
    std::size_t remaining = input.size();
    bool ended = false;
    // Every iteration consumes input or produces output, or we stop: bounded by the data size.
    for (;;) {
        if (zs.avail_in == 0 && remaining > 0) {
            const std::size_t take = std::min<std::size_t>(remaining, 1u << 30);
            zs.next_in = const_cast<unsigned char*>(next);
            zs.avail_in = static_cast<uInt>(take);
            next += take;
            remaining -= take;
        }
        zs.next_out = scratch.data();
        zs.avail_out = static_cast<uInt>(scratch.size());
        const int rc = inflate(&zs, Z_NO_FLUSH);
        const std::size_t produced = scratch.size() - zs.avail_out;
        if (!bounded_append(out, reinterpret_cast<const char*>(scratch.data()), produced,
                            max_size)) {
            return fetch_error::body_too_large;
        }
        if (rc == Z_STREAM_END) {
            if (zs.avail_in == 0 && remaining == 0) {
                ended = true;
                break;
            }
            if (window_bits != 15 + 32) {
                return fetch_error::protocol;  // trailing garbage after a deflate stream
            }
            // gzip allows concatenated members.
            if (inflateReset(&zs) != Z_OK) {
                return fetch_error::protocol;
            }
            continue;
        }
        if (rc == Z_BUF_ERROR) {
            // No progress possible: input exhausted before the end of the stream.
            if (zs.avail_in == 0 && remaining == 0 && produced == 0) {
                break;
            }
            continue;
        }
        if (rc != Z_OK) {
            return fetch_error::protocol;
        }
        if (produced == 0 && zs.avail_in == 0 && remaining == 0) {
            break;  // truncated
        }
    }
    if (!ended) {
        return fetch_error::protocol;
    }
    return out;
}

boost::system::result<std::string> brotli_all(std::string_view input, std::uint64_t max_size) {
    std::unique_ptr<BrotliDecoderState, decltype(&BrotliDecoderDestroyInstance)> state(
        BrotliDecoderCreateInstance(nullptr, nullptr, nullptr), &BrotliDecoderDestroyInstance);
    if (!state) {
        return fetch_error::protocol;
    }
    std::string out;
    std::array<std::uint8_t, chunk_size> scratch{};
    const std::uint8_t* next_in = reinterpret_cast<const std::uint8_t*>(input.data());
    std::size_t avail_in = input.size();
    // Each iteration consumes input or fills the scratch buffer; bounded by max_size and input.
    for (;;) {
        std::uint8_t* next_out = scratch.data();
        std::size_t avail_out = scratch.size();
        const BrotliDecoderResult rc = BrotliDecoderDecompressStream(
            state.get(), &avail_in, &next_in, &avail_out, &next_out, nullptr);
        const std::size_t produced = scratch.size() - avail_out;
        if (!bounded_append(out, reinterpret_cast<const char*>(scratch.data()), produced,
                            max_size)) {
            return fetch_error::body_too_large;
        }
        switch (rc) {
            case BROTLI_DECODER_RESULT_SUCCESS:
                if (avail_in != 0) {
                    return fetch_error::protocol;  // trailing garbage
                }
                return out;
            case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT:
                continue;
            case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:
                return fetch_error::protocol;  // all input given: truncated
            default:
                return fetch_error::protocol;
        }
    }
}

}  // namespace

content_coding parse_content_coding(std::string_view token) noexcept {
    token = core::trim(token, core::http_ows);
    if (token.empty() || iequals(token, "identity")) {
        return content_coding::identity;
    }
    if (iequals(token, "gzip") || iequals(token, "x-gzip")) {
        return content_coding::gzip;
    }
    if (iequals(token, "deflate")) {
        return content_coding::deflate;
    }
    if (iequals(token, "br")) {
        return content_coding::br;
    }
    return content_coding::unknown;
}

boost::system::result<std::string> decode_body(content_coding coding, std::string_view input,
                                               std::uint64_t max_size) {
    switch (coding) {
        case content_coding::gzip:
            return inflate_all(input, 15 + 32, max_size);
        case content_coding::deflate: {
            // RFC 9110 says zlib-wrapped, but many servers send raw deflate: try both.
            auto wrapped = inflate_all(input, 15, max_size);
            if (wrapped || wrapped.error() == fetch_error::body_too_large) {
                return wrapped;
            }
            return inflate_all(input, -15, max_size);
        }
        case content_coding::br:
            return brotli_all(input, max_size);
        case content_coding::identity:
        case content_coding::unknown:
            break;
    }
    if (input.size() > max_size) {
        return fetch_error::body_too_large;
    }
    return std::string(input);
}

boost::system::result<std::string> decode_content(std::string_view content_encoding,
                                                  std::string body, std::uint64_t max_size,
                                                  coding_set enabled) {
    std::vector<std::string_view> codings;
    // Bounded by the header's length.
    while (!content_encoding.empty()) {
        const auto comma = content_encoding.find(',');
        codings.push_back(core::trim(content_encoding.substr(0, comma), core::http_ows));
        if (comma == std::string_view::npos) {
            break;
        }
        content_encoding.remove_prefix(comma + 1);
    }
    // Codings are listed in the order they were applied: undo them last to first.
    for (auto it = codings.rbegin(); it != codings.rend(); ++it) {
        const content_coding coding = parse_content_coding(*it);
        if (coding == content_coding::identity) {
            continue;
        }
        const bool on = (coding == content_coding::gzip && enabled.gzip) ||
                        (coding == content_coding::deflate && enabled.deflate) ||
                        (coding == content_coding::br && enabled.br);
        if (!on) {
            break;
        }
        auto decoded = decode_body(coding, body, max_size);
        if (!decoded) {
            return decoded.error();
        }
        body = std::move(*decoded);
    }
    if (body.size() > max_size) {
        return fetch_error::body_too_large;
    }
    return body;
}

}  // namespace harvest::net
