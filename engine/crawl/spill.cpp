#include "engine/crawl/spill.hpp"

#include "engine/crawl/request_codec.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string_view>

namespace harvest::crawl {
namespace {

constexpr std::size_t malformed = std::numeric_limits<std::size_t>::max();
constexpr std::size_t small_string = 15;  // libstdc++'s in-place capacity

// What malloc hands out for a string's heap buffer: capacity + 1 plus glibc's 8-byte chunk
// header, rounded up to 16.
std::size_t heap_bytes(const std::string& text) noexcept {
    return text.capacity() > small_string ? (text.capacity() + 1 + 8 + 15) & ~std::size_t{15} : 0;
}

boost::system::error_code last_error() {
    return {errno, boost::system::system_category()};
}

}  // namespace

std::size_t estimate_request_bytes(const crawl_request& request) noexcept {
    std::size_t bytes = sizeof(crawl_request) + heap_bytes(request.http.method) +
                        heap_bytes(request.http.url) + heap_bytes(request.http.body) +
                        heap_bytes(request.idempotency_key) +
                        request.http.headers.capacity() * sizeof(request.http.headers[0]);
    for (const auto& [name, value] : request.http.headers) {
        bytes += heap_bytes(name) + heap_bytes(value);
    }
    return bytes;
}

void encode_spill_record(std::string& out, const crawl_request& request) {
    const std::size_t start = out.size();
    out.append(4, '\0');  // the payload's length, filled in below
    request_codec::encode(request, out);
    const std::size_t payload = out.size() - start - 4;
    if (payload > std::numeric_limits<std::uint32_t>::max()) {
        out.resize(start);
        throw std::length_error("spill: a request of " + std::to_string(payload) +
                                " bytes is too large for one record");
    }
    for (std::size_t i = 0; i < 4; ++i) {
        out[start + i] = static_cast<char>((payload >> (8 * i)) & 0xff);
    }
}

std::size_t decode_spill_record(const char* data, std::size_t size, crawl_request& out) {
    if (size < 4) {
        return 0;
    }
    std::size_t payload = 0;
    for (int i = 0; i < 4; ++i) {
        payload |= std::size_t{static_cast<unsigned char>(data[i])} << (8 * i);
    }
    if (size - 4 < payload) {
        return 0;
    }
    auto decoded = request_codec::decode(std::string_view(data + 4, payload));
    if (!decoded.ok()) {
        return malformed;
    }
    out = std::move(decoded.request);
    return 4 + payload;
}

spill_queue::spill_queue(std::filesystem::path dir, std::string stem, spill_limits limits)
    : dir_(std::move(dir)), stem_(std::move(stem)), limits_(limits) {}

spill_queue::~spill_queue() {
    drop_all_files();
}

std::filesystem::path spill_queue::segment_path(std::uint64_t segment) const {
    return dir_ / (stem_ + "." + std::to_string(segment));
}

std::size_t spill_queue::segments_on_disk() const noexcept {
    return static_cast<std::size_t>(write_segment_ - read_segment_) + (write_file_exists_ ? 1 : 0);
}

void spill_queue::drop_all_files() noexcept {
    for (auto segment = read_segment_; segment <= write_segment_; ++segment) {
        ::unlink(segment_path(segment).c_str());
    }
    read_segment_ = write_segment_ = write_segment_ + 1;
    read_offset_ = write_offset_ = 0;
    write_file_exists_ = false;
}

boost::system::error_code spill_queue::push(const crawl_request& request,
                                            std::vector<crawl_request>& unwritten) {
    const std::size_t before = write_buffer_.size();
    encode_spill_record(write_buffer_, request);
    ++buffered_records_;
    ++count_;
    bytes_ += write_buffer_.size() - before;
    if (write_buffer_.size() < limits_.write_buffer_bytes) {
        return {};
    }
    return flush(unwritten);
}

boost::system::error_code spill_queue::flush(std::vector<crawl_request>& unwritten) {
    if (write_buffer_.empty()) {
        return {};
    }
    const auto path = segment_path(write_segment_);
    boost::system::error_code error;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        error = last_error();
    } else {
        write_file_exists_ = true;
        std::size_t written = 0;
        while (written < write_buffer_.size()) {
            const auto n =
                ::write(fd, write_buffer_.data() + written, write_buffer_.size() - written);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                error = n < 0 ? last_error()
                              : boost::system::error_code(ENOSPC, boost::system::system_category());
                // A torn record at the end would be read back as garbage: cut it off.
                if (::ftruncate(fd, static_cast<off_t>(write_offset_)) != 0) {
                    error = last_error();
                }
                break;
            }
            written += static_cast<std::size_t>(n);
        }
        ::close(fd);
    }
    if (error) {
        // Hand the buffered requests back, in order: the caller keeps them in memory.
        std::size_t at = 0;
        while (at < write_buffer_.size()) {
            crawl_request request;
            const auto used =
                decode_spill_record(write_buffer_.data() + at, write_buffer_.size() - at, request);
            if (used == 0 || used == malformed) {
                break;  // cannot happen: the buffer holds only records encoded above
            }
            unwritten.push_back(std::move(request));
            at += used;
        }
        count_ -= buffered_records_;
        bytes_ -= write_buffer_.size();
        buffered_records_ = 0;
        write_buffer_.clear();
        return error;
    }
    write_offset_ += write_buffer_.size();
    buffered_records_ = 0;
    write_buffer_.clear();
    if (write_offset_ >= limits_.segment_bytes) {
        ++write_segment_;  // roll: a fully read segment is deleted, shrinking the spill
        write_offset_ = 0;
        write_file_exists_ = false;
    }
    return {};
}

