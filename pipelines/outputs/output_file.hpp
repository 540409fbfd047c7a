#pragma once
// The file of an append-only output (JSONL, CSV, and through JSONL the error stream): parent
// folders created, a large stdio buffer, truncated for a new run or appended to on resume, and
// the length it had at the last flush (what a resume may keep: the journal records it).

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace harvest::pipelines {

// Makes the folders of an output's `path` as needed (every file output: JSONL, CSV, SQLite).
// Throws std::runtime_error "cannot create the folder of output PATH: why" when it cannot.
void make_output_folder(const std::string& path);

class output_file {
  public:
    // Throws std::runtime_error naming `path` and the OS reason when the file or its folder
    // cannot be created. append: keep the file's content and write after it (resume).
    output_file(std::string path, bool append, std::size_t buffer_size);
    ~output_file();  // closes; errors have nowhere to go there, close() reports them
    output_file(const output_file&) = delete;
    output_file& operator=(const output_file&) = delete;

    // Throws std::system_error ("writing <path>") when the bytes do not all go in, and
    // std::logic_error after close().
    void write(std::string_view bytes);
    // Pushes the buffer to the file and records its length; nothing after close().
    void flush();
    // Flushes and closes; throws std::system_error when that fails. Idempotent.
    void close();

    bool is_open() const noexcept { return file_ != nullptr; }
    // Bytes in the file after the last flush (or at open when appending; 0 for a new file).
    std::uint64_t flushed_size() const noexcept { return flushed_size_; }
    const std::string& path() const noexcept { return path_; }

  private:
    std::string path_;
    std::FILE* file_ = nullptr;
    std::uint64_t flushed_size_ = 0;
};

}  // namespace harvest::pipelines
