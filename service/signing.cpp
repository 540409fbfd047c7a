// OpenSSL-backed helpers of the bulk service (signing.hpp).

#include "service/signing.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <charconv>
#include <chrono>
#include <fstream>
#include <stdexcept>

namespace harvest::service {

namespace {

std::string to_hex(const unsigned char* data, std::size_t size) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (std::size_t i = 0; i < size; ++i) {
        out += digits[data[i] >> 4];
        out += digits[data[i] & 0x0f];
    }
    return out;
}

std::string sha256_raw(std::string_view text) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
    return std::string(reinterpret_cast<const char*>(digest), sizeof digest);
}

}  // namespace

std::string hmac_sha256_hex(std::string_view secret, std::string_view text) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac, &length);
    return to_hex(mac, length);
}

std::string sha256_hex(std::string_view text) {
    const auto raw = sha256_raw(text);
    return to_hex(reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
}

std::string webhook_signature(std::string_view secret, std::int64_t unix_seconds,
                              std::string_view body) {
    const std::string t = std::to_string(unix_seconds);
    std::string signed_text = t;
    signed_text += '.';
    signed_text += body;
    return "t=" + t + ",v1=" + hmac_sha256_hex(secret, signed_text);
}

bool verify_webhook_signature(std::string_view secret, std::string_view header,
                              std::string_view body) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    return verify_webhook_signature(secret, header, body, now);
}

bool verify_webhook_signature(std::string_view secret, std::string_view header,
                              std::string_view body, std::int64_t now_unix_seconds,
                              std::chrono::seconds tolerance) {
    if (secret.empty() || header.substr(0, 2) != "t=") {
        return false;
    }
    const auto comma = header.find(",v1=");
    if (comma == std::string_view::npos) {
        return false;
    }
    const auto t = header.substr(2, comma - 2);
    const auto mac = header.substr(comma + 4);
    std::int64_t seconds = 0;
    if (t.empty() ||
        std::from_chars(t.data(), t.data() + t.size(), seconds).ptr != t.data() + t.size()) {
        return false;
    }
    // Compared as a difference that cannot overflow: |t - now| <= tolerance.
    const auto skew =
        seconds > now_unix_seconds
            ? static_cast<std::uint64_t>(seconds) - static_cast<std::uint64_t>(now_unix_seconds)
            : static_cast<std::uint64_t>(now_unix_seconds) - static_cast<std::uint64_t>(seconds);
    if (tolerance.count() < 0 || skew > static_cast<std::uint64_t>(tolerance.count())) {
        return false;
    }
    const auto expected = webhook_signature(secret, seconds, body);
    const auto expected_mac = std::string_view(expected).substr(expected.find(",v1=") + 4);
    return mac.size() == expected_mac.size() &&
           CRYPTO_memcmp(mac.data(), expected_mac.data(), mac.size()) == 0;
}

std::string random_id(std::string_view prefix) {
    unsigned char bytes[12];
    if (RAND_bytes(bytes, sizeof bytes) != 1) {
        throw std::runtime_error("RAND_bytes failed");
    }
    return std::string(prefix) + to_hex(bytes, sizeof bytes);
}

api_keys api_keys::load(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        throw std::runtime_error("cannot read api_keys_file " + path);
    }
    std::vector<std::string> keys;
    std::string line;
    while (std::getline(in, line)) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) {
            line.pop_back();
        }
        if (line.empty() || line.front() == '#') {
            continue;
        }
        keys.push_back(line);
    }
    if (keys.empty()) {
        throw std::runtime_error("api_keys_file " + path + " holds no key");
    }
    return api_keys(std::move(keys));
}

api_keys::api_keys(std::vector<std::string> keys) {
    for (const auto& k : keys) {
        const auto digest = sha256_raw(k);
        const auto hex = to_hex(reinterpret_cast<const unsigned char*>(digest.data()), 8);
        keys_.push_back({digest, "key_" + hex});
    }
}

std::optional<std::string> api_keys::owner_of(std::string_view authorization) const {
    constexpr std::string_view scheme = "Bearer ";
    if (authorization.size() <= scheme.size() || authorization.substr(0, scheme.size()) != scheme) {
        return std::nullopt;
    }
    const auto digest = sha256_raw(authorization.substr(scheme.size()));
    const key* found = nullptr;
    for (const auto& k : keys_) {
        // Every key is compared: the loop's time does not depend on which one matched.
        const bool match = CRYPTO_memcmp(k.digest.data(), digest.data(), digest.size()) == 0;
        found = match ? &k : found;
    }
    if (found == nullptr) {
        return std::nullopt;
    }
    return found->owner;
}

}  // namespace harvest::service
