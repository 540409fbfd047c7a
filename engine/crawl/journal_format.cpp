#include "engine/crawl/journal_format.hpp"

#include "engine/crawl/request_codec.hpp"

#include <zlib.h>

#include <array>
#include <stdexcept>
#include <utility>

namespace harvest::crawl::journal_format {

namespace {

// Format 1's admit flags (its optional last byte; written only when not 0).
enum legacy_admit_flags : std::uint8_t {
    admit_sitemap = 1u << 0,
    admit_failed_once = 1u << 1,
    admit_known_flags = admit_sitemap | admit_failed_once,
};

void put_str(std::string& out, std::string_view s) {
    if (s.size() > max_record_length) {
        throw std::length_error("journal: string too long to record");
    }
    put_u32(out, static_cast<std::uint32_t>(s.size()));
    out.append(s);
}

std::uint64_t get_u64(const unsigned char* p) noexcept {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) {
        v = (v << 8) | p[i];
    }
    return v;
}

// Appends a record to `out` while building it in place (no temporary per record).
class record_writer {
  public:
    record_writer(std::string& out, record_type type) : out_(out), start_(out.size()) {
        put_u32(out_, 0);  // length, patched by finish()
        out_.push_back(static_cast<char>(type));
    }
    record_writer(const record_writer&) = delete;
    record_writer& operator=(const record_writer&) = delete;
    // A record left unfinished (an exception while encoding) is removed from the buffer.
    ~record_writer() {
        if (!finished_) {
            out_.resize(start_);
        }
    }

    void finish() {
        const std::size_t length = out_.size() - start_ - 4;
        if (length > max_record_length) {
            throw std::length_error("journal: record of " + std::to_string(length) +
                                    " bytes exceeds the limit");
        }
        for (int i = 0; i < 4; ++i) {
            out_[start_ + static_cast<std::size_t>(i)] =
                static_cast<char>((length >> (8 * i)) & 0xffu);
        }
        put_u32(out_, crc_of(out_.data() + start_ + 4, length));
        finished_ = true;
    }

  private:
    std::string& out_;
    std::size_t start_;
    bool finished_ = false;
};

template <typename Offsets>
void put_offsets(std::string& out, const Offsets& offsets) {
    put_u32(out, static_cast<std::uint32_t>(std::size(offsets)));
    for (const auto& entry : offsets) {
        if constexpr (requires { entry.output_id; }) {
            put_str(out, entry.output_id);
            put_u64(out, entry.bytes);
        } else {
            put_str(out, entry.first);
            put_u64(out, entry.second);
        }
    }
}

// Bounds-checked reading of one payload; any overrun marks it bad instead of reading on.
class payload_reader {
  public:
    payload_reader(const unsigned char* data, std::size_t size) : p_(data), end_(data + size) {}

    [[nodiscard]] bool ok() const noexcept { return ok_; }
    [[nodiscard]] bool at_end() const noexcept { return ok_ && p_ == end_; }
    [[nodiscard]] std::size_t remaining() const noexcept {
        return static_cast<std::size_t>(end_ - p_);
    }

    std::uint32_t u32() {
        if (!take(4)) {
            return 0;
        }
        return get_u32(p_ - 4);
    }
    std::uint8_t u8() {
        if (!take(1)) {
            return 0;
        }
        return p_[-1];
    }
    std::uint64_t u64() {
        if (!take(8)) {
            return 0;
        }
        return get_u64(p_ - 8);
    }
    std::string str() {
        const std::uint32_t n = u32();
        if (!take(n)) {
            return {};
        }
        return {reinterpret_cast<const char*>(p_ - n), n};
    }
    // A count of items each at least `min_item_bytes` long: rejects counts the payload cannot
    // hold, so a corrupt count never drives an allocation.
    std::uint32_t count(std::size_t min_item_bytes) {
        const std::uint32_t n = u32();
        if (ok_ && n > remaining() / min_item_bytes) {
            ok_ = false;
            return 0;
        }
        return n;
    }

  private:
    bool take(std::size_t n) {
        if (!ok_ || remaining() < n) {
            ok_ = false;
            return false;
        }
        p_ += n;
        return true;
    }

    const unsigned char* p_;
    const unsigned char* end_;
    bool ok_ = true;
};

bool decode_offsets(payload_reader& in, std::vector<std::pair<std::string, std::uint64_t>>& out) {
    const std::uint32_t n = in.count(12);
    for (std::uint32_t i = 0; i < n && in.ok(); ++i) {
        std::string id = in.str();
        const std::uint64_t bytes = in.u64();
        out.emplace_back(std::move(id), bytes);
    }
    return in.ok();
}

}  // namespace

