#pragma once
// SQLite: one table of items in a database file (docs/config.md `outputs`).
//
// Schema. `table` (default "items") holds:
//   - the `key` field's column, TEXT PRIMARY KEY NOT NULL, when `key` is set;
//   - `data`: the whole item as compact JSON (append_json), the exact record;
//   - `updated_at`: RFC 3339 UTC time (ms) the row was last written;
//   - one column per top-level field seen, added with ALTER TABLE the first time the field has
//     a non-null value, declared by that value's type: integers and booleans INTEGER (0/1),
//     doubles REAL, strings and nested values (compact JSON) TEXT. Values are bound with their
//     own type; SQLite's column affinity then applies (an integer written later into a TEXT
//     column is stored as text). `data` always holds the value as extracted.
// A field named `data` or `updated_at` (any case), a field name that is empty, longer than 255
// bytes, not UTF-8 or holding control characters, and fields beyond the first
// `max_field_columns`, get no column of their own: they are in `data` only. SQLite column names
// ignore ASCII case, so fields `Price` and `price` share the first one's column.
//
// Writes. With `key`: INSERT ... ON CONFLICT(key) DO UPDATE, so a re-scrape of the same key
// replaces the row (every column: a field the new item lacks becomes NULL) and never duplicates
// it. The key value is stored as text: "42" and 42 are the same key. An item whose key field is
// missing, null, a boolean, an object or an array is not written: write() throws
// std::invalid_argument (the sink counts it as failed) rather than inserting a row no later
// re-scrape could ever update. Without `key`: plain INSERTs, one row per item.
//
// Transactions. Writes are batched: BEGIN IMMEDIATE at the first write, COMMIT after
// `batch_items` writes, on flush() and on close(). A failed write leaves the batch's other
// items in place, unless SQLite rolled the whole transaction back (disk full, I/O error): then
// the error says how many uncommitted items were lost. The database runs in WAL mode with
// synchronous=NORMAL (a commit survives a process crash; a power cut may lose the last ones),
// so readers see committed batches while the crawl writes.
//
// Re-runs. An existing database and table are kept: a new run upserts into (with `key`) or
// appends to (without) the rows already there, and reuses their columns. A table that exists
// without `data`/`updated_at`, or whose primary key is not `key`, is refused at open.
//
// Thread-safety: none; the sink's one writer calls it (the connection is opened NOMUTEX and may
// be used from different threads one after another).

#include "pipelines/outputs/output.hpp"

#include <cstddef>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace harvest::pipelines {

class sqlite_output final : public output {
  public:
    static constexpr std::size_t default_batch_items = 500;
    static constexpr std::size_t max_field_columns = 1000;  // SQLite's default limit is 2000
    static constexpr const char* default_table = "items";

    // Opens (creating) the database at `path` and the table. `table` empty = "items"; `key`
    // empty = plain inserts. Throws std::invalid_argument for an unusable table or key name,
    // std::runtime_error naming `path` and the reason when the database cannot be opened or
    // its table does not fit the schema above.
    sqlite_output(std::string path, std::string table, std::string key,
                  std::size_t batch_items = default_batch_items);
    ~sqlite_output() override;
    sqlite_output(const sqlite_output&) = delete;
    sqlite_output& operator=(const sqlite_output&) = delete;

    std::string_view name() const override { return name_; }
    // Throws std::invalid_argument for an item without a usable key, std::system_error (the
    // category "sqlite", SQLite's result code) when SQLite fails.
    void write(const item& value) override;
    // Commits the open batch.
    void flush() override;
    // Commits, finalizes and closes the database. Idempotent.
    void close() override;

    const std::string& path() const noexcept { return path_; }
    const std::string& table() const noexcept { return table_; }
    const std::string& key() const noexcept { return key_; }
    // The field columns the table has now (the key column included), in table order.
    std::vector<std::string> field_columns() const;

  private:
    struct statement_deleter {
        void operator()(sqlite3_stmt* statement) const noexcept;
    };
    struct database_deleter {
        void operator()(sqlite3* database) const noexcept;
    };
    using statement_ptr = std::unique_ptr<sqlite3_stmt, statement_deleter>;

    void execute(const std::string& sql, const char* what);
    statement_ptr prepare(const std::string& sql, const char* what);
    [[noreturn]] void fail(int code, const std::string& what);
    void load_columns();
    void begin();
    void commit();
    void after_failure(std::string& message);
    sqlite3_stmt* upsert_statement(const std::string& cache_key);

    std::string path_;
    std::string table_;
    std::string key_;
    std::string folded_key_;
    std::string name_;
    std::size_t batch_items_;
    // Declared first: destroyed last, after every statement of it is finalized.
    std::unique_ptr<sqlite3, database_deleter> database_;
    statement_ptr begin_;
    statement_ptr commit_;
    // Field columns by ASCII-lowercased name -> the name as declared.
    std::unordered_map<std::string, std::string> columns_;
    std::vector<std::string> column_order_;
    // Prepared INSERTs by the names of the columns they bind ('\0'-separated); dropped
    // whenever a column is added, since each names every column in its DO UPDATE SET.
    std::unordered_map<std::string, statement_ptr> upserts_;
    bool in_transaction_ = false;
    std::size_t pending_ = 0;  // items written in the open transaction
    // Reused per write: the item's JSON, and the text of nested or key values being bound.
    std::string data_;
    std::vector<std::string> texts_;
    std::string cache_key_;
};

}  // namespace harvest::pipelines
