#pragma once
// JSON Lines: one compact JSON object per line, UTF-8, `\n`-terminated, keys in extraction
// order (docs/items.md).
//
// A new run truncates the file (resume, which will truncate to the last committed offset
// instead, comes later). Missing parent folders are created. Writes go through a 1 MiB stdio
// buffer: a line reaches the file when the buffer fills, on flush() and on close().

#include "pipelines/outputs/output.hpp"
#include "pipelines/outputs/output_file.hpp"

#include <string>

namespace harvest::pipelines {

class jsonl_output final : public output {
  public:
    // Throws std::runtime_error naming `path` and the OS reason when it cannot be created.
    // append: keep the file's content and write after it (resume).
    explicit jsonl_output(std::string path, bool append = false);
    jsonl_output(const jsonl_output&) = delete;
    jsonl_output& operator=(const jsonl_output&) = delete;

    std::string_view name() const override { return name_; }
    void write(const item& value) override;
    bool writes_json_lines() const noexcept override { return true; }
    void write_json_lines(std::string_view lines, std::size_t count) override;
    void flush() override;
    void close() override;
    std::optional<std::uint64_t> flushed_size() const override { return file_.flushed_size(); }

    const std::string& path() const noexcept { return file_.path(); }

    static constexpr std::size_t buffer_size = 1 << 20;

  private:
    std::string name_;
    output_file file_;
    std::string line_;  // reused: serializing allocates only while lines keep growing
};

}  // namespace harvest::pipelines
