// Request fingerprints: MurmurHash3 x64/128 over (method, canonical URL, body). See
// engine/core/url_fingerprint.hpp.

#include "engine/core/url_fingerprint.hpp"

#include "engine/core/text.hpp"
#include "engine/core/url_canonical.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace harvest::core {

namespace {

// MurmurHash3 x64/128 (public domain, Austin Appleby), fed incrementally in 16-byte blocks.
class murmur3_128 {
  public:
    explicit murmur3_128(std::uint64_t seed) : h1_(seed), h2_(seed) {}

    // The blocks of `data` are hashed where they lie; only a partial block is buffered.
    void update(std::string_view data) {
        total_ += data.size();
        if (buffered_ != 0) {
            const std::size_t take = std::min(data.size(), sizeof(buffer_) - buffered_);
            std::memcpy(buffer_ + buffered_, data.data(), take);
            buffered_ += take;
            data.remove_prefix(take);
            if (buffered_ < sizeof(buffer_)) {
                return;
            }
            block(load64(buffer_), load64(buffer_ + 8));
            buffered_ = 0;
        }
        for (; data.size() >= sizeof(buffer_); data.remove_prefix(sizeof(buffer_))) {
            block(load64(data.data()), load64(data.data() + 8));
        }
        if (!data.empty()) {
            std::memcpy(buffer_, data.data(), data.size());
            buffered_ = data.size();
        }
    }

    void update_u64(std::uint64_t v) {
        v = little_endian(v);
        std::array<char, 8> bytes{};
        std::memcpy(bytes.data(), &v, bytes.size());
        update(std::string_view(bytes.data(), bytes.size()));
    }

    fingerprint128 finish() {
        std::uint64_t k1 = 0;
        std::uint64_t k2 = 0;
        for (std::size_t i = buffered_; i-- > 0;) {
            const auto b = static_cast<std::uint64_t>(static_cast<unsigned char>(buffer_[i]));
            if (i >= 8) {
                k2 |= b << (8 * (i - 8));
            } else {
                k1 |= b << (8 * i);
            }
        }
        if (buffered_ > 8) {
            k2 *= c2_;
            k2 = rotl(k2, 33);
            k2 *= c1_;
            h2_ ^= k2;
        }
        if (buffered_ > 0) {
            k1 *= c1_;
            k1 = rotl(k1, 31);
            k1 *= c2_;
            h1_ ^= k1;
        }
        h1_ ^= total_;
        h2_ ^= total_;
        h1_ += h2_;
        h2_ += h1_;
        h1_ = fmix(h1_);
        h2_ = fmix(h2_);
        h1_ += h2_;
        h2_ += h1_;
        return fingerprint128{h1_, h2_};
    }

  private:
    static constexpr std::uint64_t c1_ = 0x87c37b91114253d5ULL;
    static constexpr std::uint64_t c2_ = 0x4cf5ad432745937fULL;

    static std::uint64_t rotl(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
    static std::uint64_t fmix(std::uint64_t k) {
        k ^= k >> 33;
        k *= 0xff51afd7ed558ccdULL;
        k ^= k >> 33;
        k *= 0xc4ceb9fe1a85ec53ULL;
        k ^= k >> 33;
        return k;
    }
    // Bytes are read and written little-endian, so fingerprints agree across platforms.
    static std::uint64_t little_endian(std::uint64_t v) {
        if constexpr (std::endian::native == std::endian::big) {
            v = __builtin_bswap64(v);
        }
        return v;
    }
    static std::uint64_t load64(const char* p) {
        std::uint64_t v = 0;
        std::memcpy(&v, p, sizeof v);  // one load
        return little_endian(v);
    }
    void block(std::uint64_t k1, std::uint64_t k2) {
        k1 *= c1_;
        k1 = rotl(k1, 31);
        k1 *= c2_;
        h1_ ^= k1;
        h1_ = rotl(h1_, 27);
        h1_ += h2_;
        h1_ = h1_ * 5 + 0x52dce729;
        k2 *= c2_;
        k2 = rotl(k2, 33);
        k2 *= c1_;
        h2_ ^= k2;
        h2_ = rotl(h2_, 31);
        h2_ += h1_;
        h2_ = h2_ * 5 + 0x38495ab5;
    }

    std::uint64_t h1_;
    std::uint64_t h2_;
    std::uint64_t total_ = 0;
    char buffer_[16] = {};
    std::size_t buffered_ = 0;
};

}  // namespace

fingerprint128 request_fingerprint(std::string_view method, std::string_view canonical_url,
                                   std::string_view body) noexcept {
    murmur3_128 h(0x68617276657374ULL);  // "harvest"
    h.update_u64(method.size());
    std::array<char, 16> upper{};
    while (!method.empty()) {
        const std::size_t n = std::min(method.size(), upper.size());
        std::transform(method.begin(), method.begin() + static_cast<std::ptrdiff_t>(n),
                       upper.begin(), ascii_upper);
        h.update(std::string_view(upper.data(), n));
        method.remove_prefix(n);
    }
    h.update_u64(canonical_url.size());
    h.update(canonical_url);
    h.update_u64(body.size());
    h.update(body);
    return h.finish();
}

boost::system::result<fingerprint128> url_request_fingerprint(std::string_view method,
                                                              std::string_view url,
                                                              std::string_view body) {
    if (is_canonical_url(url)) {
        return request_fingerprint(method, url, body);
    }
    auto canonical = detail::canonicalize_url_general(url, canonicalize_options{});
    if (!canonical) {
        return canonical.error();
    }
    return request_fingerprint(method, *canonical, body);
}

}  // namespace harvest::core
