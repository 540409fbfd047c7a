#pragma once
// The durable state journal of a crawl (`state.dir`), read by `harvest run --resume`.
//
// What it records: every logical request that entered the frontier (admit), and periodic atomic
// checkpoints (commit) naming the requests completed for good together with the byte length of
// every append-only output at that moment. On resume the outputs are truncated to the last
// commit's lengths and every admitted-but-not-committed request is fetched again, so each item is
// written exactly once after truncation (DESIGN.md principle 6).
//
// File `<dir>/journal.log`: the magic "HVJ1", then records
//     [u32 length][u8 type][payload][u32 crc32(type + payload)]
// little-endian, `length` = 1 + payload size (journal_format.hpp). The first record is the
// header (format version, crawl name). Replay stops at the first record that is torn, fails its
// CRC or does not decode: everything after it is treated as lost (`journal_state::dropped_bytes`).
//
// Format versions: 2 records requests as request_codec payloads; 1 (Harvest before the codec)
// had its own request layout. Both replay; resuming a version 1 journal first rewrites it as
// version 2 (an atomic compaction), and an older Harvest refuses a version 2 journal by its
// header.
//
// Split in three: journal_format (the records as bytes, pure), posix_file (descriptors, writes,
// syncs, reads) and this file (appending, committing, compacting, replaying a file).

#include "engine/crawl/fingerprint_set.hpp"
#include "engine/crawl/posix_file.hpp"  // truncate_file, used with the journal on resume
#include "engine/crawl/request.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace harvest::crawl {

// The committed length of one append-only output (JSONL, CSV, error stream).
struct output_offset {
    std::string output_id;  // stable across runs, e.g. the output's path
    std::uint64_t bytes = 0;
};

// What a journal says about a crawl, as rebuilt by replay.
struct journal_state {
    // Admitted and not completed, in admission order, as recorded (method, url, headers, body,
    // depth, fingerprint, idempotency key, sitemap and failed-once flags; attempt = 0 and no
    // backoff: a resumed request starts afresh). Push them into the frontier as they are: they
    // are already journaled, do not admit() them again.
    std::vector<crawl_request> pending;
    // Every fingerprint admitted or completed: the dedup set to seed the frontier with.
    fingerprint_set seen;
    // Distinct fingerprints completed for good.
    std::uint64_t completed_count = 0;
    // Output lengths from the last valid commits (a commit updates the outputs it names; later
    // commits win). Empty if nothing was ever committed. An output not named here has nothing
    // committed: truncate it to 0 on resume.
    std::map<std::string, std::uint64_t> output_offsets;
    // Per session: its cookie jar as last saved (cookie_jar::encode bytes).
    std::map<std::uint32_t, std::string> cookies;
    // The last record is a finish(): the previous run ended cleanly.
    bool clean_end = false;

    // Diagnostics.
    bool found = false;                // a journal file existed (false = fresh crawl)
    std::string crawl_name;            // from the header
    std::uint32_t format_version = 0;  // from the header (0 when not found)
    std::uint64_t commits = 0;         // commit records applied
    std::uint64_t valid_bytes = 0;     // length of the valid prefix of the file
    std::uint64_t dropped_bytes = 0;   // bytes after it (torn tail or corruption), ignored
};

struct journal_options {
    // fdatasync at the end of commit(), finish() and compaction. Turning it off keeps replay
    // atomic per commit but loses the guarantee across a power loss: tests and benchmarks only.
    bool durable = true;
    // Admits are buffered in memory and written at the next commit, or when this many bytes
    // are buffered (written, not synced: a lost admit is re-admitted from its parent).
    std::size_t admit_buffer_bytes = std::size_t{4} << 20;
    // commit() compacts the journal when it is larger than this and pending requests are at
    // most `compact_max_pending_ratio` of the completed ones. After a compaction the threshold
    // becomes max(this, 2 x the compacted size), so a large seen set does not compact forever.
    bool auto_compact = true;
    std::uint64_t compact_threshold_bytes = std::uint64_t{64} << 20;
    double compact_max_pending_ratio = 0.25;
};

// Thread-safety: admit() may be called from one thread (the scheduler strand) while commit(),
// finish() and compact() are called from another (the pipeline writer); all members are safe to
// call concurrently. admit() only takes a short lock around appending to an in-memory buffer
// (and, when the buffer is full, one write(2) into the page cache). commit() holds that lock
// while writing its record, and does its fdatasync outside it, so admits are never blocked by a
// disk flush. commit/finish/compact are serialized among themselves.
//
// Errors: I/O failures throw std::system_error; after one, the journal refuses further work
// (std::runtime_error), since a crawl that cannot journal can no longer promise anything on
// resume. Corrupt or foreign journals throw std::runtime_error when opened or replayed.
class journal {
  public:
    // 3 adds the sessions' cookie jars (an older Harvest refuses it by its header rather than
    // stopping its replay at the first jar).
    static constexpr std::uint32_t format_version = 3;         // what this Harvest writes
    static constexpr std::uint32_t oldest_format_version = 1;  // the oldest it replays
    static constexpr std::string_view file_name = "journal.log";

