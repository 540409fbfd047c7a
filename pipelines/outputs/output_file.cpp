#include "pipelines/outputs/output_file.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace harvest::pipelines {

void make_output_folder(const std::string& path) {
    const std::filesystem::path file_path(path);
    if (file_path.has_parent_path()) {
        std::error_code error;
        std::filesystem::create_directories(file_path.parent_path(), error);
        if (error) {
            throw std::runtime_error("cannot create the folder of output " + path + ": " +
                                     error.message());
        }
    }
}

output_file::output_file(std::string path, bool append, std::size_t buffer_size)
    : path_(std::move(path)) {
    make_output_folder(path_);
    file_ = std::fopen(path_.c_str(), append ? "ab" : "wb");
    if (file_ == nullptr) {
        throw std::runtime_error("cannot open output " + path_ + ": " + std::strerror(errno));
    }
    // Full buffering with a large buffer: one write(2) per buffer instead of per line.
    std::setvbuf(file_, nullptr, _IOFBF, buffer_size);
    if (append) {
        std::fseek(file_, 0, SEEK_END);
        flushed_size_ = static_cast<std::uint64_t>(std::ftell(file_));
    }
}

output_file::~output_file() {
    if (file_ != nullptr) {
        std::fclose(file_);
    }
}

void output_file::write(std::string_view bytes) {
    if (file_ == nullptr) {
        throw std::logic_error("write after close: " + path_);
    }
    if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
        throw std::system_error(errno, std::generic_category(), "writing " + path_);
    }
}

void output_file::flush() {
    if (file_ == nullptr) {
        return;
    }
    if (std::fflush(file_) != 0) {
        throw std::system_error(errno, std::generic_category(), "flushing " + path_);
    }
    flushed_size_ = static_cast<std::uint64_t>(std::ftell(file_));
}

void output_file::close() {
    if (file_ == nullptr) {
        return;
    }
    std::FILE* file = std::exchange(file_, nullptr);
    if (std::fclose(file) != 0) {
        throw std::system_error(errno, std::generic_category(), "closing " + path_);
    }
}

}  // namespace harvest::pipelines
