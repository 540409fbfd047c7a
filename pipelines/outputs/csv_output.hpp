#pragma once
// CSV (RFC 4180): a header row, then one row per item, CRLF after every row, UTF-8.
// (docs/items.md, docs/config.md `outputs`)
//
// Columns: `columns` as configured, in that order. The config requires them for csv; when the
// list is empty anyway (a library user), the first item's keys, in item order, become the
// columns and the header is written with that item. Later items are written against those
// columns: a field the columns do not name is left out, a column the item lacks is empty.
//
// Values: strings as they are (invalid UTF-8 bytes become U+FFFD, like the JSONL writer);
// numbers as the JSONL writer writes them ("19.99", "1e+21", integers exactly); booleans
// `true`/`false`; objects and arrays as compact JSON; null, NaN and infinities as an empty
// field. An empty string is written `""`, so a reader can tell it from null the way
// PostgreSQL's COPY ... CSV does. A field is quoted when it holds `,` `"` CR or LF, or is the
// empty string; quotes inside are doubled. No other quoting: a field's bytes are its value.
// (Spreadsheet formula escaping of `=`, `+`, `-`, `@` is deliberately not done: it would change
// the data, and this file is for programs.)
//
// Like jsonl_output: a new run truncates the file, missing parent folders are created, writes go
// through a 1 MiB stdio buffer (a row reaches the file when the buffer fills, on flush() and on
// close()). Not thread-safe; the sink's one writer calls it.

#include "pipelines/outputs/output.hpp"
#include "pipelines/outputs/output_file.hpp"

#include <string>
#include <vector>

namespace harvest::pipelines {

class csv_output final : public output {
  public:
    // Writes the header at once when `columns` is not empty. Throws std::runtime_error naming
    // `path` and the OS reason when the file cannot be created.
    // append: keep the file's content (header included) and write after it (resume).
    csv_output(std::string path, std::vector<std::string> columns, bool append = false);
    csv_output(const csv_output&) = delete;
    csv_output& operator=(const csv_output&) = delete;

    std::string_view name() const override { return name_; }
    void write(const item& value) override;
    void flush() override;
    std::optional<std::uint64_t> flushed_size() const override { return file_.flushed_size(); }
    void close() override;

    const std::string& path() const noexcept { return file_.path(); }
    // The columns in effect: empty until the first item when none were configured.
    const std::vector<std::string>& columns() const noexcept { return columns_; }

    static constexpr std::size_t buffer_size = 1 << 20;

  private:
    void write_header();
    void write_line();

    std::string name_;
    output_file file_;
    std::vector<std::string> columns_;
    bool header_written_ = false;
    std::string line_;  // reused: a row allocates only while rows keep growing
    std::string json_;  // reused scratch for nested values
};

// Appends `text` to `out` as one RFC 4180 field: quoted when it holds `,` `"` CR or LF or is
// empty, inner quotes doubled. Invalid UTF-8 bytes become U+FFFD.
void append_csv_field(std::string& out, std::string_view text);

}  // namespace harvest::pipelines