    // Creates `dir` (mkdir -p) and locks it (<dir>/journal.lock; a second journal on the same
    // dir, in this or another process, throws std::runtime_error). resume = false: starts a fresh
    // journal, keeping the old one as journal.log.1. resume = true: replays the existing journal
    // (which must belong to `crawl_name`), truncates any torn or corrupt tail, and appends after
    // the valid prefix (first rewriting an older format version's journal in the current one);
    // the replayed state is available from take_recovered_state(). With no journal present,
    // resume = true starts a fresh one.
    journal(std::string dir, std::string crawl_name, bool resume, journal_options options = {});
    ~journal();
    journal(const journal&) = delete;
    journal& operator=(const journal&) = delete;

    // Records a logical request entering the frontier (a seed or a discovered link, not a
    // retry). Keyed by `request.fingerprint`: a fingerprint admitted twice is pending once (the
    // first admission wins), so with dedup off the caller must make fingerprints unique. The one
    // exception: admitting a pending request again with `breaker_failure_counted` set marks it
    // (the crawler does so on a request's first failure, so a resume keeps the mark).
    // A request too large for one record (256 MiB) throws std::length_error.
    void admit(const crawl_request& request);

    // One atomic checkpoint: these requests are completed for good, and the outputs are this
    // long. Writes the buffered admits and the commit record, then fdatasyncs. On replay the
    // commit is applied entirely or, if torn, not at all. With both spans empty it only makes
    // the buffered admits durable. May compact the journal afterwards (journal_options).
    void commit(std::span<const std::uint64_t> completed_fingerprints,
                std::span<const output_offset> offsets);

    // Records one session's cookie jar (cookie_jar::encode bytes), replacing the one saved
    // before; buffered like admit(), written at the next commit. Thread-safe like admit().
    void save_cookies(std::uint32_t session, std::string_view jar);

    // Records a clean end (all done, or a clean stop after draining) and fdatasyncs.
    void finish();

    // Rewrites the journal as header + completed fingerprints (packed) + pending admits + one
    // checkpoint with the completed count and output offsets, into a temp file that is synced
    // and renamed over the journal. Replay results are unchanged. Admits may continue meanwhile.
    void compact();

    // The state replayed when opened with resume = true (empty otherwise); moved out once.
    [[nodiscard]] journal_state take_recovered_state();

    [[nodiscard]] std::uint64_t size_bytes() const;
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

    // Rebuilds the state of the journal in `dir` without changing anything. No journal = a
    // fresh state (found = false). Throws std::runtime_error if the file is not a Harvest
    // journal, its header is corrupt, its format version is unknown, or (when
    // `expected_crawl_name` is not empty) it belongs to another crawl.
    [[nodiscard]] static journal_state replay(const std::string& dir,
                                              std::string_view expected_crawl_name = {});

  private:
    void write_buffer_locked();        // append_mutex_ held
    void check_usable_locked() const;  // append_mutex_ held
    void sync_fd(int fd) const;
    bool compaction_due_locked() const;
    void compact_locked();           // sync_mutex_ held
    void open_journal(bool resume);  // the constructor's work
    void create_fresh();

    std::string dir_;
    std::string path_;
    std::string crawl_name_;
    journal_options options_;

    // Order: sync_mutex_ before append_mutex_. sync_mutex_ serializes commit/finish/compact and
    // keeps fd_ stable while one of them syncs it; append_mutex_ guards the buffer and the file
    // tail. Both guard fd_ against replacement (compaction takes both to swap it).
    std::mutex sync_mutex_;
    mutable std::mutex append_mutex_;
    int fd_ = -1;
    int lock_fd_ = -1;  // flock on <dir>/journal.lock, held for the journal's lifetime
    std::string buffer_;
    std::uint64_t size_ = 0;  // bytes written to fd_ (buffer_ excluded)
    bool failed_ = false;
    // Estimates for the compaction trigger (pending = admitted - completed, both as recorded).
    std::uint64_t pending_estimate_ = 0;
    std::uint64_t completed_estimate_ = 0;
    std::uint64_t next_compact_at_ = 0;
    journal_state recovered_;
};

}  // namespace harvest::crawl
