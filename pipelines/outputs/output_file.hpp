#pragma once
// Opening the file of an append-only output (JSONL, CSV, the error stream): parent folders
// created, a large stdio buffer, truncated for a new run or appended to on resume.

#include <cstdint>
#include <cstdio>
#include <string>

namespace harvest::pipelines {

struct opened_file {
    std::FILE* file = nullptr;
    std::uint64_t size = 0;  // bytes already in the file (0 unless appending)
};

// Throws std::runtime_error naming the path and the OS reason.
opened_file open_output_file(const std::string& path, bool append, std::size_t buffer_size);

}  // namespace harvest::pipelines
