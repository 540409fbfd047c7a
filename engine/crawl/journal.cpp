#include "engine/crawl/journal.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace harvest::crawl {

namespace {

constexpr std::string_view magic = "HVJ1";

enum class record_type : std::uint8_t {
    header = 1,      // u32 format version, str crawl name
    admit = 2,       // u64 fp, u32 depth, str method, str url, u32 n, n x (str, str), str body,
                     // str idempotency key, [u8 flags] (admit_flags; absent = 0)
    commit = 3,      // u32 n, n x u64 fp, u32 m, m x (str output id, u64 bytes)
    finish = 4,      // empty
    seen = 5,        // u32 n, n x u64 fp: completed fingerprints, written by compaction
    checkpoint = 6,  // u64 completed count, u32 m, m x (str, u64): closes a compacted prefix
};

// The optional last byte of an admit. It is written only when not 0, so a plain request's admit
// is byte for byte what format version 1 wrote before the byte existed, and journals of older
// Harvests replay unchanged (their admits end before it: flags 0).
enum admit_flags : std::uint8_t {
    admit_sitemap = 1u << 0,  // crawl_request::sitemap: fetched as a sitemap, <loc>s admitted
    // crawl_request::breaker_failure_counted: its host's breaker has counted a failure of it.
    // Journaled again (the same fingerprint) when it first fails, so that a resumed crawl does
    // not count that URL's failures against its host once more.
    admit_failed_once = 1u << 1,
    admit_known_flags = admit_sitemap | admit_failed_once,
};

// Bigger records are corrupt by definition; it also bounds what a flipped length can make
// replay allocate.
constexpr std::uint32_t max_record_length = 256u << 20;
// Record framing: u32 length before, u32 crc after the (type + payload) body.
constexpr std::size_t frame_bytes = 8;
// Fingerprints per `seen` record in a compacted journal (8 MiB per record).
constexpr std::size_t seen_per_record = std::size_t{1} << 20;

std::system_error io_error(const std::string& what, const std::string& path) {
    return {errno, std::generic_category(), what + " " + path};
}

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

void put_str(std::string& out, std::string_view s) {
    if (s.size() > max_record_length) {
        throw std::length_error("journal: string too long to record");
    }
    put_u32(out, static_cast<std::uint32_t>(s.size()));
    out.append(s);
}

std::uint32_t get_u32(const unsigned char* p) {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) {
        v = (v << 8) | p[i];
    }
    return v;
}

std::uint64_t get_u64(const unsigned char* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) {
        v = (v << 8) | p[i];
    }
    return v;
}

