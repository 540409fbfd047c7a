#include "engine/crawl/posix_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace harvest::crawl::posix {

std::system_error io_error(const std::string& what, const std::string& path) {
    return {errno, std::generic_category(), what + " " + path};
}

fd_guard::~fd_guard() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
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

bool file_reader::ensure(std::size_t n) {
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
        // A chunk at a time, but no more than what is left: replaying a small journal (most
        // of them) allocates and clears a few KiB, not a MiB.
        const auto rest = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_bytes, left()));
        buffer_.resize(std::max(n, rest));
    }
    while (end_ < n) {
        const std::uint64_t read_at = offset_ + end_;
        const std::size_t want = static_cast<std::size_t>(
            std::min<std::uint64_t>(buffer_.size() - end_, limit_ - read_at));
        const ssize_t got = ::pread(fd_, buffer_.data() + end_, want, static_cast<off_t>(read_at));
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

}  // namespace harvest::crawl::posix

namespace harvest::crawl {

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
        throw posix::io_error("cannot stat output", path);
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
    posix::fd_guard fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        throw posix::io_error("cannot open output", path);
    }
    if (::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0) {
        throw posix::io_error("cannot truncate output", path);
    }
    // Durable before new items are appended after the cut.
    if (::fsync(fd.get()) != 0) {
        throw posix::io_error("cannot sync output", path);
    }
}

}  // namespace harvest::crawl
