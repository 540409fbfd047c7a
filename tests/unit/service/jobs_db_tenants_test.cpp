// jobs_db under several tenants and a second connection: per-owner quotas checked in the insert's
// transaction, a cancel that stores its webhook event, retention, a lock reported as busy, and
// the service config keys for all of it.

#include "config/service_config.hpp"
#include "service/jobs_db.hpp"

#include <sqlite3.h>
#include <catch2/catch.hpp>

#include <unistd.h>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace harvest;
using namespace std::chrono_literals;

namespace {

struct tenants_db {
    fs::path path;
    explicit tenants_db(const std::string& name)
        : path(fs::temp_directory_path() /
               ("harvest-tenants-" + std::to_string(::getpid()) + "-" + name)) {
        clean();
    }
    ~tenants_db() { clean(); }
    void clean() const {
        fs::remove(path);
        fs::remove(path.string() + "-wal");
        fs::remove(path.string() + "-shm");
    }
};

service::job_row job_of(const std::string& id, const std::string& owner,
                        const std::string& callback = {}) {
    service::job_row job;
    job.job_id = id;
    job.owner = owner;
    job.profile = "p";
    job.callback_url = callback;
    job.status = "queued";
    job.created_at_ms = 1000;
    return job;
}

void insert(service::jobs_db& db, const service::job_row& job, int items) {
    std::vector<std::string> inputs;
    std::vector<std::string> urls;
    std::vector<std::string> ids;
    for (int i = 0; i < items; ++i) {
        inputs.push_back("http://h/" + std::to_string(i));
        urls.push_back(inputs.back());
        ids.push_back(job.job_id + "-r" + std::to_string(i));
    }
    db.insert_job(job, inputs, urls, ids, "", "");
}

}  // namespace

TEST_CASE(
    "jobs_db: unfinished jobs come oldest first; pending webhooks by finish time, with "
    "their item counts",
    "[unit][service]") {
    tenants_db file("lists.db");
    service::jobs_db db(file.path.string());
    auto newer = job_of("newer", "a", "http://hook/");
    newer.created_at_ms = 2000;
    insert(db, newer, 2);
    insert(db, job_of("older", "a", "http://hook/"), 3);  // created at 1000
    insert(db, job_of("quiet", "a"), 1);
    db.finish_job("quiet", 1500, "");  // ended without a webhook: in neither list
    const auto unfinished = db.unfinished_jobs();
    REQUIRE(unfinished.size() == 2);
    CHECK(unfinished[0].job_id == "older");
    CHECK(unfinished[1].job_id == "newer");

    CHECK(db.pending_webhooks().empty());
    db.store_result("older-r0", "ok", R"({"id":1})", "", 1);
    db.store_result("older-r1", "failed", "", "status_4xx", 1, 404);
    db.finish_job("older", 5000, "evt_older");
    db.finish_job("newer", 4000, "evt_newer");
    const auto pending = db.pending_webhooks();
    REQUIRE(pending.size() == 2);
    CHECK(pending[0].job_id == "newer");
    CHECK(pending[0].event_id == "evt_newer");
    CHECK(pending[0].succeeded == 0);
    CHECK(pending[1].job_id == "older");
    CHECK(pending[1].finished_at_ms == 5000);
    CHECK(pending[1].succeeded == 1);
    CHECK(pending[1].failed == 1);
    CHECK(db.unfinished_jobs().empty());
}

TEST_CASE("jobs_db: per-owner quotas count unfinished jobs and their unsettled items",
          "[unit][service]") {
    tenants_db file("quotas.db");
    service::jobs_db db(file.path.string());
    db.set_quotas(2, 10);
    insert(db, job_of("j1", "a"), 4);
    insert(db, job_of("j2", "a"), 4);
    // A third job of `a`: over queued jobs. Nothing stored.
    CHECK_THROWS_AS(insert(db, job_of("j3", "a"), 1), service::quota_exceeded);
    CHECK_FALSE(db.job("j3"));
    CHECK(db.result_ids("j3").empty());
    // Another owner has its own quota.
    insert(db, job_of("k1", "b"), 10);
    CHECK_THROWS_AS(insert(db, job_of("k2", "b"), 1), service::quota_exceeded);
    // Settled items and ended jobs no longer count.
    for (int i = 0; i < 4; ++i) {
        db.store_result("j1-r" + std::to_string(i), "ok", "{}", "", 1);
    }
    db.finish_job("j1", 2000, "");
    insert(db, job_of("j3", "a"), 6);  // 4 + 6 unsettled = 10: at the quota, allowed
    CHECK_THROWS_AS(insert(db, job_of("j4", "a"), 1), service::quota_exceeded);
}

TEST_CASE("jobs_db: a cancel stores the webhook's event as pending in its own transaction",
          "[unit][service]") {
    tenants_db file("cancel.db");
    service::jobs_db db(file.path.string());
    insert(db, job_of("with", "a", "http://hook/"), 3);
    insert(db, job_of("without", "a"), 3);
    REQUIRE(db.cancel("with", 5000));
    REQUIRE(db.cancel("without", 5000));
    const auto with = db.job("with");
    CHECK(with->status == "cancelled");
    CHECK(with->webhook_state == "pending");
    CHECK(with->event_id.rfind("evt_", 0) == 0);
    CHECK(db.pending_webhooks().size() == 1);
    CHECK(db.job("without")->webhook_state == "none");
    // A done job's finish never overrides the cancel that came first.
    db.finish_job("with", 6000, "evt_other");
    CHECK(db.job("with")->status == "cancelled");
    CHECK(db.job("with")->event_id == with->event_id);
    // mark_running changes a queued job only.
    insert(db, job_of("q", "a"), 1);
    db.mark_running("q");
    CHECK(db.job("q")->status == "running");
    db.mark_running("with");
    CHECK(db.job("with")->status == "cancelled");
}