boost::system::error_code spill_queue::pop_batch(std::deque<crawl_request>& out) {
    std::size_t taken = 0;
    std::string chunk;
    while (count_ > 0 && taken < limits_.read_batch_bytes) {
        const bool in_write_segment = read_segment_ == write_segment_;
        if (in_write_segment && (!write_file_exists_ || read_offset_ >= write_offset_)) {
            // Everything written has been read: the rest is still in the write buffer, taken
            // from there without a round trip through the file.
            if (write_file_exists_) {
                ::unlink(segment_path(write_segment_).c_str());
                write_file_exists_ = false;
                read_offset_ = write_offset_ = 0;
            }
            std::size_t at = 0;
            while (at < write_buffer_.size() && taken < limits_.read_batch_bytes) {
                crawl_request request;
                const auto used = decode_spill_record(write_buffer_.data() + at,
                                                      write_buffer_.size() - at, request);
                if (used == 0 || used == malformed) {
                    break;  // cannot happen: the buffer holds only records encoded here
                }
                out.push_back(std::move(request));
                at += used;
                taken += used;
                --count_;
                --buffered_records_;
                bytes_ -= used;
            }
            write_buffer_.erase(0, at);
            break;
        }
        // The write segment is read only up to what was flushed; an older one to its end.
        std::size_t want = std::max<std::size_t>(limits_.read_batch_bytes - taken, 4096);
        if (in_write_segment) {
            want = std::min<std::size_t>(want, write_offset_ - read_offset_);
        }
        boost::system::error_code error;
        const auto path = segment_path(read_segment_);
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        ssize_t got = -1;
        if (fd < 0) {
            error = last_error();
        } else {
            chunk.resize(want);
            got = ::pread(fd, chunk.data(), want, static_cast<off_t>(read_offset_));
            if (got >= 4) {
                std::uint32_t length = 0;
                for (int i = 0; i < 4; ++i) {
                    length |= static_cast<std::uint32_t>(static_cast<unsigned char>(chunk[i]))
                              << (8 * i);
                }
                if (std::size_t{length} + 4 > static_cast<std::size_t>(got)) {
                    // A record longer than the chunk: read it whole.
                    chunk.resize(std::size_t{length} + 4);
                    got = ::pread(fd, chunk.data(), chunk.size(), static_cast<off_t>(read_offset_));
                }
            }
            if (got < 0) {
                error = last_error();
            }
            ::close(fd);
        }
        if (!error && got == 0 && !in_write_segment) {
            // An older segment read to its end: deleted, so the disk use shrinks.
            ::unlink(path.c_str());
            ++read_segment_;
            read_offset_ = 0;
            continue;
        }
        std::size_t at = 0;
        const auto size = error ? 0 : static_cast<std::size_t>(got);
        while (at < size) {
            crawl_request request;
            const auto used = decode_spill_record(chunk.data() + at, size - at, request);
            if (used == 0) {
                break;  // the rest of that record is read next time
            }
            if (used == malformed) {
                error = boost::system::errc::make_error_code(
                    boost::system::errc::illegal_byte_sequence);
                break;
            }
            out.push_back(std::move(request));
            at += used;
            taken += used;
            --count_;
            bytes_ -= used;
        }
        read_offset_ += at;
        if (!error && at == 0) {
            // Nothing decodable where a record must start: a truncated or foreign file.
            error = boost::system::errc::make_error_code(boost::system::errc::io_error);
        }
        if (error) {
            // What is left on disk cannot be trusted or reached: drop it (counted), keep the
            // write buffer, so the crawl goes on and can end.
            const std::size_t on_disk = count_ - buffered_records_;
            lost_ += on_disk;
            count_ -= on_disk;
            bytes_ = write_buffer_.size();
            drop_all_files();
            return error;
        }
    }
    if (read_segment_ == write_segment_ && write_file_exists_ && read_offset_ >= write_offset_) {
        ::unlink(segment_path(write_segment_).c_str());  // read to its end: nothing kept on disk
        write_file_exists_ = false;
        read_offset_ = write_offset_ = 0;
    }
    return {};
}

}  // namespace harvest::crawl
