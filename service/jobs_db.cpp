// SQLite storage of the bulk service (jobs_db.hpp).

#include "service/jobs_db.hpp"

#include "service/signing.hpp"

#include <sqlite3.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <utility>

namespace harvest::service {

namespace {

bool is_busy(int rc) {
    const int primary = rc & 0xff;
    return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

[[noreturn]] void fail(sqlite3* db, int rc) {
    throw jobs_db_error(std::string("jobs_db: ") + sqlite3_errmsg(db), is_busy(rc));
}

// One prepared statement, finalized on scope exit.
class statement {
  public:
    statement(sqlite3* db, const char* sql) : db_(db) {
        if (const int rc = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); rc != SQLITE_OK) {
            fail(db, rc);
        }
    }
    ~statement() { sqlite3_finalize(stmt_); }
    statement(const statement&) = delete;
    statement& operator=(const statement&) = delete;

    statement& bind(int index, std::string_view text) {
        // An empty view may have no data at all: bound as '' (NULL would break NOT NULL).
        sqlite3_bind_text(stmt_, index, text.data() != nullptr ? text.data() : "",
                          static_cast<int>(text.size()), SQLITE_TRANSIENT);
        return *this;
    }
    // NULL for nullopt (a nullable column).
    statement& bind_optional(int index, const std::optional<std::string>& text) {
        if (!text) {
            sqlite3_bind_null(stmt_, index);
            return *this;
        }
        return bind(index, *text);
    }
    statement& bind(int index, std::int64_t value) {
        sqlite3_bind_int64(stmt_, index, value);
        return *this;
    }
    // True while a row is available.
    bool step() {
        const int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW) {
            return true;
        }
        if (rc != SQLITE_DONE) {
            fail(db_, rc);
        }
        return false;
    }
    void reset() {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }
    std::string text(int column) const {
        const auto* p = sqlite3_column_text(stmt_, column);
        return p == nullptr
                   ? std::string()
                   : std::string(reinterpret_cast<const char*>(p),
                                 static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
    }
    std::int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }
    std::optional<std::string> optional_text(int column) const {
        if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) {
            return std::nullopt;
        }
        return text(column);
    }

  private:
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
};

constexpr const char* job_columns =
    "job_id, owner, profile, callback_url, status, items, created_at, finished_at, event_id, "
    "webhook_state, render";

job_row read_job(const statement& s) {
    job_row job;
    job.job_id = s.text(0);
    job.owner = s.text(1);
    job.profile = s.text(2);
    job.callback_url = s.text(3);
    job.status = s.text(4);
    job.items = s.integer(5);
    job.created_at_ms = s.integer(6);
    job.finished_at_ms = s.integer(7);
    job.event_id = s.text(8);
    job.webhook_state = s.text(9);
    job.render = s.text(10);
    return job;
}

// The jobs `clause` (a WHERE and an ORDER BY) selects, in its order; without item counts.
std::vector<job_row> select_jobs(sqlite3* db, std::string_view clause) {
    statement s(
        db, (std::string("SELECT ") + job_columns + " FROM jobs " + std::string(clause)).c_str());
    std::vector<job_row> jobs;
    while (s.step()) {
        jobs.push_back(read_job(s));
    }
    return jobs;
}

constexpr const char* item_columns =
    "result_id, job_id, idx, input, url, status, data, error, attempts, http_status, last_error, "
    "waiting_for, next_attempt_at, render";

// Columns of `items` added after its first version: (name, type and default), for migrate().
constexpr std::pair<const char*, const char*> added_item_columns[] = {
    {"http_status", "INTEGER NOT NULL DEFAULT 0"},
    {"last_error", "TEXT NOT NULL DEFAULT ''"},
    {"waiting_for", "TEXT NOT NULL DEFAULT ''"},
    {"next_attempt_at", "INTEGER NOT NULL DEFAULT 0"},
    // The item's own `render` as JSON (item_row::render); NULL = its job's applies, which is
    // what an item of an older file had.
    {"render", "TEXT"},
};