std::uint32_t crc_of(const char* data, std::size_t size) {
    return static_cast<std::uint32_t>(
        ::crc32(0L, reinterpret_cast<const Bytef*>(data), static_cast<uInt>(size)));
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

void encode_header(std::string& out, std::string_view crawl_name) {
    out.append(magic);
    record_writer rec(out, record_type::header);
    put_u32(out, journal::format_version);
    put_str(out, crawl_name);
    rec.finish();
}

void encode_admit(std::string& out, const crawl_request& r) {
    record_writer rec(out, record_type::admit);
    put_u64(out, r.fingerprint);
    put_u32(out, r.depth);
    put_str(out, r.http.method);
    put_str(out, r.http.url);
    put_u32(out, static_cast<std::uint32_t>(r.http.headers.size()));
    for (const auto& [name, value] : r.http.headers) {
        put_str(out, name);
        put_str(out, value);
    }
    put_str(out, r.http.body);
    put_str(out, r.idempotency_key);
    const std::uint8_t flags = static_cast<std::uint8_t>(
        (r.sitemap ? admit_sitemap : 0) | (r.breaker_failure_counted ? admit_failed_once : 0));
    if (flags != 0) {
        out.push_back(static_cast<char>(flags));
    }
    rec.finish();
}

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

void encode_empty(std::string& out, record_type type) {
    record_writer rec(out, type);
    rec.finish();
}

// ---- decoding --------------------------------------------------------------------------------

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

// Reads a file through a window, with pread so the descriptor's write position is untouched.
class file_reader {
  public:
    file_reader(int fd, std::uint64_t limit, const std::string& path)
        : fd_(fd), limit_(limit), path_(path) {}

    [[nodiscard]] std::uint64_t offset() const noexcept { return offset_; }
    [[nodiscard]] std::uint64_t left() const noexcept { return limit_ - offset_; }
    [[nodiscard]] const unsigned char* data() const noexcept {
        return reinterpret_cast<const unsigned char*>(buffer_.data() + begin_);
    }
    void consume(std::size_t n) noexcept {
        begin_ += n;
        offset_ += n;
    }

    // Makes `n` bytes available at data(); false if the file ends first.
    bool ensure(std::size_t n) {
        if (end_ - begin_ >= n) {
            return true;
        }
        if (n > left()) {
            return false;
        }
        if (begin_ > 0) {
            std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
        }
        if (buffer_.size() < n) {
            buffer_.resize(std::max(n, chunk_bytes));
        }
        while (end_ < n) {
            const std::uint64_t read_at = offset_ + end_;
            const std::size_t want = static_cast<std::size_t>(
                std::min<std::uint64_t>(buffer_.size() - end_, limit_ - read_at));
            const ssize_t got =
                ::pread(fd_, buffer_.data() + end_, want, static_cast<off_t>(read_at));
            if (got < 0) {
                if (errno == EINTR) {
                    continue;
                }
                throw io_error("journal: cannot read", path_);
            }
            if (got == 0) {
                return false;  // the file shrank under us: treat as its end
            }
            end_ += static_cast<std::size_t>(got);
        }
        return true;
    }

  private:
    static constexpr std::size_t chunk_bytes = std::size_t{1} << 20;
    int fd_;
    std::uint64_t limit_;
    const std::string& path_;
    std::vector<char> buffer_;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
    std::uint64_t offset_ = 0;  // file offset of data()
};

// The next whole, CRC-valid record, or nothing (torn, corrupt or end of file).
struct raw_record {
    record_type type;
    const unsigned char* payload;
    std::size_t payload_size;
    std::size_t total;  // bytes on disk, framing included
};

bool next_record(file_reader& in, raw_record& out) {
    if (!in.ensure(4)) {
        return false;
    }
    const std::uint32_t length = get_u32(in.data());
    if (length == 0 || length > max_record_length || frame_bytes + length > in.left()) {
        return false;
    }
    if (!in.ensure(frame_bytes + length)) {
        return false;
    }
    const unsigned char* body = in.data() + 4;
    if (crc_of(reinterpret_cast<const char*>(body), length) != get_u32(body + length)) {
        return false;
    }
    out = {static_cast<record_type>(body[0]), body + 1, length - 1, frame_bytes + length};
    return true;
}

// Applies records in file order. Each record is decoded completely before it changes anything,
// so a commit is applied entirely or not at all.
class state_builder {
  public:
    explicit state_builder(journal_state& state) : state_(state) {}

    bool apply(const raw_record& rec) {
        payload_reader in(rec.payload, rec.payload_size);
        switch (rec.type) {
            case record_type::admit:
                return apply_admit(in);
            case record_type::commit:
                return apply_commit(in);
            case record_type::finish:
                if (!in.at_end()) {
                    return false;
                }
                state_.clean_end = true;
                return true;
            case record_type::seen:
                return apply_seen(in);
            case record_type::checkpoint:
                return apply_checkpoint(in);
            case record_type::header:
            default:
                return false;  // a second header or an unknown type: corrupt
        }
    }

    // Drops the completed requests from `pending`, keeping admission order.
    void finish() {
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

  private:
    bool apply_admit(payload_reader& in) {
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

    bool apply_commit(payload_reader& in) {
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

    bool apply_seen(payload_reader& in) {
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

    bool apply_checkpoint(payload_reader& in) {
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

    void complete(std::uint64_t fp) {
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

    journal_state& state_;
    std::unordered_map<std::uint64_t, std::size_t> index_;  // pending fp -> index in pending
    std::vector<bool> live_;
};

// Replays the first `limit` bytes of an open journal.
journal_state replay_fd(int fd, std::uint64_t limit, std::string_view expected_crawl_name,
                        const std::string& path) {
    journal_state state;
    if (limit == 0) {
        return state;  // an empty file: a crash before the header was ever written
    }
    state.found = true;
    file_reader in(fd, limit, path);
    if (!in.ensure(magic.size()) || std::memcmp(in.data(), magic.data(), magic.size()) != 0) {
        throw std::runtime_error(path +
                                 " is not a Harvest journal (no \"HVJ1\" magic); move it "
                                 "away or run without --resume");
    }
    in.consume(magic.size());

    raw_record rec{};
    if (!next_record(in, rec) || rec.type != record_type::header) {
        throw std::runtime_error(path +
                                 ": the journal header is corrupt; the journal cannot be "
                                 "resumed (run without --resume to start over)");
    }
    payload_reader header(rec.payload, rec.payload_size);
    const std::uint32_t version = header.u32();
    state.crawl_name = header.str();
    if (!header.at_end()) {
        throw std::runtime_error(path +
                                 ": the journal header is corrupt; the journal cannot be "
                                 "resumed (run without --resume to start over)");
    }
    if (version != journal::format_version) {
        throw std::runtime_error(path + ": journal format version " + std::to_string(version) +
                                 ", this Harvest reads version " +
                                 std::to_string(journal::format_version));
    }
    if (!expected_crawl_name.empty() && state.crawl_name != expected_crawl_name) {
        throw std::runtime_error(path + " is the journal of crawl '" + state.crawl_name +
                                 "', not of '" + std::string(expected_crawl_name) +
                                 "'; use another state.dir, or run without --resume");
    }
    in.consume(rec.total);

    state_builder builder(state);
    while (next_record(in, rec) && builder.apply(rec)) {
        in.consume(rec.total);
    }
    builder.finish();
    state.valid_bytes = in.offset();
    state.dropped_bytes = limit - in.offset();
    return state;
}

std::uint64_t file_size(int fd, const std::string& path) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        throw io_error("journal: cannot stat", path);
    }
    return static_cast<std::uint64_t>(st.st_size);
}

void write_all(int fd, const char* data, std::size_t size, const std::string& path) {
    while (size > 0) {
        const ssize_t n = ::write(fd, data, size);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw io_error("journal: cannot write", path);
        }
        data += n;
        size -= static_cast<std::size_t>(n);
    }
}

void fsync_dir(const std::string& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        throw io_error("journal: cannot open directory", dir);
    }
    const int rc = ::fsync(fd);
    const int saved = errno;
    ::close(fd);
    if (rc != 0) {
        errno = saved;
        throw io_error("journal: cannot sync directory", dir);
    }
}

// Closes a descriptor on scope exit unless released.
class fd_guard {
  public:
    explicit fd_guard(int fd) noexcept : fd_(fd) {}
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    ~fd_guard() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    int release() noexcept { return std::exchange(fd_, -1); }
    [[nodiscard]] int get() const noexcept { return fd_; }

  private:
    int fd_;
};

}  // namespace

// ---- journal -----------------------------------------------------------------------------------

journal::journal(std::string dir, std::string crawl_name, bool resume, journal_options options)
    : dir_(std::move(dir)),
      path_((std::filesystem::path(dir_) / file_name).string()),
      crawl_name_(std::move(crawl_name)),
      options_(options),
      next_compact_at_(options.compact_threshold_bytes) {
    try {
        open_journal(resume);
    } catch (...) {
        // No destructor runs for a constructor that throws: release the lock and file here.
        if (fd_ >= 0) {
            ::close(fd_);
        }
        if (lock_fd_ >= 0) {
            ::close(lock_fd_);
        }
        throw;
    }
}

void journal::open_journal(bool resume) {
    std::filesystem::create_directories(dir_);
    // Two processes appending to one journal would interleave records; the second one to open
    // the state dir is refused. flock is released by the kernel when the process dies.
    const std::string lock_path = (std::filesystem::path(dir_) / "journal.lock").string();
    lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0) {
        throw io_error("journal: cannot open", lock_path);
    }
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            throw std::runtime_error("state dir " + dir_ + " is in use by another running crawl (" +
                                     lock_path + " is locked)");
        }
        throw io_error("journal: cannot lock", lock_path);
    }
    // A temp file left by a compaction or creation that crashed before its rename.
    std::filesystem::remove(path_ + ".tmp");

    if (!resume) {
        if (std::filesystem::exists(path_)) {
            std::filesystem::rename(path_, path_ + ".1");
        }
        create_fresh();
        return;
    }

    fd_guard fd(::open(path_.c_str(), O_RDWR | O_CLOEXEC));
    if (fd.get() < 0) {
        if (errno != ENOENT) {
            throw io_error("journal: cannot open", path_);
        }
        create_fresh();
        return;
    }
    const std::uint64_t size = file_size(fd.get(), path_);
    recovered_ = replay_fd(fd.get(), size, crawl_name_, path_);
    if (!recovered_.found) {
        create_fresh();
        return;
    }
    if (recovered_.dropped_bytes > 0) {
        // Cut the torn or corrupt tail now, durably, so new records follow the valid prefix.
        if (::ftruncate(fd.get(), static_cast<off_t>(recovered_.valid_bytes)) != 0) {
            throw io_error("journal: cannot truncate", path_);
        }
        sync_fd(fd.get());
    }
    if (::lseek(fd.get(), static_cast<off_t>(recovered_.valid_bytes), SEEK_SET) < 0) {
        throw io_error("journal: cannot seek", path_);
    }
    size_ = recovered_.valid_bytes;
    pending_estimate_ = recovered_.pending.size();
    completed_estimate_ = recovered_.completed_count;
    fd_ = fd.release();
}

