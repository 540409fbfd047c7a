#pragma once
// Jobs, per-item results and idempotency keys of the bulk service, in one SQLite file (WAL).
// Everything a restart needs lives here: a job's items are `queued` until their result is
// stored, so a restarted service fetches only what has no result yet.
//
// Not thread-safe: the service touches it from its one io_context thread. The service opens the
// file twice: the API's connection waits a little for a lock (its answers are short), the job
// runner's does not wait at all — it gets jobs_db_error with busy() and retries on a timer, so a
// lock held by another process never blocks the service's thread (job_runner.hpp).

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;

namespace harvest::service {

// The clock of every time the database stores: milliseconds since the Unix epoch.
inline std::int64_t unix_ms_now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

struct job_row {
    std::string job_id;
    std::string owner;  // the API key's id (api_keys::owner_id), never the key
    std::string profile;
    std::string callback_url;  // empty: no webhook
    std::string status;        // queued, running, done, cancelled
    std::int64_t items = 0;
    std::int64_t succeeded = 0;  // filled by job()
    std::int64_t failed = 0;
    std::int64_t created_at_ms = 0;   // unix milliseconds
    std::int64_t finished_at_ms = 0;  // 0 = not finished
    std::string event_id;             // the completion webhook's, once the job has ended
    std::string webhook_state;        // none, pending, delivered, failed
    std::string render;  // the job's `render` options as JSON (render_request.hpp); "" = none
};

struct item_row {
    std::string result_id;
    std::string job_id;
    std::int64_t index = 0;
    std::string input;  // the URL or ASIN as submitted
    std::string url;
    std::string status;  // queued, retrying, ok, failed, cancelled
    std::string data;    // JSON text of the extracted item(s), ok only
    std::string error;   // failure kind, failed only
    std::int64_t attempts = 0;
    // The last attempt's answer: its HTTP status (0 = no response), or else the transport error
    // kind (a fetch_error name such as "connect"; empty when it got a response).
    std::int64_t http_status = 0;
    std::string last_error;
    // While an unsettled item waits: why ("backoff", "circuit_breaker", "retry_budget"; empty =
    // not waiting) and when its next attempt may go (unix ms; 0 = on an event, not a time).
    std::string waiting_for;
    std::int64_t next_attempt_at_ms = 0;
    // The item's own `render` (docs/bulk-api.md, "Rendering"), overriding its job's: nullopt =
    // the job's applies, "" = not rendered, else the options as JSON (render_request.hpp).
    std::optional<std::string> render;
};

// How far an unsettled item has got, stored as it happens (jobs_db::set_progress).
struct item_progress {
    std::int64_t attempts = 0;
    std::int64_t http_status = 0;
    std::string last_error;
    std::string waiting_for;
    std::int64_t next_attempt_at_ms = 0;

    bool operator==(const item_progress&) const = default;
};

// Any SQLite failure. busy(): the database was locked (SQLITE_BUSY / SQLITE_LOCKED) past the
// connection's busy timeout; the same call may succeed later.
class jobs_db_error : public std::runtime_error {
  public:
    jobs_db_error(const std::string& message, bool busy)
        : std::runtime_error(message), busy_(busy) {}
    bool busy() const noexcept { return busy_; }

  private:
    bool busy_;
};

// insert_job() over the owner's quota (set_quotas): nothing was stored.
class quota_exceeded : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct idempotency_row {
    std::string body_hash;
    std::string job_id;
};

class jobs_db {
  public:
    // Opens (creating if needed) the database and its tables. Throws std::runtime_error.
    // `busy_timeout`: how long a statement waits for another connection's lock before it fails
    // with jobs_db_error::busy() (0 = not at all).
    explicit jobs_db(const std::string& path,
                     std::chrono::milliseconds busy_timeout = std::chrono::milliseconds(5000));
    ~jobs_db();
    jobs_db(const jobs_db&) = delete;
    jobs_db& operator=(const jobs_db&) = delete;

    // Per-owner limits insert_job() checks in its transaction: unfinished (queued or running)
    // jobs, and unsettled (queued or retrying) items over them, the new job's included.
    // 0 = no limit (the default).
    void set_quotas(std::size_t queued_jobs_per_owner, std::size_t queued_items_per_owner);

    // The job, its items (result_ids parallel to inputs/urls) and, when `idempotency_key` is
    // not empty, the key, all in one transaction. Throws quota_exceeded when the owner's quota
    // (set_quotas) would be exceeded. `item_renders`: each item's own `render` (item_row::render),
    // parallel to inputs; empty = none has one.
    void insert_job(const job_row& job, const std::vector<std::string>& inputs,
                    const std::vector<std::string>& urls,
                    const std::vector<std::string>& result_ids, std::string_view idempotency_key,
                    std::string_view body_hash,
                    const std::vector<std::optional<std::string>>& item_renders = {});

