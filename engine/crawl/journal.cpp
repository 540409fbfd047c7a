#include "engine/crawl/journal.hpp"

#include "engine/crawl/journal_format.hpp"
#include "engine/crawl/posix_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <unordered_set>
#include <utility>

namespace harvest::crawl {

namespace {

using journal_format::encode_admit;
using journal_format::encode_commit;
using journal_format::encode_empty;
using journal_format::encode_header;
using journal_format::magic;
using journal_format::record_type;
using journal_format::seen_per_record;
using posix::fd_guard;
using posix::file_size;
using posix::fsync_dir;
using posix::io_error;
using posix::write_all;

// The next whole, CRC-valid record, or nothing (torn, corrupt or end of file).
struct raw_record {
    record_type type;
    const unsigned char* payload;
    std::size_t payload_size;
    std::size_t total;  // bytes on disk, framing included
};

bool next_record(posix::file_reader& in, raw_record& out) {
    using journal_format::frame_bytes;
    if (!in.ensure(4)) {
        return false;
    }
    const std::uint32_t length = journal_format::get_u32(in.data());
    if (length == 0 || length > journal_format::max_record_length ||
        frame_bytes + length > in.left()) {
        return false;
    }
    if (!in.ensure(frame_bytes + length)) {
        return false;
    }
    const unsigned char* body = in.data() + 4;
    if (journal_format::crc_of(reinterpret_cast<const char*>(body), length) !=
        journal_format::get_u32(body + length)) {
        return false;
    }
    out = {static_cast<record_type>(body[0]), body + 1, length - 1, frame_bytes + length};
    return true;
}

// Replays the first `limit` bytes of an open journal.
journal_state replay_fd(int fd, std::uint64_t limit, std::string_view expected_crawl_name,
                        const std::string& path) {
    journal_state state;
    if (limit == 0) {
        return state;  // an empty file: a crash before the header was ever written
    }
    state.found = true;
    posix::file_reader in(fd, limit, path);
    if (!in.ensure(magic.size()) || std::memcmp(in.data(), magic.data(), magic.size()) != 0) {
        throw std::runtime_error(path +
                                 " is not a Harvest journal (no \"HVJ1\" magic); move it "
                                 "away or run without --resume");
    }
    in.consume(magic.size());

    raw_record rec{};
    journal_format::header header;
    if (!next_record(in, rec) || rec.type != record_type::header ||
        !journal_format::decode_header(rec.payload, rec.payload_size, header)) {
        throw std::runtime_error(path +
                                 ": the journal header is corrupt; the journal cannot be "
                                 "resumed (run without --resume to start over)");
    }
    state.crawl_name = std::move(header.crawl_name);
    state.format_version = header.version;
    if (header.version < journal::oldest_format_version ||
        header.version > journal::format_version) {
        throw std::runtime_error(path + ": journal format version " +
                                 std::to_string(header.version) + ", this Harvest reads versions " +
                                 std::to_string(journal::oldest_format_version) + " to " +
                                 std::to_string(journal::format_version));
    }
    if (!expected_crawl_name.empty() && state.crawl_name != expected_crawl_name) {
        throw std::runtime_error(path + " is the journal of crawl '" + state.crawl_name +
                                 "', not of '" + std::string(expected_crawl_name) +
                                 "'; use another state.dir, or run without --resume");
    }
    in.consume(rec.total);

    journal_format::state_builder builder(state);
    while (next_record(in, rec) && builder.apply(rec.type, rec.payload, rec.payload_size)) {
        in.consume(rec.total);
    }
    builder.finish();
    state.valid_bytes = in.offset();
    state.dropped_bytes = limit - in.offset();
    return state;
}

// Runs `sync` (an fdatasync, maybe the folder's too). When it fails, the journal is marked
// unusable (`failed`, under `append_mutex`, which the caller does not hold) and the error
// rethrown: after a failed fdatasync the kernel may have dropped the dirty pages, so nothing
// written since the last good sync can be trusted any more.
template <typename Sync>
void sync_or_fail(Sync&& sync, std::mutex& append_mutex, bool& failed) {
    try {
        sync();
    } catch (...) {
        std::lock_guard lock(append_mutex);
        failed = true;
        throw;
    }
}

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
    if (recovered_.format_version < format_version) {
        // The journal of an older Harvest: rewritten in the current format before anything is
        // appended (compaction replaces the file atomically), so that one file never mixes
        // formats and an older Harvest refuses it by its header instead of reading part of it.
        std::lock_guard sync_lock(sync_mutex_);
        compact_locked();
    }
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

void journal::save_cookies(std::uint32_t session, std::string_view jar) {
    std::lock_guard lock(append_mutex_);
    check_usable_locked();
    journal_format::encode_cookies(buffer_, session, jar);
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
    sync_or_fail([this, fd] { sync_fd(fd); }, append_mutex_, failed_);
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
    sync_or_fail([this, fd] { sync_fd(fd); }, append_mutex_, failed_);
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
            journal_format::encode_seen(out, chunk);
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
        for (const auto& [session, jar] : state.cookies) {
            journal_format::encode_cookies(out, session, jar);
        }
        journal_format::encode_checkpoint(out, state.completed_count, state.output_offsets);
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
    sync_or_fail(
        [this] {
            sync_fd(fd_);
            if (options_.durable) {
                fsync_dir(dir_);
            }
        },
        append_mutex_, failed_);
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

}  // namespace harvest::crawl
