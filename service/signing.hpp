#pragma once
// Cryptographic helpers of the bulk service (OpenSSL): webhook signatures, API key checks,
// request body hashes and random identifiers.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace harvest::service {

// Lower-case hex of HMAC-SHA256(secret, text).
std::string hmac_sha256_hex(std::string_view secret, std::string_view text);
std::string sha256_hex(std::string_view text);

// The Harvest-Signature header value: "t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">".
std::string webhook_signature(std::string_view secret, std::int64_t unix_seconds,
                              std::string_view body);
// How far a signature's timestamp may be from the receiver's clock, either way (a receiver's
// replay window; docs/bulk-api.md "Verifying a webhook").
inline constexpr std::chrono::seconds webhook_signature_tolerance{300};

// Checks a Harvest-Signature value against `body` (constant-time compare of the MAC) and its
// timestamp against `now_unix_seconds` within `tolerance`. An empty secret never verifies:
// anyone can compute an HMAC with an empty key.
bool verify_webhook_signature(std::string_view secret, std::string_view header,
                              std::string_view body, std::int64_t now_unix_seconds,
                              std::chrono::seconds tolerance = webhook_signature_tolerance);
// The same against the system clock now, with the default tolerance.
bool verify_webhook_signature(std::string_view secret, std::string_view header,
                              std::string_view body);

// `prefix` + 24 hex digits from the OpenSSL CSPRNG (96 bits).
std::string random_id(std::string_view prefix);

// The API keys of `api_keys_file`: one per line, blank lines and `#` comments skipped.
class api_keys {
  public:
    // Throws std::runtime_error when the file cannot be read or holds no key.
    static api_keys load(const std::string& path);
    explicit api_keys(std::vector<std::string> keys);

    // The owner id of the key in `Authorization: Bearer KEY`, or nullopt. Compares the key's
    // SHA-256 with every known key's in constant time (CRYPTO_memcmp, no early exit), so
    // neither timing nor key length tells an attacker how close a guess was.
    std::optional<std::string> owner_of(std::string_view authorization) const;

  private:
    struct key {
        std::string digest;  // 32 raw bytes
        std::string owner;   // "key_" + first 16 hex digits of the SHA-256
    };
    std::vector<key> keys_;
};

}  // namespace harvest::service