    // With succeeded / failed counted from the items.
    std::optional<job_row> job(std::string_view job_id);
    // Jobs whose status is queued or running, oldest first.
    std::vector<job_row> unfinished_jobs();
    // Ended jobs with a callback whose webhook is still pending.
    std::vector<job_row> pending_webhooks();

    // Items of a job in submission order; `status` empty = all.
    std::vector<item_row> results(std::string_view job_id, std::string_view status = {});
    // A page of a job's items in submission order (GET .../results): those with index >
    // `after_index` and `status` (empty = all), at most `max_items`, and no further item once
    // the page's stored text (data, input, url, error) has reached `max_bytes` — at least one
    // item when any is left, so a page is bounded by max_bytes plus one item. `more`: items
    // follow the last one returned. Reads only the rows it returns (and steps onto one more).
    struct item_page {
        std::vector<item_row> items;
        bool more = false;
    };
    item_page results_page(std::string_view job_id, std::string_view status,
                           std::int64_t after_index, std::size_t max_items, std::size_t max_bytes);
    std::optional<item_row> result(std::string_view result_id);
    // The result ids of a job's items in submission order (its webhook's list), without data.
    std::vector<std::string> result_ids(std::string_view job_id);
    // Up to `limit` unsettled (queued or retrying) items of the job with index > after_index,
    // in order.
    std::vector<item_row> queued_items(std::string_view job_id, std::int64_t after_index,
                                       std::size_t limit);
    std::int64_t count_items(std::string_view job_id, std::string_view status);

    // Stores an item's outcome (status ok or failed) with its last attempt's HTTP status and
    // transport error; only an unsettled (queued or retrying) item changes.
    void store_result(std::string_view result_id, std::string_view status, std::string_view data,
                      std::string_view error, std::int64_t attempts, std::int64_t http_status = 0,
                      std::string_view last_error = {});
    // An unsettled item's progress: it becomes `retrying` once an attempt was made (`queued`
    // with none). A settled or cancelled item does not change.
    void set_progress(std::string_view result_id, const item_progress& progress);
    void set_status(std::string_view job_id, std::string_view status,
                    std::int64_t finished_at_ms = 0);
    void set_webhook(std::string_view job_id, std::string_view event_id, std::string_view state);
    // Marks the job done and, when `event_id` is not empty, its webhook pending with that id,
    // in one statement: a crash leaves either a running job or a done one with its event. Only a
    // queued or running job changes (a cancel that came first stays).
    void finish_job(std::string_view job_id, std::int64_t finished_at_ms,
                    std::string_view event_id);
    // Marks the job cancelled and its unsettled items cancelled and, when it has a callback,
    // stores its webhook's event id (a new evt_ id) as pending in the same transaction, so that a
    // stop right after still sends it. False if it had already ended: such a job is marked to be
    // deleted instead (delete_expired removes it with its items).
    bool cancel(std::string_view job_id, std::int64_t now_ms);
    // A queued job becomes running (a cancelled or ended one does not change).
    void mark_running(std::string_view job_id);
    // Deletes ended jobs (done or cancelled) marked by cancel(), and with `ttl_ms` > 0 those that
    // ended more than ttl_ms before `now_ms` and have no webhook pending, with their items and
    // idempotency keys. The number of jobs deleted.
    std::int64_t delete_expired(std::int64_t now_ms, std::int64_t ttl_ms);

    // A transaction of several writes (the job runner batches its writes). rollback() never
    // throws and does nothing when no transaction is open.
    void begin();
    void commit();
    void rollback() noexcept;

    // The key's record if it was stored less than `max_age_ms` before `now_ms`. Older records
    // are deleted.
    std::optional<idempotency_row> idempotency(std::string_view owner, std::string_view key,
                                               std::int64_t now_ms, std::int64_t max_age_ms);

    // (status, count) over all jobs / all items, for /metrics.
    std::vector<std::pair<std::string, std::int64_t>> job_counts();
    std::vector<std::pair<std::string, std::int64_t>> item_counts();

  private:
    void exec(const char* sql);
    // Adds the columns later versions added to `items` and `jobs` when an older file lacks them.
    void migrate();
    sqlite3* db_ = nullptr;
    std::size_t quota_jobs_ = 0;
    std::size_t quota_items_ = 0;
};

}  // namespace harvest::service
