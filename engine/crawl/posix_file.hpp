#pragma once
// Small POSIX file helpers for the journal and the outputs it truncates on resume: errors as
// std::system_error carrying errno, loops that survive EINTR and short writes, and a windowed
// pread(2) reader that leaves the descriptor's file position alone. No buffering of writes, no
// locking: the caller owns the descriptor and its ordering.

#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace harvest::crawl::posix {

// The current errno as a std::system_error whose message is "<what> <path>".
[[nodiscard]] std::system_error io_error(const std::string& what, const std::string& path);

// Closes a descriptor on scope exit unless released.
class fd_guard {
  public:
    explicit fd_guard(int fd) noexcept : fd_(fd) {}
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    ~fd_guard();
    int release() noexcept { return std::exchange(fd_, -1); }
    [[nodiscard]] int get() const noexcept { return fd_; }

  private:
    int fd_;
};

// fstat's size. Throws std::system_error.
[[nodiscard]] std::uint64_t file_size(int fd, const std::string& path);

// write(2) until all of `data` is written (retrying EINTR and short writes). Throws
// std::system_error; part of the data may be written by then.
void write_all(int fd, const char* data, std::size_t size, const std::string& path);

// fsync of a directory, so that a rename or a creation inside it is durable.
void fsync_dir(const std::string& dir);

// Reads the first `limit` bytes of a file front to back through a window, with pread so the
// descriptor's write position is untouched (the journal appends through the same descriptor).
// `path` is for error messages and must outlive the reader.
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

    // Makes `n` bytes available at data(); false if the file (or the limit) ends first. Throws
    // std::system_error on a read error.
    bool ensure(std::size_t n);

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

}  // namespace harvest::crawl::posix

namespace harvest::crawl {

// Truncates an append-only output back to its committed length on resume, and syncs it. A
// missing file is fine when `bytes` is 0; a file shorter than `bytes` (or missing) means it was
// changed outside Harvest: throws std::runtime_error naming the file and both lengths.
void truncate_file(const std::string& path, std::uint64_t bytes);

}  // namespace harvest::crawl