journal::~journal() {
    // Best effort: buffered admits are written but not synced (a lost admit is re-admitted).
    try {
        std::lock_guard lock(append_mutex_);
        if (!failed_ && fd_ >= 0 && !buffer_.empty()) {
            write_buffer_locked();
        }
    } catch (...) {
        // Nothing to do in a destructor; the next resume treats these admits as never made.
    }
    if (fd_ >= 0) {
        ::close(fd_);
    }
    ::close(lock_fd_);  // releases the flock
}

void journal::create_fresh() {
    const std::string tmp = path_ + ".tmp";
    fd_guard fd(::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0) {
        throw io_error("journal: cannot create", tmp);
    }
    std::string header;
    encode_header(header, crawl_name_);
    write_all(fd.get(), header.data(), header.size(), tmp);
    sync_fd(fd.get());
    // The journal appears whole or not at all: never a file with half a header.
    if (::rename(tmp.c_str(), path_.c_str()) != 0) {
        throw io_error("journal: cannot rename into", path_);
    }
    if (options_.durable) {
        fsync_dir(dir_);
    }
    size_ = header.size();
    fd_ = fd.release();
}

void journal::check_usable_locked() const {
    if (failed_) {
        throw std::runtime_error("journal " + path_ + " is unusable after an earlier I/O error");
    }
}