// Columns of `jobs` added after its first version, likewise.
constexpr std::pair<const char*, const char*> added_job_columns[] = {
    // 1: DELETE asked for an ended job; delete_expired() removes it.
    {"deleted", "INTEGER NOT NULL DEFAULT 0"},
    // The job's `render` options as JSON (render_request.hpp); '' = not rendered.
    {"render", "TEXT NOT NULL DEFAULT ''"},
};

item_row read_item(const statement& s) {
    item_row item;
    item.result_id = s.text(0);
    item.job_id = s.text(1);
    item.index = s.integer(2);
    item.input = s.text(3);
    item.url = s.text(4);
    item.status = s.text(5);
    item.data = s.text(6);
    item.error = s.text(7);
    item.attempts = s.integer(8);
    item.http_status = s.integer(9);
    item.last_error = s.text(10);
    item.waiting_for = s.text(11);
    item.next_attempt_at_ms = s.integer(12);
    item.render = s.optional_text(13);
    return item;
}

}  // namespace

jobs_db::jobs_db(const std::string& path, std::chrono::milliseconds busy_timeout) {
    // Results and key ids are the tenants' data: a new file is created 0600 before SQLite opens
    // it (SQLite would create it 0644), and SQLite gives its -wal and -shm files the same mode.
    // An existing file keeps the mode it has.
    const bool plain_file = !path.empty() && path != ":memory:" && path.rfind("file:", 0) != 0;
    if (plain_file) {
        // Its folder is made as the crawl makes state.dir (0700: the tenants' data).
        const auto folder = std::filesystem::path(path).parent_path();
        std::error_code ec;
        if (!folder.empty() && !std::filesystem::exists(folder, ec)) {
            std::filesystem::create_directories(folder, ec);
            if (ec) {
                throw std::runtime_error("cannot create the folder of jobs_db " + path + ": " +
                                         ec.message());
            }
            std::filesystem::permissions(folder, std::filesystem::perms::owner_all, ec);
        }
    }
    if (const int fd =
            plain_file ? ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600) : -1;
        fd >= 0) {
        ::close(fd);
    }
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
        SQLITE_OK) {
        std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        db_ = nullptr;
        throw std::runtime_error("cannot open jobs_db " + path + ": " + message);
    }
    // Creating and migrating the tables waits for a lock like the API does; afterwards the
    // connection waits `busy_timeout`.
    sqlite3_busy_timeout(db_, static_cast<int>(std::max<std::int64_t>(busy_timeout.count(), 5000)));
    // WAL + NORMAL: a committed result survives a kill -9 of the service (not a power cut).
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec(
        "CREATE TABLE IF NOT EXISTS jobs (job_id TEXT PRIMARY KEY, owner TEXT NOT NULL, "
        "profile TEXT NOT NULL, callback_url TEXT NOT NULL, status TEXT NOT NULL, "
        "items INTEGER NOT NULL, created_at INTEGER NOT NULL, finished_at INTEGER NOT NULL "
        "DEFAULT 0, event_id TEXT NOT NULL DEFAULT '', webhook_state TEXT NOT NULL DEFAULT "
        "'none')");
    exec(
        "CREATE TABLE IF NOT EXISTS items (result_id TEXT PRIMARY KEY, job_id TEXT NOT NULL, "
        "idx INTEGER NOT NULL, input TEXT NOT NULL, url TEXT NOT NULL, status TEXT NOT NULL, "
        "data TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '', attempts INTEGER NOT "
        "NULL DEFAULT 0)");
    migrate();  // a new file gets the later columns the way an old one does
    exec("CREATE INDEX IF NOT EXISTS items_by_job ON items (job_id, idx)");
    exec("CREATE INDEX IF NOT EXISTS items_by_status ON items (job_id, status)");
    exec(
        "CREATE TABLE IF NOT EXISTS idempotency (owner TEXT NOT NULL, key TEXT NOT NULL, "
        "body_hash TEXT NOT NULL, job_id TEXT NOT NULL, created_at INTEGER NOT NULL, "
        "PRIMARY KEY (owner, key))");
    sqlite3_busy_timeout(db_, static_cast<int>(busy_timeout.count()));
}

