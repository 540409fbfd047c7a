#pragma once
// The on-disk store of `http.cache` (docs/config.md): one file per response, keyed by the
// request's 64-bit fingerprint (method, canonical URL, body), so two spellings of one URL share
// an entry.
//
// Crash safety: an entry is written whole to a temporary file, then renamed over the old one,
// so a reader sees the old entry or the new one, never a mix. Every file carries a magic, its
// payload length and a CRC-32 of the payload: a file cut short or damaged by whatever (a full
// disk, a power loss before the page cache reached the disk, a hand edit) reads as a miss and
// is removed. Temporary files a killed run left behind are removed when the store opens.
// No fsync: kill -9 loses nothing the kernel has, and what a power loss loses is caught by the
// checksum.
//
// Bounds: the entry files together stay under `max_size` bytes; storing past it removes the
// oldest stored entries first (by when they were stored, from the files' mtimes at open).
//
// Thread-safety: every member may be called from any thread. A mutex guards the index only;
// file reads and writes run outside it. No Asio.

#include "engine/net/http_client.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace harvest::crawl {

struct cache_entry {
    unsigned status = 0;
    unsigned redirects = 0;
    std::string final_url;
    // The response's headers, minus those that described the encoded transfer
    // (Content-Encoding, Content-Length, Transfer-Encoding) and hop-by-hop or per-client ones.
    net::header_list headers;
    std::string body;  // decoded
    // The request header values the response's Vary names ("" when the request had none):
    // the entry answers only a request that sends the same.
    net::header_list vary;
    std::int64_t stored_at_ms = 0;  // Unix time, milliseconds

    bool operator==(const cache_entry&) const = default;
};

// The file format, for the store and its tests. decode_entry returns nullopt for anything that
// is not a complete, checksummed entry.
[[nodiscard]] std::string encode_entry(const cache_entry& entry);
[[nodiscard]] std::optional<cache_entry> decode_entry(std::string_view file);

// An entry built from a fetched response: status, final URL, redirects and the headers worth
// keeping; `vary` from `request_header` (the value the request sent for a name, "" if none).
// nullopt when the response must not be stored (Vary: *).
template <typename RequestHeader>
std::optional<cache_entry> entry_of(const net::http_response& response,
                                    RequestHeader&& request_header, std::int64_t now_ms);

// True when `entry` may answer a request that sends these header values (its Vary list).
template <typename RequestHeader>
bool vary_matches(const cache_entry& entry, RequestHeader&& request_header);

// The response a stored entry stands for (wire_bytes 0, elapsed 0).
[[nodiscard]] net::http_response response_of(const cache_entry& entry);

class http_cache {
  public:
    // Makes `dir` (and its parents) as needed, removes leftover temporary files and indexes the
    // entries there. Throws std::system_error when the folder cannot be made or read.
    http_cache(std::string dir, std::uint64_t max_size);
    http_cache(const http_cache&) = delete;
    http_cache& operator=(const http_cache&) = delete;

    // The entry stored for `key`; nullopt when there is none or its file does not read back
    // (then the file is removed).
    [[nodiscard]] std::optional<cache_entry> load(std::uint64_t key);
    // Stores (replaces) the entry of `key`, then evicts the oldest entries while over
    // max_size. False when it was not stored: bigger than max_size, or an I/O error (the old
    // entry, if any, is left as it was).
    bool store(std::uint64_t key, const cache_entry& entry);
    void remove(std::uint64_t key);

    [[nodiscard]] std::uint64_t size_bytes() const;
    [[nodiscard]] std::size_t entries() const;
    [[nodiscard]] const std::string& dir() const noexcept { return dir_; }
    // Where the entry of `key` lives (tests damage it on purpose).
    [[nodiscard]] std::string path_of(std::uint64_t key) const;

  private:
    struct indexed {
        std::uint64_t bytes = 0;
        std::uint64_t order = 0;  // higher = stored later
    };
    void forget_locked(std::uint64_t key);

    std::string dir_;
    std::uint64_t max_size_;
    mutable std::mutex mutex_;
    std::unordered_map<std::uint64_t, indexed> index_;  // guarded by mutex_
    std::map<std::uint64_t, std::uint64_t> by_age_;     // order -> key, guarded by mutex_
    std::uint64_t total_bytes_ = 0;                     // guarded by mutex_
    std::uint64_t next_order_ = 0;                      // guarded by mutex_
    std::uint64_t next_temp_ = 0;                       // guarded by mutex_
};

// ---------------------------------------------------------------------------------------------

namespace detail {
[[nodiscard]] bool keep_header(std::string_view name) noexcept;
[[nodiscard]] std::vector<std::string> vary_names(std::string_view vary);  // lower-case
}  // namespace detail

template <typename RequestHeader>
std::optional<cache_entry> entry_of(const net::http_response& response,
                                    RequestHeader&& request_header, std::int64_t now_ms) {
    cache_entry entry;
    for (const auto& name : detail::vary_names(response.header("Vary"))) {
        if (name == "*") {
            return std::nullopt;
        }
        entry.vary.emplace_back(name, std::string(request_header(name)));
    }
    entry.status = response.status;
    entry.redirects = response.redirects;
    entry.final_url = response.final_url;
    for (const auto& [name, value] : response.headers) {
        if (detail::keep_header(name)) {
            entry.headers.emplace_back(name, value);
        }
    }
    entry.body = response.body;
    entry.stored_at_ms = now_ms;
    return entry;
}

template <typename RequestHeader>
bool vary_matches(const cache_entry& entry, RequestHeader&& request_header) {
    for (const auto& [name, value] : entry.vary) {
        if (std::string_view(request_header(name)) != value) {
            return false;
        }
    }
    return true;
}

}  // namespace harvest::crawl
