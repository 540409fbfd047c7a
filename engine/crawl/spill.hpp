#pragma once
// The frontier's overflow to disk (engine.frontier_memory): one FIFO of requests per host, kept
// in segment files under the crawl's state dir (`<state dir>/spill/`).
//
// The files are scratch, not a durable record: the journal is what --resume reads. A
// segment is appended to in buffered blocks and read back sequentially in bounded batches;
// once read to its end it is deleted, so disk use shrinks as the crawl drains.
//
// Threading: like the frontier that owns it, nothing here is synchronized. No file descriptor
// is held between calls (each flush or read opens, works and closes), so thousands of
// spilling hosts stay far from the process's open-file limit.

#include "engine/crawl/request.hpp"

#include <boost/system/error_code.hpp>

#include <cstdint>
#include <deque>
#include <filesystem>
#include <string>
#include <vector>

namespace harvest::crawl {

// A cheap estimate of the heap and inline bytes one queued request holds: sizeof plus the
// malloc chunks of its strings (those beyond the small-string buffer) and header entries. It
// leaves out the deque's block bookkeeping (a pointer per 512 bytes of requests).
std::size_t estimate_request_bytes(const crawl_request& request) noexcept;

// The length-prefixed record of one request: u32 length (little-endian) of the payload, then the
// request as request_codec encodes it (every field, attempt and backoff included). Spill files
// are scratch of one run (the frontier removes a previous run's), so their format may change
// between releases without a reader for the old one. Throws std::length_error (appending
// nothing) for a request whose encoding exceeds 4 GiB.
void encode_spill_record(std::string& out, const crawl_request& request);
// Decodes the record at `data[0, size)`. Returns the bytes it took (length prefix included),
// 0 when the record is not complete yet (read more), or size_t(-1) when it is malformed.
std::size_t decode_spill_record(const char* data, std::size_t size, crawl_request& out);

struct spill_limits {
    std::size_t write_buffer_bytes = std::size_t{16} << 10;  // appended to disk in blocks of this
    std::size_t read_batch_bytes = std::size_t{32} << 10;    // one refill reads at most this
    std::uint64_t segment_bytes = std::uint64_t{64} << 20;   // then the next segment starts
};

class spill_queue {
  public:
    // Files are `<dir>/<stem>.<segment number>`; `dir` must exist when the first block is
    // written.
    spill_queue(std::filesystem::path dir, std::string stem, spill_limits limits = {});
    ~spill_queue();
    spill_queue(const spill_queue&) = delete;
    spill_queue& operator=(const spill_queue&) = delete;

    // Appends one request behind the others. The record is buffered; a full buffer is written
    // out. When that write fails, the error is returned and the requests that were only in the
    // buffer are moved to `unwritten` (in order): they are no longer in this queue.
    [[nodiscard]] boost::system::error_code push(const crawl_request& request,
                                                 std::vector<crawl_request>& unwritten);

    // Moves the next requests, in order, to the back of `out`: at least one when the queue is
    // not empty, at most about read_batch_bytes of records. A read error is returned; the
    // requests that could not be read are dropped (counted in lost()) so the queue cannot
    // hold a crawl open forever.
    [[nodiscard]] boost::system::error_code pop_batch(std::deque<crawl_request>& out);

    std::size_t size() const noexcept { return count_; }
    bool empty() const noexcept { return count_ == 0; }
    // Bytes of records on disk or in the write buffer and not read back yet.
    std::uint64_t bytes() const noexcept { return bytes_; }
    std::uint64_t lost() const noexcept { return lost_; }
    // Files currently on disk (for tests and the bench).
    std::size_t segments_on_disk() const noexcept;

  private:
    std::filesystem::path segment_path(std::uint64_t segment) const;
    boost::system::error_code flush(std::vector<crawl_request>& unwritten);
    void drop_all_files() noexcept;

    std::filesystem::path dir_;
    std::string stem_;
    spill_limits limits_;
    std::string write_buffer_;
    std::size_t buffered_records_ = 0;
    std::uint64_t write_segment_ = 0;  // appended to
    std::uint64_t write_offset_ = 0;   // bytes in the write segment's file
    std::uint64_t read_segment_ = 0;   // read from; <= write_segment_
    std::uint64_t read_offset_ = 0;
    bool write_file_exists_ = false;
    std::size_t count_ = 0;
    std::uint64_t bytes_ = 0;
    std::uint64_t lost_ = 0;
};

}  // namespace harvest::crawl