jobs_db::~jobs_db() {
    sqlite3_close(db_);
}

void jobs_db::migrate() {
    // A jobs.db written by an older Harvest has the first version of `items`: the columns added
    // since get their defaults (no progress known, which is what such an item had).
    const auto add_missing = [this](const std::string& table, const auto& columns) {
        std::vector<std::string> present;
        {
            statement s(db_, ("PRAGMA table_info(" + table + ")").c_str());
            while (s.step()) {
                present.push_back(s.text(1));
            }
        }
        for (const auto& [name, type] : columns) {
            if (std::find(present.begin(), present.end(), name) == present.end()) {
                exec(("ALTER TABLE " + table + " ADD COLUMN " + name + " " + type).c_str());
            }
        }
    };
    add_missing("items", added_item_columns);
    add_missing("jobs", added_job_columns);
}

void jobs_db::exec(const char* sql) {
    char* error = nullptr;
    if (const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &error); rc != SQLITE_OK) {
        std::string message = error != nullptr ? error : "unknown error";
        sqlite3_free(error);
        throw jobs_db_error("jobs_db: " + message, is_busy(rc));
    }
}

void jobs_db::begin() {
    exec("BEGIN IMMEDIATE");
}

void jobs_db::commit() {
    exec("COMMIT");
}

void jobs_db::rollback() noexcept {
    if (sqlite3_get_autocommit(db_) == 0) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
}

void jobs_db::set_quotas(std::size_t queued_jobs_per_owner, std::size_t queued_items_per_owner) {
    quota_jobs_ = queued_jobs_per_owner;
    quota_items_ = queued_items_per_owner;
}

