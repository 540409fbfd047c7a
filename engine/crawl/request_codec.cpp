#include "engine/crawl/request_codec.hpp"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstring>
#include <limits>
#include <utility>

namespace harvest::crawl::request_codec {

namespace {

static_assert(std::numeric_limits<unsigned>::max() == std::numeric_limits<std::uint32_t>::max(),
              "depth and attempt are encoded as 32-bit values");

constexpr std::uint8_t flag_sitemap = 1u << 0;
constexpr std::uint8_t flag_failed_once = 1u << 1;  // crawl_request::breaker_failure_counted
// Set when the request names a session or a follow rule: two varints follow the idempotency
// key. Unset (every request of a one-session crawl without follow headers or meta), the
// encoding is byte for byte what Harvest wrote before sessions.
constexpr std::uint8_t flag_identity = 1u << 2;
constexpr std::uint8_t known_flags = flag_sitemap | flag_failed_once | flag_identity;

constexpr std::size_t max_varint_bytes = 10;
// Headers reserved up front at most: a count is checked against the bytes left (each header
// takes at least 2), but reserving 64-byte pairs for all of them would still multiply the input.
constexpr std::size_t max_header_reserve = 64;

std::size_t varint_size(std::uint64_t v) noexcept {
    std::size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        ++n;
    }
    return n;
}

// Writers into a buffer sized by encoded_size(): one resize per request instead of an append
// per field (the spill and the journal encode every request they take, on the crawl's path).
char* write_varint(char* p, std::uint64_t v) noexcept {
    while (v >= 0x80) {
        *p++ = static_cast<char>((v & 0x7f) | 0x80);
        v >>= 7;
    }
    *p++ = static_cast<char>(v);
    return p;
}

char* write_str(char* p, std::string_view s) noexcept {
    p = write_varint(p, s.size());
    if (!s.empty()) {
        std::memcpy(p, s.data(), s.size());
    }
    return p + s.size();
}

std::uint64_t zigzag(std::int64_t v) noexcept {
    return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}

std::int64_t unzigzag(std::uint64_t v) noexcept {
    return static_cast<std::int64_t>((v >> 1) ^ (~(v & 1) + 1));
}

std::int64_t backoff_ns(const crawl_request& r) noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(r.previous_backoff).count();
}

std::uint8_t flags_of(const crawl_request& r) noexcept {
    return static_cast<std::uint8_t>((r.sitemap ? flag_sitemap : 0) |
                                     (r.breaker_failure_counted ? flag_failed_once : 0) |
                                     (r.session != 0 || r.follow_rule != 0 ? flag_identity : 0));
}

// Bounds-checked reading; the first failure is kept and every later read returns nothing.
class reader {
  public:
    explicit reader(std::string_view in) noexcept
        : p_(reinterpret_cast<const unsigned char*>(in.data())), end_(p_ + in.size()) {}

    [[nodiscard]] decode_error error() const noexcept { return error_; }
    [[nodiscard]] bool ok() const noexcept { return error_ == decode_error::none; }
    [[nodiscard]] std::size_t remaining() const noexcept {
        return static_cast<std::size_t>(end_ - p_);
    }
    void fail(decode_error e) noexcept {
        if (error_ == decode_error::none) {
            error_ = e;
        }
    }

    std::uint8_t u8() noexcept {
        if (!ok() || remaining() < 1) {
            fail(decode_error::truncated);
            return 0;
        }
        return *p_++;
    }

    std::uint64_t u64() noexcept {
        if (!ok() || remaining() < 8) {
            fail(decode_error::truncated);
            return 0;
        }
        std::uint64_t v = 0;
        for (int i = 7; i >= 0; --i) {
            v = (v << 8) | p_[i];
        }
        p_ += 8;
        return v;
    }

    std::uint64_t varint() noexcept {
        std::uint64_t v = 0;
        for (std::size_t i = 0; ok(); ++i) {
            if (remaining() == 0) {
                fail(decode_error::truncated);
                break;
            }
            const std::uint64_t byte = *p_++;
            // The 10th byte holds only the top bit of a 64-bit value.
            if (i == max_varint_bytes - 1 && byte > 1) {
                fail(decode_error::bad_varint);
                break;
            }
            v |= (byte & 0x7f) << (7 * i);
            if ((byte & 0x80) == 0) {
                return v;
            }
        }
        return 0;
    }

    unsigned u32_varint() noexcept {
        const std::uint64_t v = varint();
        if (v > std::numeric_limits<unsigned>::max()) {
            fail(decode_error::out_of_range);
            return 0;
        }
        return static_cast<unsigned>(v);
    }

    std::string_view str() noexcept {
        const std::uint64_t n = varint();
        if (!ok()) {
            return {};
        }
        if (n > remaining()) {
            fail(decode_error::truncated);
            return {};
        }
        const std::string_view s(reinterpret_cast<const char*>(p_), static_cast<std::size_t>(n));
        p_ += n;
        return s;
    }

