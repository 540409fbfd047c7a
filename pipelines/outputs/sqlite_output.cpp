#include "pipelines/outputs/sqlite_output.hpp"

#include "engine/core/text.hpp"
#include "pipelines/outputs/output_file.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace harvest::pipelines {

namespace {

class sqlite_category_impl final : public std::error_category {
  public:
    const char* name() const noexcept override { return "sqlite"; }
    std::string message(int code) const override { return sqlite3_errstr(code); }
};

const std::error_category& sqlite_category() {
    static const sqlite_category_impl category;
    return category;
}

// Names quoted with "" escaping are safe whatever they hold, except NUL (it would end the SQL
// text); the rest of these limits keep the schema readable and the names portable.
bool usable_name(std::string_view name) {
    if (name.empty() || name.size() > 255 || !core::is_valid_utf8(name)) {
        return false;
    }
    for (const char c : name) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7F) {
            return false;
        }
    }
    return true;
}

bool reserved_column(std::string_view folded) {
    return folded == "data" || folded == "updated_at";
}

std::string quote(std::string_view name) {
    std::string quoted;
    quoted.reserve(name.size() + 2);
    quoted.push_back('"');
    for (const char c : name) {
        if (c == '"') {
            quoted.push_back('"');
        }
        quoted.push_back(c);
    }
    quoted.push_back('"');
    return quoted;
}

const char* declared_type(const boost::json::value& value) {
    switch (value.kind()) {
        case boost::json::kind::bool_:
        case boost::json::kind::int64:
        case boost::json::kind::uint64:
            return "INTEGER";
        case boost::json::kind::double_:
            return "REAL";
        default:
            return "TEXT";
    }
}

}  // namespace

void sqlite_output::statement_deleter::operator()(sqlite3_stmt* statement) const noexcept {
    sqlite3_finalize(statement);
}

void sqlite_output::database_deleter::operator()(sqlite3* database) const noexcept {
    sqlite3_close_v2(database);  // _v2: never leaves the handle open if a statement is alive
}

