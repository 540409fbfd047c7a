#include "pipelines/outputs/output_file.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

namespace harvest::pipelines {

opened_file open_output_file(const std::string& path, bool append, std::size_t buffer_size) {
    const std::filesystem::path file_path(path);
    if (file_path.has_parent_path()) {
        std::error_code error;
        std::filesystem::create_directories(file_path.parent_path(), error);
        if (error) {
            throw std::runtime_error("cannot create the folder of output " + path + ": " +
                                     error.message());
        }
    }
    opened_file out;
    out.file = std::fopen(path.c_str(), append ? "ab" : "wb");
    if (out.file == nullptr) {
        throw std::runtime_error("cannot open output " + path + ": " + std::strerror(errno));
    }
    // Full buffering with a large buffer: one write(2) per buffer instead of per line.
    std::setvbuf(out.file, nullptr, _IOFBF, buffer_size);
    if (append) {
        std::fseek(out.file, 0, SEEK_END);
        out.size = static_cast<std::uint64_t>(std::ftell(out.file));
    }
    return out;
}

}  // namespace harvest::pipelines
