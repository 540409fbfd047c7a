#pragma once
// The journal's records as bytes (internal to journal.cpp and its tests): framing, CRC, the
// encoders of every record type, and the state_builder that applies decoded records to a
// journal_state. Pure: no I/O, so replay logic is testable and fuzzable on byte strings.
//
// Record framing: [u32 length][u8 type][payload][u32 crc32(type + payload)], little-endian,
// `length` = 1 + payload size. Requests inside records are request_codec payloads.

#include "engine/crawl/journal.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace harvest::crawl::journal_format {

inline constexpr std::string_view magic = "HVJ1";

enum class record_type : std::uint8_t {
    header = 1,      // u32 format version, str crawl name
    admit = 2,       // format 1's request layout (read only; see decode_legacy_admit)
    commit = 3,      // u32 n, n x u64 fp, u32 m, m x (str output id, u64 bytes)
    finish = 4,      // empty
    seen = 5,        // u32 n, n x u64 fp: completed fingerprints, written by compaction
    checkpoint = 6,  // u64 completed count, u32 m, m x (str, u64): closes a compacted prefix
    request = 7,     // a request_codec payload: a request entered the frontier (format 2)
    cookies = 8,     // u32 session, then a cookie_jar::encode payload: that session's jar now
                     // (format 3; the last one per session wins)
};

// Bigger records are corrupt by definition; it also bounds what a flipped length can make
// replay allocate.
inline constexpr std::uint32_t max_record_length = 256u << 20;
// Record framing: u32 length before, u32 crc after the (type + payload) body.
inline constexpr std::size_t frame_bytes = 8;
// Fingerprints per `seen` record in a compacted journal (8 MiB per record).
inline constexpr std::size_t seen_per_record = std::size_t{1} << 20;

void put_u32(std::string& out, std::uint32_t v);
void put_u64(std::string& out, std::uint64_t v);
[[nodiscard]] std::uint32_t get_u32(const unsigned char* p) noexcept;
[[nodiscard]] std::uint32_t crc_of(const char* data, std::size_t size) noexcept;

// The magic and the header record of a journal of the current format version.
void encode_header(std::string& out, std::string_view crawl_name);
// A `request` record. Throws std::length_error (appending nothing) past max_record_length.
void encode_admit(std::string& out, const crawl_request& request);
void encode_commit(std::string& out, std::span<const std::uint64_t> completed,
                   std::span<const output_offset> offsets);
void encode_seen(std::string& out, std::span<const std::uint64_t> fingerprints);
void encode_checkpoint(std::string& out, std::uint64_t completed_count,
                       const std::map<std::string, std::uint64_t>& offsets);
void encode_empty(std::string& out, record_type type);
void encode_cookies(std::string& out, std::uint32_t session, std::string_view jar);

struct header {
    std::uint32_t version = 0;
    std::string crawl_name;
};
// The header record's payload; false if it is malformed.
[[nodiscard]] bool decode_header(const unsigned char* payload, std::size_t size, header& out);

// Format 1's admit payload: u64 fp, u32 depth, str method, str url, u32 n, n x (str, str),
// str body, str idempotency key, [u8 flags] (bit 0 sitemap, bit 1 failed once; absent = 0),
// with u32-length strings. What a journal written before request_codec holds.
[[nodiscard]] bool decode_legacy_admit(const unsigned char* payload, std::size_t size,
                                       crawl_request& out);

// Applies records in file order. Each record is decoded completely before it changes anything,
// so a commit is applied entirely or not at all.
class state_builder {
  public:
    explicit state_builder(journal_state& state) : state_(state) {}

    // False: the record is corrupt or of an unknown type (replay stops before it).
    bool apply(record_type type, const unsigned char* payload, std::size_t size);
    // Drops the completed requests from `pending`, keeping admission order.
    void finish();

  private:
    bool apply_admit(crawl_request request);
    bool apply_commit(const unsigned char* payload, std::size_t size);
    bool apply_seen(const unsigned char* payload, std::size_t size);
    bool apply_checkpoint(const unsigned char* payload, std::size_t size);
    void complete(std::uint64_t fp);

    journal_state& state_;
    std::unordered_map<std::uint64_t, std::size_t> index_;  // pending fp -> index in pending
    std::vector<bool> live_;
};

}  // namespace harvest::crawl::journal_format