sqlite_output::sqlite_output(std::string path, std::string table, std::string key,
                             std::size_t batch_items)
    : path_(std::move(path)),
      table_(table.empty() ? std::string(default_table) : std::move(table)),
      key_(std::move(key)),
      folded_key_(core::ascii_lowered(key_)),
      name_("sqlite:" + path_ + "#" + table_),
      batch_items_(batch_items == 0 ? 1 : batch_items) {
    if (!usable_name(table_) || core::ascii_lowered(table_).rfind("sqlite_", 0) == 0) {
        throw std::invalid_argument("sqlite output " + path_ + ": unusable table name `" + table_ +
                                    "` (1-255 bytes of UTF-8 without control characters, not "
                                    "starting with sqlite_)");
    }
    if (!key_.empty() && (!usable_name(key_) || reserved_column(folded_key_))) {
        throw std::invalid_argument("sqlite output " + path_ + ": unusable key `" + key_ +
                                    "` (1-255 bytes of UTF-8 without control characters, not "
                                    "`data` or `updated_at`)");
    }
    make_output_folder(path_);
    sqlite3* raw = nullptr;
    const int opened =
        sqlite3_open_v2(path_.c_str(), &raw,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    database_.reset(raw);  // a handle comes back even on failure, to be closed
    // SQLite opens the file lazily: the first statement, the journal mode, is what really
    // opens it, so it reports "cannot open" the same way.
    try {
        if (opened != SQLITE_OK) {
            fail(opened, "opening");
        }
        // Another process reading the database (a dashboard, sqlite3) may hold a lock briefly.
        sqlite3_busy_timeout(database_.get(), 5000);
        const auto journal = prepare("PRAGMA journal_mode=WAL", "setting WAL mode");
        const int stepped = sqlite3_step(journal.get());
        if (stepped != SQLITE_ROW) {
            fail(stepped, "setting WAL mode");
        }
        const auto* mode = reinterpret_cast<const char*>(sqlite3_column_text(journal.get(), 0));
        if (mode == nullptr || core::ascii_lowered(mode) != "wal") {
            throw std::runtime_error("journal mode is " + std::string(mode ? mode : "unknown") +
                                     ", not wal");
        }
    } catch (const std::exception& error) {
        const int system_errno = database_ ? sqlite3_system_errno(database_.get()) : 0;
        std::string message = "cannot open output " + path_ + ": " + error.what();
        if (system_errno != 0) {
            message += " (" + std::string(std::strerror(system_errno)) + ")";
        }
        database_.reset();
        throw std::runtime_error(message);
    }
    try {
        execute("PRAGMA synchronous=NORMAL", "setting synchronous=NORMAL");
        std::string create = "CREATE TABLE IF NOT EXISTS " + quote(table_) + " (";
        if (!key_.empty()) {
            create += quote(key_) + " TEXT PRIMARY KEY NOT NULL, ";
        }
        create += "\"data\" TEXT NOT NULL, \"updated_at\" TEXT NOT NULL)";
        execute(create, "creating the table");
        load_columns();
        begin_ = prepare("BEGIN IMMEDIATE", "preparing BEGIN");
        commit_ = prepare("COMMIT", "preparing COMMIT");
    } catch (const std::runtime_error& error) {  // SQLite's errors and a misfit table
        throw std::runtime_error("cannot open output " + path_ + ": " + error.what());
    }
}

sqlite_output::~sqlite_output() {
    try {
        close();
    } catch (const std::exception&) {
        // Nowhere to report it from a destructor; close() reports it to callers that ask.
    }
}

[[noreturn]] void sqlite_output::fail(int code, const std::string& what) {
    std::string message = what + " " + name_;
    if (database_) {
        // system_error adds sqlite3_errstr(code); the connection's message only when it says
        // more (a constraint's name, a column, a file).
        const std::string detail = sqlite3_errmsg(database_.get());
        if (detail != sqlite3_errstr(code)) {
            message += ": " + detail;
        }
        after_failure(message);
    }
    throw std::system_error(code, sqlite_category(), message);
}

void sqlite_output::execute(const std::string& sql, const char* what) {
    const int code = sqlite3_exec(database_.get(), sql.c_str(), nullptr, nullptr, nullptr);
    if (code != SQLITE_OK) {
        fail(code, what);
    }
}

sqlite_output::statement_ptr sqlite_output::prepare(const std::string& sql, const char* what) {
    sqlite3_stmt* raw = nullptr;
    const int code = sqlite3_prepare_v3(database_.get(), sql.data(), static_cast<int>(sql.size()),
                                        SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    statement_ptr statement(raw);
    if (code != SQLITE_OK) {
        fail(code, what);
    }
    return statement;
}

void sqlite_output::load_columns() {
    columns_.clear();
    column_order_.clear();
    upserts_.clear();
    const auto info = prepare("PRAGMA table_info(" + quote(table_) + ")", "reading the columns");
    bool has_data = false;
    bool has_updated_at = false;
    bool key_is_primary = key_.empty();
    int primary_columns = 0;
    int code = SQLITE_OK;
    while ((code = sqlite3_step(info.get())) == SQLITE_ROW) {
        const auto* name_text = reinterpret_cast<const char*>(sqlite3_column_text(info.get(), 1));
        const std::string name = name_text != nullptr ? name_text : "";
        const std::string folded = core::ascii_lowered(name);
        const int primary = sqlite3_column_int(info.get(), 5);
        if (primary != 0) {
            ++primary_columns;
        }
        if (folded == "data") {
            has_data = true;
        } else if (folded == "updated_at") {
            has_updated_at = true;
        } else {
            if (!key_.empty() && folded == folded_key_ && primary != 0) {
                key_is_primary = true;
            }
            columns_.emplace(folded, name);
            column_order_.push_back(name);
        }
    }
    if (code != SQLITE_DONE) {
        fail(code, "reading the columns of");
    }
    if (!has_data || !has_updated_at) {
        throw std::runtime_error("table " + table_ +
                                 " exists without the columns data and "
                                 "updated_at");
    }
    if (!key_.empty() && (!key_is_primary || primary_columns != 1)) {
        throw std::runtime_error("table " + table_ + " exists, and its primary key is not " + key_ +
                                 " alone");
    }
}

std::vector<std::string> sqlite_output::field_columns() const {
    return column_order_;
}

void sqlite_output::begin() {
    const int code = sqlite3_step(begin_.get());
    sqlite3_reset(begin_.get());
    if (code != SQLITE_DONE) {
        fail(code, "beginning a transaction in");
    }
    in_transaction_ = true;
    pending_ = 0;
}

void sqlite_output::commit() {
    if (!in_transaction_) {
        return;
    }
    const int code = sqlite3_step(commit_.get());
    sqlite3_reset(commit_.get());
    if (code == SQLITE_DONE) {
        in_transaction_ = false;
        pending_ = 0;
        return;
    }
    std::string message = "committing " + std::to_string(pending_) + " items to " + name_ + ": " +
                          sqlite3_errmsg(database_.get());
    // A COMMIT that failed with the transaction still open (busy) would leave every later
    // write in it; roll back so the next write starts clean, and say what was lost.
    if (sqlite3_get_autocommit(database_.get()) == 0) {
        sqlite3_exec(database_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
    after_failure(message);
    throw std::system_error(code, sqlite_category(), message);
}

// After an error: if SQLite rolled the transaction back, the batch's items and any columns it
// added are gone. Forget them, re-read the columns, and say so in `message`.
void sqlite_output::after_failure(std::string& message) {
    if (in_transaction_ && sqlite3_get_autocommit(database_.get()) != 0) {
        message += " (the transaction was rolled back: " + std::to_string(pending_) +
                   " uncommitted items were lost)";
        in_transaction_ = false;
        pending_ = 0;
        try {
            load_columns();
        } catch (const std::exception&) {
            // The error being reported matters more; the next write fails again if need be.
        }
    }
}

sqlite3_stmt* sqlite_output::upsert_statement(const std::string& cache_key) {
    const auto found = upserts_.find(cache_key);
    if (found != upserts_.end()) {
        return found->second.get();
    }
    // Bounded: items of a crawl come in few shapes; an unusual one costs a re-prepare.
    if (upserts_.size() >= 64) {
        upserts_.clear();
    }
    std::string sql = "INSERT INTO " + quote(table_) + " (\"data\", \"updated_at\"";
    std::string values = "?1, ?2";
    int index = 3;
    std::size_t start = 0;
    while (start < cache_key.size()) {
        const std::size_t end = std::min(cache_key.find('\0', start), cache_key.size());
        sql += ", " + quote(std::string_view(cache_key).substr(start, end - start));
        values += ", ?" + std::to_string(index++);
        start = end + 1;
    }
    sql += ") VALUES (" + values + ")";
    if (!key_.empty()) {
        // Every column, not only this item's: `excluded` holds NULL for the ones it lacks, so
        // the row becomes the latest item, with no stale field left from an older scrape.
        sql += " ON CONFLICT(" + quote(columns_.at(folded_key_)) +
               ") DO UPDATE SET \"data\" = excluded.\"data\", \"updated_at\" = "
               "excluded.\"updated_at\"";
        for (const auto& column : column_order_) {
            if (core::ascii_lowered(column) != folded_key_) {
                sql += ", " + quote(column) + " = excluded." + quote(column);
            }
        }
    }
    auto statement = prepare(sql, "preparing an insert into");
    sqlite3_stmt* raw = statement.get();
    upserts_.emplace(cache_key, std::move(statement));
    return raw;
}

void sqlite_output::write(const item& value) {
    if (!database_) {
        throw std::logic_error("sqlite_output::write after close: " + name_);
    }
    std::string key_text;
    if (!key_.empty()) {
        const auto found = value.find(key_);
        if (found == value.end() || found->value().is_null()) {
            throw std::invalid_argument("item without " + key_ + " not written to " + name_);
        }
        const auto& key_value = found->value();
        switch (key_value.kind()) {
            case boost::json::kind::string:
                core::append_valid_utf8(key_text, key_value.get_string());
                break;
            case boost::json::kind::int64:
                append_integer(key_text, key_value.get_int64());
                break;
            case boost::json::kind::uint64:
                append_integer(key_text, key_value.get_uint64());
                break;
            case boost::json::kind::double_:
                if (!std::isfinite(key_value.get_double())) {
                    throw std::invalid_argument("item with a non-finite " + key_ +
                                                " not written to " + name_);
                }
                key_text = format_double(key_value.get_double());
                break;
            default:
                throw std::invalid_argument("item whose " + key_ +
                                            " is not a string or a number not written to " + name_);
        }
    }

    if (!in_transaction_) {
        begin();
    }
    // The columns this item binds, in item order; each (folded) column at most once.
    struct binding {
        const std::string* column;
        const boost::json::value* value;
    };
    std::vector<binding> bindings;  // small; an item has a handful of fields
    bindings.reserve(value.size());
    cache_key_.clear();
    for (const auto& entry : value) {
        if (entry.value().is_null()) {
            continue;  // a missing column is NULL already
        }
        const std::string_view field = entry.key();
        std::string folded = core::ascii_lowered(field);
        if (reserved_column(folded) || !usable_name(field)) {
            continue;
        }
        auto column = columns_.find(folded);
        if (column == columns_.end()) {
            if (columns_.size() >= max_field_columns) {
                continue;
            }
            const std::string name(field);
            execute("ALTER TABLE " + quote(table_) + " ADD COLUMN " + quote(name) + " " +
                        declared_type(entry.value()),
                    "adding a column to");
            column = columns_.emplace(folded, name).first;
            column_order_.push_back(name);
            upserts_.clear();  // their DO UPDATE SET lists lack the new column
        }
        bool seen = false;
        for (const auto& bound : bindings) {
            seen = seen || bound.column == &column->second;
        }
        if (seen) {
            continue;  // `Price` after `price`: one column, the first field's value
        }
        bindings.push_back(binding{&column->second, &entry.value()});
        cache_key_ += column->second;
        cache_key_.push_back('\0');
    }
    if (!cache_key_.empty()) {
        cache_key_.pop_back();
    }
    sqlite3_stmt* statement = upsert_statement(cache_key_);

    data_.clear();
    append_json(data_, value);
    const std::string updated_at = format_rfc3339_ms(std::chrono::system_clock::now());
    // Texts must outlive sqlite3_step (SQLITE_STATIC): keep them in texts_, sized up front
    // so no reallocation moves a string already bound.
    texts_.resize(std::max(texts_.size(), bindings.size()));
    sqlite3_bind_text(statement, 1, data_.data(), static_cast<int>(data_.size()), SQLITE_STATIC);
    sqlite3_bind_text(statement, 2, updated_at.data(), static_cast<int>(updated_at.size()),
                      SQLITE_STATIC);
    for (std::size_t i = 0; i < bindings.size(); ++i) {
        const int index = static_cast<int>(i) + 3;
        const auto& field = *bindings[i].value;
        std::string& text = texts_[i];
        text.clear();
        if (!key_.empty() && core::ascii_lowered(*bindings[i].column) == folded_key_) {
            text = key_text;
            sqlite3_bind_text(statement, index, text.data(), static_cast<int>(text.size()),
                              SQLITE_STATIC);
            continue;
        }
        switch (field.kind()) {
            case boost::json::kind::null:
                sqlite3_bind_null(statement, index);
                break;
            case boost::json::kind::bool_:
                sqlite3_bind_int(statement, index, field.get_bool() ? 1 : 0);
                break;
            case boost::json::kind::int64:
                sqlite3_bind_int64(statement, index, field.get_int64());
                break;
            case boost::json::kind::uint64:
                // Above INT64_MAX SQLite has only REAL; `data` keeps the exact number.
                if (field.get_uint64() <=
                    static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
                    sqlite3_bind_int64(statement, index,
                                       static_cast<sqlite3_int64>(field.get_uint64()));
                } else {
                    sqlite3_bind_double(statement, index, static_cast<double>(field.get_uint64()));
                }
                break;
            case boost::json::kind::double_:
                if (std::isfinite(field.get_double())) {
                    sqlite3_bind_double(statement, index, field.get_double());
                } else {
                    sqlite3_bind_null(statement, index);  // as the JSON writer: null
                }
                break;
            case boost::json::kind::string:
                core::append_valid_utf8(text, field.get_string());
                sqlite3_bind_text(statement, index, text.data(), static_cast<int>(text.size()),
                                  SQLITE_STATIC);
                break;
            case boost::json::kind::array:
            case boost::json::kind::object:
                append_json(text, field);
                sqlite3_bind_text(statement, index, text.data(), static_cast<int>(text.size()),
                                  SQLITE_STATIC);
                break;
        }
    }
    const int code = sqlite3_step(statement);
    sqlite3_reset(statement);
    sqlite3_clear_bindings(statement);
    if (code != SQLITE_DONE) {
        fail(code, "inserting into");
    }
    ++pending_;
    if (pending_ >= batch_items_) {
        commit();
    }
}

void sqlite_output::flush() {
    if (database_) {
        commit();
    }
}

void sqlite_output::close() {
    if (!database_) {
        return;
    }
    std::exception_ptr error;
    try {
        commit();
    } catch (...) {
        error = std::current_exception();
    }
    upserts_.clear();
    begin_.reset();
    commit_.reset();
    // sqlite3_close, not _v2: every statement is finalized, and its result is worth reporting
    // (it checkpoints the WAL into the database file).
    sqlite3* raw = database_.release();
    const int code = sqlite3_close(raw);
    if (code != SQLITE_OK) {
        sqlite3_close_v2(raw);
        if (!error) {
            throw std::system_error(code, sqlite_category(), "closing " + name_);
        }
    }
    if (error) {
        std::rethrow_exception(error);
    }
}

}  // namespace harvest::pipelines