TEST_CASE("jobs_db: ended jobs go after their ttl or a DELETE, with items and idempotency keys",
          "[unit][service]") {
    tenants_db file("retention.db");
    service::jobs_db db(file.path.string());
    insert(db, job_of("old", "a"), 2);
    insert(db, job_of("new", "a"), 2);
    insert(db, job_of("running", "a"), 2);
    insert(db, job_of("hooked", "a", "http://hook/"), 1);
    db.finish_job("old", 1000, "");
    db.finish_job("new", 9000, "");
    db.finish_job("hooked", 1000, "evt_1");   // its webhook is pending
    CHECK(db.delete_expired(10000, 0) == 0);  // no ttl: nothing
    CHECK(db.delete_expired(10000, 5000) == 1);
    CHECK_FALSE(db.job("old"));
    CHECK(db.result_ids("old").empty());
    CHECK(db.job("new"));
    CHECK(db.job("hooked"));  // kept while its webhook is pending
    // A cancel of an ended job marks it deleted: the next sweep removes it, ttl or not.
    CHECK_FALSE(db.cancel("new", 9500));
    CHECK(db.job("new"));
    CHECK(db.delete_expired(9600, 0) == 1);
    CHECK_FALSE(db.job("new"));
    CHECK(db.job("running"));
}

TEST_CASE("jobs_db: a connection without busy timeout reports another's lock as busy at once",
          "[unit][service]") {
    tenants_db file("busy.db");
    service::jobs_db db(file.path.string(), 0ms);
    insert(db, job_of("j", "a"), 2);
    sqlite3* other = nullptr;
    REQUIRE(sqlite3_open(file.path.c_str(), &other) == SQLITE_OK);
    REQUIRE(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
    const auto start = std::chrono::steady_clock::now();
    bool busy = false;
    try {
        db.begin();
        db.store_result("j-r0", "ok", "{}", "", 1);
        db.commit();
    } catch (const service::jobs_db_error& e) {
        busy = e.busy();
    }
    db.rollback();
    CHECK(busy);
    CHECK(std::chrono::steady_clock::now() - start < 1s);
    // Reads go on under the lock (WAL).
    CHECK(db.queued_items("j", -1, 10).size() == 2);
    REQUIRE(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(other);
    db.begin();
    db.store_result("j-r0", "ok", "{}", "", 1);
    db.commit();
    CHECK(db.queued_items("j", -1, 10).size() == 1);
}

TEST_CASE("service config: quotas, max_item_bytes and jobs_ttl with their defaults",
          "[unit][service]") {
    const std::string base = R"(
api_keys_file: keys.txt
jobs_db: jobs.db
profiles:
  p:
    extract: [{match: "/", type: json, fields: {id: /id}}]
)";
    const auto defaults = config::parse_service_config(base, "serve.yaml", "/tmp");
    CHECK(defaults.queued_jobs_per_key == 10);
    CHECK(defaults.queued_items_per_key == 50000);
    CHECK(defaults.in_flight_per_key == 0);
    CHECK(defaults.max_item_bytes == 1024 * 1024);
    CHECK(defaults.jobs_ttl == std::chrono::hours(24 * 7));
    const auto set = config::parse_service_config(
        base +
            "quotas: {queued_jobs_per_key: 3, queued_items_per_key: 700, in_flight_per_key: 5}\n"
            "max_item_bytes: 64KiB\njobs_ttl: 36h\n",
        "serve.yaml", "/tmp");
    CHECK(set.queued_jobs_per_key == 3);
    CHECK(set.queued_items_per_key == 700);
    CHECK(set.in_flight_per_key == 5);
    CHECK(set.max_item_bytes == 64 * 1024);
    CHECK(set.jobs_ttl == std::chrono::hours(36));
    CHECK_THROWS_WITH(
        config::parse_service_config(base + "quotas: {queued_jobs: 3}\n", "serve.yaml", "/tmp"),
        Catch::Contains("unknown key 'queued_jobs'"));
    CHECK_THROWS_WITH(
        config::parse_service_config(base + "max_item_bytes: lots\n", "serve.yaml", "/tmp"),
        Catch::Contains("max_item_bytes"));
}

TEST_CASE("jobs_db: a jobs_db in a folder that does not exist yet gets its folder (0700)",
          "[unit][service]") {
    const fs::path root =
        fs::temp_directory_path() / ("harvest-jobs-db-folder-" + std::to_string(::getpid()));
    fs::remove_all(root);
    const fs::path path = root / "state" / "jobs.db";
    { harvest::service::jobs_db db(path.string(), std::chrono::milliseconds(0)); }
    CHECK(fs::exists(path));
    CHECK((fs::status(path.parent_path()).permissions() & fs::perms::all) == fs::perms::owner_all);
    // A folder that cannot be made (a file is in the way) is named in the error.
    { std::ofstream(root / "plain-file") << "x"; }
    CHECK_THROWS_WITH(harvest::service::jobs_db((root / "plain-file" / "sub" / "jobs.db").string(),
                                                std::chrono::milliseconds(0)),
                      Catch::Contains("cannot create the folder of jobs_db"));
    fs::remove_all(root);
}