void journal::write_buffer_locked() {
    if (buffer_.empty()) {
        return;
    }
    try {
        write_all(fd_, buffer_.data(), buffer_.size(), path_);
    } catch (...) {
        // Part of a record may be on disk now; anything appended after it would be unreadable.
        failed_ = true;
        throw;
    }
    size_ += buffer_.size();
    buffer_.clear();
}

void journal::sync_fd(int fd) const {
    if (options_.durable && ::fdatasync(fd) != 0) {
        throw io_error("journal: cannot sync", path_);
    }
}

void journal::admit(const crawl_request& request) {
    std::lock_guard lock(append_mutex_);
    check_usable_locked();
    encode_admit(buffer_, request);
    ++pending_estimate_;
    if (buffer_.size() >= options_.admit_buffer_bytes) {
        write_buffer_locked();
    }
}

void journal::commit(std::span<const std::uint64_t> completed_fingerprints,
                     std::span<const output_offset> offsets) {
    std::lock_guard sync_lock(sync_mutex_);
    int fd = -1;
    bool compact_now = false;
    {
        std::lock_guard lock(append_mutex_);
        check_usable_locked();
        const bool has_commit = !completed_fingerprints.empty() || !offsets.empty();
        if (!has_commit && buffer_.empty()) {
            return;
        }
        if (has_commit) {
            encode_commit(buffer_, completed_fingerprints, offsets);
        }
        write_buffer_locked();
        const std::uint64_t done = completed_fingerprints.size();
        pending_estimate_ -= std::min(pending_estimate_, done);
        completed_estimate_ += done;
        fd = fd_;
        compact_now = compaction_due_locked();
    }
    // Outside append_mutex_: admits keep buffering while the disk flushes. fd_ cannot change
    // meanwhile, since only compaction replaces it and it needs sync_mutex_.
    try {
        sync_fd(fd);
    } catch (...) {
        // After a failed fdatasync the kernel may have dropped the dirty pages: nothing written
        // since the last good sync can be trusted any more.
        std::lock_guard lock(append_mutex_);
        failed_ = true;
        throw;
    }
    if (compact_now) {
        try {
            compact_locked();
        } catch (const std::exception&) {
            // The commit itself is durable; a failed compaction (e.g. a full disk) leaves the old
            // journal intact. Stop trying, so that every commit does not pay for it again.
            options_.auto_compact = false;
        }
    }
}