void jobs_db::insert_job(const job_row& job, const std::vector<std::string>& inputs,
                         const std::vector<std::string>& urls,
                         const std::vector<std::string>& result_ids,
                         std::string_view idempotency_key, std::string_view body_hash,
                         const std::vector<std::optional<std::string>>& item_renders) {
    if (!item_renders.empty() && item_renders.size() != inputs.size()) {
        throw std::invalid_argument("jobs_db::insert_job: item_renders is not parallel to inputs");
    }
    exec("BEGIN IMMEDIATE");
    try {
        if (quota_jobs_ != 0 || quota_items_ != 0) {
            // Inside the transaction: two submissions of one key cannot both pass the check.
            statement q(db_,
                        "SELECT (SELECT count(*) FROM jobs WHERE owner = ?1 AND status IN "
                        "('queued', 'running')), (SELECT count(*) FROM items WHERE status IN "
                        "('queued', 'retrying') AND job_id IN (SELECT job_id FROM jobs WHERE "
                        "owner = ?1 AND status IN ('queued', 'running')))");
            q.bind(1, job.owner);
            q.step();
            const auto jobs = static_cast<std::size_t>(q.integer(0));
            const auto items = static_cast<std::size_t>(q.integer(1));
            if (quota_jobs_ != 0 && jobs + 1 > quota_jobs_) {
                throw quota_exceeded("this API key has " + std::to_string(jobs) +
                                     " unfinished jobs, the most it may have queued (" +
                                     std::to_string(quota_jobs_) + ")");
            }
            if (quota_items_ != 0 && items + inputs.size() > quota_items_) {
                throw quota_exceeded("this API key has " + std::to_string(items) +
                                     " unsettled items; " + std::to_string(inputs.size()) +
                                     " more would exceed its quota (" +
                                     std::to_string(quota_items_) + ")");
            }
        }
        statement j(db_,
                    "INSERT INTO jobs (job_id, owner, profile, callback_url, status, items, "
                    "created_at, render) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
        j.bind(1, job.job_id).bind(2, job.owner).bind(3, job.profile).bind(4, job.callback_url);
        j.bind(5, job.status).bind(6, static_cast<std::int64_t>(inputs.size()));
        j.bind(7, job.created_at_ms).bind(8, job.render);
        j.step();
        statement i(db_,
                    "INSERT INTO items (result_id, job_id, idx, input, url, status, render) "
                    "VALUES (?, ?, ?, ?, ?, 'queued', ?)");
        for (std::size_t n = 0; n < inputs.size(); ++n) {
            i.bind(1, result_ids[n]).bind(2, job.job_id).bind(3, static_cast<std::int64_t>(n));
            i.bind(4, inputs[n]).bind(5, urls[n]);
            i.bind_optional(6, item_renders.empty() ? std::nullopt : item_renders[n]);
            i.step();
            i.reset();
        }
        if (!idempotency_key.empty()) {
            statement k(db_,
                        "INSERT OR REPLACE INTO idempotency (owner, key, body_hash, job_id, "
                        "created_at) VALUES (?, ?, ?, ?, ?)");
            k.bind(1, job.owner).bind(2, idempotency_key).bind(3, body_hash).bind(4, job.job_id);
            k.bind(5, job.created_at_ms);
            k.step();
        }
        exec("COMMIT");
    } catch (...) {
        rollback();
        throw;
    }
}

std::optional<job_row> jobs_db::job(std::string_view job_id) {
    statement s(db_,
                (std::string("SELECT ") + job_columns + " FROM jobs WHERE job_id = ?").c_str());
    s.bind(1, job_id);
    if (!s.step()) {
        return std::nullopt;
    }
    auto job = read_job(s);
    job.succeeded = count_items(job_id, "ok");
    job.failed = count_items(job_id, "failed");
    return job;
}

std::vector<job_row> jobs_db::unfinished_jobs() {
    return select_jobs(db_, "WHERE status IN ('queued', 'running') ORDER BY created_at");
}

std::vector<job_row> jobs_db::pending_webhooks() {
    auto jobs = select_jobs(db_, "WHERE webhook_state = 'pending' ORDER BY finished_at");
    for (auto& job : jobs) {
        job.succeeded = count_items(job.job_id, "ok");
        job.failed = count_items(job.job_id, "failed");
    }
    return jobs;
}

std::vector<item_row> jobs_db::results(std::string_view job_id, std::string_view status) {
    std::string sql = std::string("SELECT ") + item_columns + " FROM items WHERE job_id = ?";
    if (!status.empty()) {
        sql += " AND status = ?";
    }
    sql += " ORDER BY idx";
    statement s(db_, sql.c_str());
    s.bind(1, job_id);
    if (!status.empty()) {
        s.bind(2, status);
    }
    std::vector<item_row> items;
    while (s.step()) {
        items.push_back(read_item(s));
    }
    return items;
}

jobs_db::item_page jobs_db::results_page(std::string_view job_id, std::string_view status,
                                         std::int64_t after_index, std::size_t max_items,
                                         std::size_t max_bytes) {
    std::string sql =
        std::string("SELECT ") + item_columns + " FROM items WHERE job_id = ? AND idx > ?";
    if (!status.empty()) {
        sql += " AND status = ?";
    }
    sql += " ORDER BY idx";
    statement s(db_, sql.c_str());
    s.bind(1, job_id).bind(2, after_index);
    if (!status.empty()) {
        s.bind(3, status);
    }
    item_page page;
    std::size_t bytes = 0;
    // Bounded by max_items + 1 steps; a row's columns are read only when it joins the page.
    while (s.step()) {
        if (page.items.size() >= max_items || (!page.items.empty() && bytes >= max_bytes)) {
            page.more = true;
            break;
        }
        auto item = read_item(s);
        bytes += item.data.size() + item.input.size() + item.url.size() + item.error.size();
        page.items.push_back(std::move(item));
    }
    return page;
}

std::optional<item_row> jobs_db::result(std::string_view result_id) {
    statement s(
        db_, (std::string("SELECT ") + item_columns + " FROM items WHERE result_id = ?").c_str());
    s.bind(1, result_id);
    if (!s.step()) {
        return std::nullopt;
    }
    return read_item(s);
}

std::vector<std::string> jobs_db::result_ids(std::string_view job_id) {
    statement s(db_, "SELECT result_id FROM items WHERE job_id = ? ORDER BY idx");
    s.bind(1, job_id);
    std::vector<std::string> ids;
    while (s.step()) {
        ids.push_back(s.text(0));
    }
    return ids;
}

std::vector<item_row> jobs_db::queued_items(std::string_view job_id, std::int64_t after_index,
                                            std::size_t limit) {
    statement s(db_,
                (std::string("SELECT ") + item_columns +
                 " FROM items WHERE job_id = ? AND status IN ('queued', 'retrying') AND idx > ? "
                 "ORDER BY "
                 "idx LIMIT ?")
                    .c_str());
    s.bind(1, job_id).bind(2, after_index).bind(3, static_cast<std::int64_t>(limit));
    std::vector<item_row> items;
    while (s.step()) {
        items.push_back(read_item(s));
    }
    return items;
}

std::int64_t jobs_db::count_items(std::string_view job_id, std::string_view status) {
    statement s(db_, "SELECT count(*) FROM items WHERE job_id = ? AND status = ?");
    s.bind(1, job_id).bind(2, status);
    return s.step() ? s.integer(0) : 0;
}

void jobs_db::store_result(std::string_view result_id, std::string_view status,
                           std::string_view data, std::string_view error, std::int64_t attempts,
                           std::int64_t http_status, std::string_view last_error) {
    statement s(db_,
                "UPDATE items SET status = ?, data = ?, error = ?, attempts = ?, http_status = ?, "
                "last_error = ?, waiting_for = '', next_attempt_at = 0 WHERE result_id = ? AND "
                "status IN ('queued', 'retrying')");
    s.bind(1, status).bind(2, data).bind(3, error).bind(4, attempts).bind(5, http_status);
    s.bind(6, last_error).bind(7, result_id);
    s.step();
}

void jobs_db::set_progress(std::string_view result_id, const item_progress& progress) {
    statement s(db_,
                "UPDATE items SET status = ?, attempts = ?, http_status = ?, last_error = ?, "
                "waiting_for = ?, next_attempt_at = ? WHERE result_id = ? AND status IN "
                "('queued', 'retrying')");
    s.bind(1, std::string_view(progress.attempts > 0 ? "retrying" : "queued"));
    s.bind(2, progress.attempts).bind(3, progress.http_status).bind(4, progress.last_error);
    s.bind(5, progress.waiting_for).bind(6, progress.next_attempt_at_ms).bind(7, result_id);
    s.step();
}

void jobs_db::set_status(std::string_view job_id, std::string_view status,
                         std::int64_t finished_at_ms) {
    statement s(db_, "UPDATE jobs SET status = ?, finished_at = ? WHERE job_id = ?");
    s.bind(1, status).bind(2, finished_at_ms).bind(3, job_id);
    s.step();
}

void jobs_db::set_webhook(std::string_view job_id, std::string_view event_id,
                          std::string_view state) {
    statement s(db_, "UPDATE jobs SET event_id = ?, webhook_state = ? WHERE job_id = ?");
    s.bind(1, event_id).bind(2, state).bind(3, job_id);
    s.step();
}

void jobs_db::finish_job(std::string_view job_id, std::int64_t finished_at_ms,
                         std::string_view event_id) {
    statement s(db_,
                "UPDATE jobs SET status = 'done', finished_at = ?, event_id = ?, webhook_state = "
                "CASE WHEN ? = '' THEN webhook_state ELSE 'pending' END WHERE job_id = ? AND "
                "status IN ('queued', 'running')");
    s.bind(1, finished_at_ms).bind(2, event_id).bind(3, event_id).bind(4, job_id);
    s.step();
}

bool jobs_db::cancel(std::string_view job_id, std::int64_t now_ms) {
    exec("BEGIN IMMEDIATE");
    try {
        // The event id and `pending` go with the cancel: a stop before the runner saw it still
        // leaves the webhook to send (job_runner sends pending webhooks at start).
        const auto event_id = random_id("evt_");
        statement j(db_,
                    "UPDATE jobs SET status = 'cancelled', finished_at = ?1, event_id = CASE WHEN "
                    "callback_url = '' THEN event_id ELSE ?2 END, webhook_state = CASE WHEN "
                    "callback_url = '' THEN webhook_state ELSE 'pending' END WHERE job_id = ?3 "
                    "AND status IN ('queued', 'running')");
        j.bind(1, now_ms).bind(2, event_id).bind(3, job_id);
        j.step();
        const bool changed = sqlite3_changes(db_) > 0;
        if (changed) {
            statement i(db_,
                        "UPDATE items SET status = 'cancelled', waiting_for = '', "
                        "next_attempt_at = 0 WHERE job_id = ? AND status IN ('queued', "
                        "'retrying')");
            i.bind(1, job_id);
            i.step();
        } else {
            statement d(db_,
                        "UPDATE jobs SET deleted = 1 WHERE job_id = ? AND status IN ('done', "
                        "'cancelled')");
            d.bind(1, job_id);
            d.step();
        }
        exec("COMMIT");
        return changed;
    } catch (...) {
        rollback();
        throw;
    }
}

void jobs_db::mark_running(std::string_view job_id) {
    statement s(db_, "UPDATE jobs SET status = 'running' WHERE job_id = ? AND status = 'queued'");
    s.bind(1, job_id);
    s.step();
}

std::int64_t jobs_db::delete_expired(std::int64_t now_ms, std::int64_t ttl_ms) {
    // The caller's transaction when there is one (the runner batches), else its own.
    const bool own = sqlite3_get_autocommit(db_) != 0;
    if (own) {
        exec("BEGIN IMMEDIATE");
    }
    try {
        exec(
            "CREATE TEMP TABLE IF NOT EXISTS expired (job_id TEXT PRIMARY KEY); DELETE FROM "
            "temp.expired");
        statement pick(db_,
                       "INSERT INTO temp.expired SELECT job_id FROM jobs WHERE status IN ('done', "
                       "'cancelled') AND (deleted = 1 OR (?1 > 0 AND finished_at < ?2 - ?1 AND "
                       "webhook_state != 'pending'))");
        pick.bind(1, ttl_ms).bind(2, now_ms);
        pick.step();
        const auto count = static_cast<std::int64_t>(sqlite3_changes(db_));
        if (count > 0) {
            exec(
                "DELETE FROM items WHERE job_id IN (SELECT job_id FROM temp.expired); "
                "DELETE FROM idempotency WHERE job_id IN (SELECT job_id FROM temp.expired); "
                "DELETE FROM jobs WHERE job_id IN (SELECT job_id FROM temp.expired)");
        }
        if (own) {
            exec("COMMIT");
        }
        return count;
    } catch (...) {
        if (own) {
            rollback();
        }
        throw;
    }
}

std::optional<idempotency_row> jobs_db::idempotency(std::string_view owner, std::string_view key,
                                                    std::int64_t now_ms, std::int64_t max_age_ms) {
    statement purge(db_, "DELETE FROM idempotency WHERE created_at < ?");
    purge.bind(1, now_ms - max_age_ms);
    purge.step();
    statement s(db_, "SELECT body_hash, job_id FROM idempotency WHERE owner = ? AND key = ?");
    s.bind(1, owner).bind(2, key);
    if (!s.step()) {
        return std::nullopt;
    }
    return idempotency_row{s.text(0), s.text(1)};
}

std::vector<std::pair<std::string, std::int64_t>> jobs_db::job_counts() {
    statement s(db_, "SELECT status, count(*) FROM jobs GROUP BY status");
    std::vector<std::pair<std::string, std::int64_t>> counts;
    while (s.step()) {
        counts.emplace_back(s.text(0), s.integer(1));
    }
    return counts;
}

std::vector<std::pair<std::string, std::int64_t>> jobs_db::item_counts() {
    statement s(db_, "SELECT status, count(*) FROM items GROUP BY status");
    std::vector<std::pair<std::string, std::int64_t>> counts;
    while (s.step()) {
        counts.emplace_back(s.text(0), s.integer(1));
    }
    return counts;
}

}  // namespace harvest::service