// ---- encoding --------------------------------------------------------------------------------

void put_u32(std::string& out, std::uint32_t v) {
    std::array<char, 4> bytes{};
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        bytes[i] = static_cast<char>((v >> (8 * i)) & 0xffu);
    }
    out.append(bytes.data(), bytes.size());
}

void put_u64(std::string& out, std::uint64_t v) {
    std::array<char, 8> bytes{};
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        bytes[i] = static_cast<char>((v >> (8 * i)) & 0xffu);
    }
    out.append(bytes.data(), bytes.size());
}

std::uint32_t get_u32(const unsigned char* p) noexcept {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) {
        v = (v << 8) | p[i];
    }
    return v;
}

std::uint32_t crc_of(const char* data, std::size_t size) noexcept {
    return static_cast<std::uint32_t>(
        ::crc32(0L, reinterpret_cast<const Bytef*>(data), static_cast<uInt>(size)));
}

void encode_header(std::string& out, std::string_view crawl_name) {
    out.append(magic);
    record_writer rec(out, record_type::header);
    put_u32(out, journal::format_version);
    put_str(out, crawl_name);
    rec.finish();
}

void encode_admit(std::string& out, const crawl_request& r) {
    record_writer rec(out, record_type::request);
    request_codec::encode(r, out);
    rec.finish();
}

void encode_commit(std::string& out, std::span<const std::uint64_t> completed,
                   std::span<const output_offset> offsets) {
    if (completed.size() > max_record_length / 8 || offsets.size() > max_record_length / 12) {
        throw std::length_error("journal: commit too large for one record");
    }
    record_writer rec(out, record_type::commit);
    put_u32(out, static_cast<std::uint32_t>(completed.size()));
    for (const std::uint64_t fp : completed) {
        put_u64(out, fp);
    }
    put_offsets(out, offsets);
    rec.finish();
}

void encode_seen(std::string& out, std::span<const std::uint64_t> fingerprints) {
    record_writer rec(out, record_type::seen);
    put_u32(out, static_cast<std::uint32_t>(fingerprints.size()));
    for (const std::uint64_t fp : fingerprints) {
        put_u64(out, fp);
    }
    rec.finish();
}

void encode_checkpoint(std::string& out, std::uint64_t completed_count,
                       const std::map<std::string, std::uint64_t>& offsets) {
    record_writer rec(out, record_type::checkpoint);
    put_u64(out, completed_count);
    put_offsets(out, offsets);
    rec.finish();
}

void encode_empty(std::string& out, record_type type) {
    record_writer rec(out, type);
    rec.finish();
}

void encode_cookies(std::string& out, std::uint32_t session, std::string_view jar) {
    record_writer rec(out, record_type::cookies);
    put_u32(out, session);
    out.append(jar);
    rec.finish();
}

// ---- decoding --------------------------------------------------------------------------------

bool decode_header(const unsigned char* payload, std::size_t size, header& out) {
    payload_reader in(payload, size);
    out.version = in.u32();
    out.crawl_name = in.str();
    return in.at_end();
}

bool decode_legacy_admit(const unsigned char* payload, std::size_t size, crawl_request& out) {
    payload_reader in(payload, size);
    crawl_request r;
    r.fingerprint = in.u64();
    r.depth = in.u32();
    r.http.method = in.str();
    r.http.url = in.str();
    const std::uint32_t headers = in.count(8);
    for (std::uint32_t i = 0; i < headers && in.ok(); ++i) {
        std::string name = in.str();
        std::string value = in.str();
        r.http.headers.emplace_back(std::move(name), std::move(value));
    }
    r.http.body = in.str();
    r.idempotency_key = in.str();
    if (in.ok() && in.remaining() > 0) {
        // A flag this Harvest does not know would change how the request is fetched:
        // treat it as corrupt rather than fetch it wrongly.
        const std::uint8_t flags = in.u8();
        if (flags == 0 || (flags & ~admit_known_flags) != 0) {
            return false;
        }
        r.sitemap = (flags & admit_sitemap) != 0;
        r.breaker_failure_counted = (flags & admit_failed_once) != 0;
    }
    if (!in.at_end()) {
        return false;
    }
    out = std::move(r);
    return true;
}

