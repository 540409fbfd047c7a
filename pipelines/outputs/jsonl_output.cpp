#include "pipelines/outputs/jsonl_output.hpp"

#include "pipelines/outputs/output_file.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace harvest::pipelines {

jsonl_output::jsonl_output(std::string path, bool append)
    : path_(std::move(path)), name_("jsonl:" + path_) {
    const opened_file opened = open_output_file(path_, append, buffer_size);
    file_ = opened.file;
    flushed_size_ = opened.size;
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
    if (file_ == nullptr) {
        return;
    }
    if (std::fflush(file_) != 0) {
        throw std::system_error(errno, std::generic_category(), "flushing " + path_);
    }
    flushed_size_ = static_cast<std::uint64_t>(std::ftell(file_));
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