void journal::finish() {
    std::lock_guard sync_lock(sync_mutex_);
    int fd = -1;
    {
        std::lock_guard lock(append_mutex_);
        check_usable_locked();
        encode_empty(buffer_, record_type::finish);
        write_buffer_locked();
        fd = fd_;
    }
    try {
        sync_fd(fd);
    } catch (...) {
        std::lock_guard lock(append_mutex_);
        failed_ = true;
        throw;
    }
}

bool journal::compaction_due_locked() const {
    return options_.auto_compact && size_ >= next_compact_at_ &&
           static_cast<double>(pending_estimate_) <=
               options_.compact_max_pending_ratio * static_cast<double>(completed_estimate_);
}

void journal::compact() {
    std::lock_guard sync_lock(sync_mutex_);
    compact_locked();
}

void journal::compact_locked() {
    // 1. Freeze a prefix: everything written so far. Admits may append after it meanwhile.
    std::uint64_t prefix_end = 0;
    int old_fd = -1;
    {
        std::lock_guard lock(append_mutex_);
        check_usable_locked();
        write_buffer_locked();
        prefix_end = size_;
        old_fd = fd_;
    }

    // 2. Without append_mutex_: rebuild the prefix's state and write it compactly to a temp file.
    const journal_state state = replay_fd(old_fd, prefix_end, crawl_name_, path_);
    if (state.dropped_bytes > 0) {
        throw std::runtime_error("journal " + path_ + ": cannot compact, " +
                                 std::to_string(state.dropped_bytes) +
                                 " bytes of it do not replay");
    }
    const std::string tmp = path_ + ".tmp";
    fd_guard new_fd(::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (new_fd.get() < 0) {
        throw io_error("journal: cannot create", tmp);
    }
    std::uint64_t new_size = 0;
    bool renamed = false;
    try {
        std::string out;
        const auto drain = [&](std::size_t above) {
            if (out.size() >= above) {
                write_all(new_fd.get(), out.data(), out.size(), tmp);
                new_size += out.size();
                out.clear();
            }
        };
        encode_header(out, crawl_name_);

        // Completed fingerprints, packed; the pending ones are carried by their admits.
        std::unordered_set<std::uint64_t> pending_fps;
        pending_fps.reserve(state.pending.size());
        for (const auto& r : state.pending) {
            pending_fps.insert(r.fingerprint);
        }
        std::vector<std::uint64_t> chunk;
        chunk.reserve(std::min(seen_per_record, state.seen.size()));
        const auto put_chunk = [&] {
            record_writer rec(out, record_type::seen);
            put_u32(out, static_cast<std::uint32_t>(chunk.size()));
            for (const std::uint64_t fp : chunk) {
                put_u64(out, fp);
            }
            rec.finish();
            chunk.clear();
            drain(std::size_t{4} << 20);
        };
        for (const std::uint64_t fp : state.seen) {
            if (!pending_fps.contains(fp)) {
                chunk.push_back(fp);
                if (chunk.size() == seen_per_record) {
                    put_chunk();
                }
            }
        }
        if (!chunk.empty()) {
            put_chunk();
        }
        for (const auto& r : state.pending) {
            encode_admit(out, r);
            drain(std::size_t{4} << 20);
        }
        {
            record_writer rec(out, record_type::checkpoint);
            put_u64(out, state.completed_count);
            put_offsets(out, state.output_offsets);
            rec.finish();
        }
        if (state.clean_end) {
            encode_empty(out, record_type::finish);
        }
        drain(0);
        sync_fd(new_fd.get());
        const std::uint64_t compacted_size = new_size;

        // 3. Under append_mutex_: carry over what admits wrote after the prefix (commits cannot
        // have: they wait for sync_mutex_), then swap the files. The rename is atomic: a crash
        // leaves either the old journal or the new one, both complete.
        std::lock_guard lock(append_mutex_);
        check_usable_locked();
        std::vector<char> copy(std::size_t{1} << 20);
        for (std::uint64_t at = prefix_end; at < size_;) {
            const std::size_t want =
                static_cast<std::size_t>(std::min<std::uint64_t>(copy.size(), size_ - at));
            const ssize_t got = ::pread(old_fd, copy.data(), want, static_cast<off_t>(at));
            if (got < 0 && errno == EINTR) {
                continue;
            }
            if (got <= 0) {
                throw io_error("journal: cannot read", path_);
            }
            write_all(new_fd.get(), copy.data(), static_cast<std::size_t>(got), tmp);
            new_size += static_cast<std::uint64_t>(got);
            at += static_cast<std::uint64_t>(got);
        }
        if (::rename(tmp.c_str(), path_.c_str()) != 0) {
            throw io_error("journal: cannot rename into", path_);
        }
        renamed = true;
        fd_ = new_fd.release();
        size_ = new_size;
        // From the compacted size alone: the tail is admits that raced the compaction, and
        // counting them would let one busy compaction double the next threshold.
        next_compact_at_ = std::max(options_.compact_threshold_bytes, 2 * compacted_size);
    } catch (...) {
        if (!renamed) {
            ::unlink(tmp.c_str());  // the old journal is untouched and still in use
        }
        throw;
    }
    ::close(old_fd);

    // Make the carried-over tail and the rename durable before any commit relies on them.
    try {
        sync_fd(fd_);
        if (options_.durable) {
            fsync_dir(dir_);
        }
    } catch (...) {
        std::lock_guard lock(append_mutex_);
        failed_ = true;
        throw;
    }
}

journal_state journal::take_recovered_state() {
    std::lock_guard lock(append_mutex_);
    return std::exchange(recovered_, journal_state{});
}

std::uint64_t journal::size_bytes() const {
    std::lock_guard lock(append_mutex_);
    return size_ + buffer_.size();
}

journal_state journal::replay(const std::string& dir, std::string_view expected_crawl_name) {
    const std::string path = (std::filesystem::path(dir) / file_name).string();
    fd_guard fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        if (errno == ENOENT) {
            return {};
        }
        throw io_error("journal: cannot open", path);
    }
    return replay_fd(fd.get(), file_size(fd.get(), path), expected_crawl_name, path);
}

// ---- outputs -----------------------------------------------------------------------------------

void truncate_file(const std::string& path, std::uint64_t bytes) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOENT && bytes == 0) {
            return;
        }
        if (errno == ENOENT) {
            throw std::runtime_error("output " + path + " is missing, but the journal committed " +
                                     std::to_string(bytes) +
                                     " bytes of it; it was removed outside Harvest");
        }
        throw io_error("cannot stat output", path);
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size < bytes) {
        throw std::runtime_error("output " + path + " is " + std::to_string(size) +
                                 " bytes, shorter than the " + std::to_string(bytes) +
                                 " bytes the journal committed; it was changed outside Harvest");
    }
    if (size == bytes) {
        return;
    }
    fd_guard fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        throw io_error("cannot open output", path);
    }
    if (::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0) {
        throw io_error("cannot truncate output", path);
    }
    // Durable before new items are appended after the cut.
    if (::fsync(fd.get()) != 0) {
        throw io_error("cannot sync output", path);
    }
}

}  // namespace harvest::crawl