bool state_builder::apply(record_type type, const unsigned char* payload, std::size_t size) {
    switch (type) {
        case record_type::request: {
            auto decoded = request_codec::decode(
                std::string_view(reinterpret_cast<const char*>(payload), size));
            return decoded.ok() && apply_admit(std::move(decoded.request));
        }
        case record_type::admit: {
            crawl_request r;
            return decode_legacy_admit(payload, size, r) && apply_admit(std::move(r));
        }
        case record_type::commit:
            return apply_commit(payload, size);
        case record_type::finish:
            if (size != 0) {
                return false;
            }
            state_.clean_end = true;
            return true;
        case record_type::seen:
            return apply_seen(payload, size);
        case record_type::checkpoint:
            return apply_checkpoint(payload, size);
        case record_type::cookies:
            if (size < 4) {
                return false;
            }
            // Kept as bytes: the crawler decodes them (a jar it cannot read is dropped there).
            state_.cookies[get_u32(payload)] =
                std::string(reinterpret_cast<const char*>(payload) + 4, size - 4);
            return true;
        case record_type::header:
        default:
            return false;  // a second header or an unknown type: corrupt
    }
}

void state_builder::finish() {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < state_.pending.size(); ++i) {
        if (live_[i]) {
            if (kept != i) {
                state_.pending[kept] = std::move(state_.pending[i]);
            }
            ++kept;
        }
    }
    state_.pending.resize(kept);
}

bool state_builder::apply_admit(crawl_request r) {
    // An admit records a request entering the frontier; a resumed request starts afresh, as it
    // always has (format 1 did not even record these).
    r.attempt = 0;
    r.previous_backoff = {};
    state_.clean_end = false;
    // A fingerprint admitted again (or already completed) stays as it was: first one wins,
    // except that a later admit may mark a pending request as having failed once.
    if (!state_.seen.insert(r.fingerprint)) {
        if (r.breaker_failure_counted) {
            if (const auto it = index_.find(r.fingerprint); it != index_.end()) {
                state_.pending[it->second].breaker_failure_counted = true;
            }
        }
        return true;
    }
    index_.emplace(r.fingerprint, state_.pending.size());
    state_.pending.push_back(std::move(r));
    live_.push_back(true);
    return true;
}

bool state_builder::apply_commit(const unsigned char* payload, std::size_t size) {
    payload_reader in(payload, size);
    const std::uint32_t n = in.count(8);
    std::vector<std::uint64_t> completed;
    completed.reserve(n);
    for (std::uint32_t i = 0; i < n; ++i) {
        completed.push_back(in.u64());
    }
    std::vector<std::pair<std::string, std::uint64_t>> offsets;
    if (!decode_offsets(in, offsets) || !in.at_end()) {
        return false;
    }
    state_.clean_end = false;
    for (const std::uint64_t fp : completed) {
        complete(fp);
    }
    for (auto& [id, bytes] : offsets) {
        state_.output_offsets[std::move(id)] = bytes;
    }
    ++state_.commits;
    return true;
}

bool state_builder::apply_seen(const unsigned char* payload, std::size_t size) {
    payload_reader in(payload, size);
    const std::uint32_t n = in.count(8);
    if (!in.ok() || in.remaining() != std::size_t{n} * 8) {
        return false;
    }
    state_.clean_end = false;
    for (std::uint32_t i = 0; i < n; ++i) {
        state_.seen.insert(in.u64());
    }
    return true;
}

bool state_builder::apply_checkpoint(const unsigned char* payload, std::size_t size) {
    payload_reader in(payload, size);
    const std::uint64_t completed = in.u64();
    std::vector<std::pair<std::string, std::uint64_t>> offsets;
    if (!decode_offsets(in, offsets) || !in.at_end()) {
        return false;
    }
    state_.clean_end = false;
    state_.completed_count = completed;
    state_.output_offsets.clear();
    for (auto& [id, bytes] : offsets) {
        state_.output_offsets[std::move(id)] = bytes;
    }
    return true;
}

void state_builder::complete(std::uint64_t fp) {
    if (const auto it = index_.find(fp); it != index_.end()) {
        live_[it->second] = false;
        index_.erase(it);
        ++state_.completed_count;
    } else if (state_.seen.insert(fp)) {
        // Completed without a recorded admit (its admit was journaled elsewhere, e.g. the
        // caller attached the journal late): still completed, still seen.
        ++state_.completed_count;
    }
}

}  // namespace harvest::crawl::journal_format