  private:
    const unsigned char* p_;
    const unsigned char* end_;
    decode_error error_ = decode_error::none;
};

}  // namespace

std::string_view to_string(decode_error error) noexcept {
    switch (error) {
        case decode_error::none:
            return "none";
        case decode_error::empty:
            return "empty input";
        case decode_error::unknown_version:
            return "unknown request encoding version";
        case decode_error::unknown_flags:
            return "unknown request flags";
        case decode_error::truncated:
            return "truncated request";
        case decode_error::bad_varint:
            return "malformed varint";
        case decode_error::out_of_range:
            return "depth or attempt out of range";
        case decode_error::bad_count:
            return "header count larger than the input";
        case decode_error::trailing_bytes:
            return "bytes after the request";
    }
    return "unknown decode error";
}

std::size_t encoded_size(const crawl_request& r) noexcept {
    const auto str_size = [](std::string_view s) { return varint_size(s.size()) + s.size(); };
    std::size_t n = 2 + 8 + varint_size(r.depth) + varint_size(r.attempt) +
                    varint_size(zigzag(backoff_ns(r))) + str_size(r.http.method) +
                    str_size(r.http.url) + varint_size(r.http.headers.size());
    for (const auto& [name, value] : r.http.headers) {
        n += str_size(name) + str_size(value);
    }
    n += str_size(r.http.body) + str_size(r.idempotency_key);
    if (r.session != 0 || r.follow_rule != 0) {
        n += varint_size(r.session) + varint_size(r.follow_rule);
    }
    return n;
}

void encode(const crawl_request& r, std::string& out) {
    const std::size_t size = encoded_size(r);
    const std::size_t start = out.size();
    out.resize(start + size);
    char* p = out.data() + start;
    *p++ = static_cast<char>(version);
    *p++ = static_cast<char>(flags_of(r));
    for (std::size_t i = 0; i < 8; ++i) {
        *p++ = static_cast<char>((r.fingerprint >> (8 * i)) & 0xffu);
    }
    p = write_varint(p, r.depth);
    p = write_varint(p, r.attempt);
    p = write_varint(p, zigzag(backoff_ns(r)));
    p = write_str(p, r.http.method);
    p = write_str(p, r.http.url);
    p = write_varint(p, r.http.headers.size());
    for (const auto& [name, value] : r.http.headers) {
        p = write_str(p, name);
        p = write_str(p, value);
    }
    p = write_str(p, r.http.body);
    p = write_str(p, r.idempotency_key);
    if (r.session != 0 || r.follow_rule != 0) {
        p = write_varint(p, r.session);
        p = write_varint(p, r.follow_rule);
    }
    assert(p == out.data() + start + size);
}

decoded decode(std::string_view bytes) {
    decoded result;
    if (bytes.empty()) {
        result.error = decode_error::empty;
        return result;
    }
    reader in(bytes);
    if (in.u8() != version) {
        result.error = decode_error::unknown_version;
        return result;
    }
    crawl_request& r = result.request;
    const std::uint8_t flags = in.u8();
    if ((flags & ~known_flags) != 0) {
        in.fail(decode_error::unknown_flags);
    }
    r.sitemap = (flags & flag_sitemap) != 0;
    r.breaker_failure_counted = (flags & flag_failed_once) != 0;
    r.fingerprint = in.u64();
    r.depth = in.u32_varint();
    r.attempt = in.u32_varint();
    r.previous_backoff = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::nanoseconds(unzigzag(in.varint())));
    r.http.method = in.str();
    r.http.url = in.str();
    const std::uint64_t headers = in.varint();
    // Each header takes at least two bytes (two empty strings): a larger count is corruption.
    if (in.ok() && headers > in.remaining() / 2) {
        in.fail(decode_error::bad_count);
    }
    if (in.ok()) {
        r.http.headers.reserve(std::min<std::size_t>(headers, max_header_reserve));
        for (std::uint64_t i = 0; i < headers && in.ok(); ++i) {
            const std::string_view name = in.str();
            const std::string_view value = in.str();
            r.http.headers.emplace_back(name, value);
        }
    }
    r.http.body = in.str();
    r.idempotency_key = in.str();
    if ((flags & flag_identity) != 0) {
        r.session = in.u32_varint();
        r.follow_rule = in.u32_varint();
    }
    if (in.ok() && in.remaining() != 0) {
        in.fail(decode_error::trailing_bytes);
    }
    result.error = in.error();
    if (!result.ok()) {
        result.request = crawl_request{};  // never hand out half a request
    }
    return result;
}

decoded decode_any(std::string_view bytes) {
    if (!bytes.empty() && bytes.front() == '{') {
        return legacy_json::decode(bytes);
    }
    return decode(bytes);
}

}  // namespace harvest::crawl::request_codec
