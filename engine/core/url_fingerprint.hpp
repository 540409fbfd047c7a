#pragma once
// Request fingerprints for dedup: pure functions, no I/O. Stored in the journal, so they must
// not change across releases.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/system/result.hpp>

namespace harvest::core {

// 128-bit fingerprint of (method, canonical URL, body): MurmurHash3 x64/128 over a
// length-prefixed encoding, so fields cannot run into each other. The method is upper-cased.
// Deterministic across runs and platforms (it is stored in the journal).
struct fingerprint128 {
    std::uint64_t hi = 0;
    std::uint64_t lo = 0;
    bool operator==(const fingerprint128&) const = default;
};

[[nodiscard]] fingerprint128 request_fingerprint(std::string_view method,
                                                 std::string_view canonical_url,
                                                 std::string_view body) noexcept;

// request_fingerprint of (method, canonicalize_url(url), body). A URL that is_canonical_url
// accepts is hashed as it is, without a copy; an error where canonicalize_url gives one.
[[nodiscard]] boost::system::result<fingerprint128> url_request_fingerprint(std::string_view method,
                                                                            std::string_view url,
                                                                            std::string_view body);

// Hash functor so a fingerprint can key an unordered container (the bits are already mixed).
struct fingerprint128_hash {
    std::size_t operator()(const fingerprint128& f) const noexcept {
        return static_cast<std::size_t>(f.lo ^ (f.hi * 0x9E3779B97F4A7C15ULL));
    }
};

}  // namespace harvest::core
