#include "pipelines/outputs/jsonl_output.hpp"


#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace harvest::pipelines {

jsonl_output::jsonl_output(std::string path) : path_(std::move(path)), name_("jsonl:" + path_) {
    const std::filesystem::path file_path(path_);
    if (file_path.has_parent_path()) {
        std::error_code error;
        std::filesystem::create_directories(file_path.parent_path(), error);
        if (error) {
            throw std::runtime_error("cannot create the folder of output " + path_ + ": " +
                                     error.message());
        }
    }
    file_ = std::fopen(path_.c_str(), "wb");
    if (file_ == nullptr) {
        throw std::runtime_error("cannot open output " + path_ + ": " + std::strerror(errno));
    }
    // Full buffering with a large buffer: one write(2) per MiB instead of per line.
    std::setvbuf(file_, nullptr, _IOFBF, buffer_size);
}

jsonl_output::~jsonl_output() {
    if (file_ != nullptr) {
        std::fclose(file_);  // errors here have nowhere to go; close() reports them
    }
}

void jsonl_output::write(const item& value) {
    if (file_ == nullptr) {
        throw std::logic_error("jsonl_output::write after close: " + path_);
    }
    line_.clear();
    append_json(line_, value);
    line_.push_back('\n');
    if (std::fwrite(line_.data(), 1, line_.size(), file_) != line_.size()) {
        throw std::system_error(errno, std::generic_category(), "writing " + path_);
    }
}

void jsonl_output::flush() {
    if (file_ != nullptr && std::fflush(file_) != 0) {
        throw std::system_error(errno, std::generic_category(), "flushing " + path_);
    }
}

void jsonl_output::close() {
    if (file_ == nullptr) {
        return;
    }
    std::FILE* file = std::exchange(file_, nullptr);
    if (std::fclose(file) != 0) {
        throw std::system_error(errno, std::generic_category(), "closing " + path_);
    }
}

}  // namespace harvest::pipelines
