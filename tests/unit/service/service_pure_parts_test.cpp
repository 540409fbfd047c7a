// The bulk service's pure parts: egress classification, webhook signatures, API keys, the API
// handler over a real jobs_db file, and the service config loader.

#include "config/loader.hpp"
#include "config/service_config.hpp"
#include "service/api.hpp"
#include "service/egress_guard.hpp"
#include "service/jobs_db.hpp"
#include "service/signing.hpp"

#include <sqlite3.h>
#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include <unistd.h>
#include <filesystem>

namespace fs = std::filesystem;
using namespace harvest;
using boost::asio::ip::make_address;

namespace {

struct temp_file {
    fs::path path;
    explicit temp_file(const std::string& name)
        : path(fs::temp_directory_path() /
               ("harvest-service-" + std::to_string(::getpid()) + "-" + name)) {
        fs::remove(path);
    }
    ~temp_file() {
        fs::remove(path);
        fs::remove(path.string() + "-wal");
        fs::remove(path.string() + "-shm");
    }
};

config::service_config test_config() {
    const std::string yaml = R"(
api_keys_file: keys.txt
jobs_db: jobs.db
max_items_per_job: 5
submit_rate_limit: {per_second: 1, burst: 3}
profiles:
  product_json:
    extract: [{match: "/api/products/", type: json, fields: {id: /asin}}]
templates:
  amazon_like: "http://127.0.0.1:8080/api/products/{id}.json"
egress: {deny_private: true, allow: ["127.0.0.1:8080"]}
)";
    auto config = config::parse_service_config(yaml, "serve.yaml", "/tmp");
    config.webhook.secret = "whsec-test";  // a callback_url needs one (api_edge_test.cpp)
    return config;
}

}  // namespace

TEST_CASE("egress: internal IPv4 and IPv6 addresses are recognized") {
    for (const char* text :
         {"127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "0.0.0.0",
          "100.64.0.1", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fd00:ec2::254",
          "ff02::1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:127.0.0.1",
          "64:ff9b::a00:1"}) {
        INFO(text);
        CHECK(service::is_internal_address(make_address(text)));
    }
    for (const char* text : {"93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8",
                             "172.32.0.1", "11.0.0.1"}) {
        INFO(text);
        CHECK_FALSE(service::is_internal_address(make_address(text)));
    }
}

TEST_CASE("egress: the allow list opens exactly the listed address and port") {
    config::egress_settings settings;
    settings.allow = {"127.0.0.1:8080", "[::1]:9000", "10.1.2.3"};
    const service::egress_guard guard(settings);
    CHECK(guard.allowed(make_address("127.0.0.1"), 8080));
    CHECK_FALSE(guard.allowed(make_address("127.0.0.1"), 8081));
    CHECK_FALSE(guard.allowed(make_address("127.0.0.2"), 8080));
    CHECK(guard.allowed(make_address("::1"), 9000));
    CHECK(guard.allowed(make_address("10.1.2.3"), 1));
    CHECK_FALSE(guard.allowed(make_address("169.254.169.254"), 80));
    CHECK(guard.allowed(make_address("8.8.8.8"), 80));
    CHECK_FALSE(guard.literal_allowed("http://169.254.169.254/latest/meta-data/"));
    CHECK_FALSE(guard.literal_allowed("http://[::ffff:10.0.0.1]/x"));
    CHECK_FALSE(guard.literal_allowed("http://10.0.0.1:8080/x"));
    CHECK(guard.literal_allowed("http://127.0.0.1:8080/x"));
    CHECK(guard.literal_allowed("http://example.com/x"));  // names: decided at connect time
    settings.allow = {"not-an-address"};
    CHECK_THROWS_AS(service::egress_guard(settings), std::invalid_argument);
    settings.allow.clear();
    settings.deny_private = false;
    CHECK(service::egress_guard(settings).allowed(make_address("10.0.0.1"), 80));
}

TEST_CASE("webhook signature: HMAC-SHA256 of t.body is verified and tamper-evident") {
    // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    CHECK(service::hmac_sha256_hex("Jefe", "what do ya want for nothing?") ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    const std::string body = R"({"event_id":"evt_1"})";
    const auto header = service::webhook_signature("s3cret", 1700000000, body);
    CHECK(header.rfind("t=1700000000,v1=", 0) == 0);
    CHECK(header.substr(16) == service::hmac_sha256_hex("s3cret", "1700000000." + body));
    // Verified at the signature's own time: the timestamp tolerance is signing_tolerance_test's.
    const std::int64_t now = 1700000000;
    CHECK(service::verify_webhook_signature("s3cret", header, body, now));
    CHECK_FALSE(service::verify_webhook_signature("other", header, body, now));
    CHECK_FALSE(service::verify_webhook_signature("s3cret", header, body + " ", now));
    CHECK_FALSE(service::verify_webhook_signature("s3cret", "t=1,v1=00", body, now));
}

TEST_CASE("api keys: Bearer keys map to stable owners and others are refused") {
    const service::api_keys keys({"alpha-key", "beta-key"});
    const auto a = keys.owner_of("Bearer alpha-key");
    const auto b = keys.owner_of("Bearer beta-key");
    REQUIRE(a);
    REQUIRE(b);
    CHECK(*a != *b);
    CHECK(keys.owner_of("Bearer alpha-key") == a);
    CHECK_FALSE(keys.owner_of("Bearer alpha-ke"));
    CHECK_FALSE(keys.owner_of("Bearer alpha-key "));
    CHECK_FALSE(keys.owner_of("alpha-key"));
    CHECK_FALSE(keys.owner_of("Basic alpha-key"));
    CHECK_FALSE(keys.owner_of(""));
}

TEST_CASE(
    "api: submission and errors with field and reason and idempotency and ownership and limits") {
    temp_file db_file("api.db");
    auto config = test_config();
    service::jobs_db db(db_file.path.string());
    const service::api_keys keys({"alpha", "beta"});
    const service::egress_guard guard(config.egress);
    std::vector<std::string> submitted;
    service::api handler(config, db, keys, guard,
                         {[&](const std::string& id) { submitted.push_back(id); }, {}});
    auto now = std::chrono::steady_clock::now();
    auto call = [&](std::string method, std::string target, std::string body,
                    std::string key = "alpha", std::string idem = "") {
        service::api_request r;
        r.method = std::move(method);
        r.target = std::move(target);
        r.authorization = key.empty() ? "" : "Bearer " + key;
        r.idempotency_key = std::move(idem);
        r.body = std::move(body);
        return handler.handle(r, now);
    };
    auto message = [](const service::api_response& r) {
        return std::string(boost::json::parse(r.body).at("error").at("message").as_string());
    };

    CHECK(call("GET", "/healthz", "", "").status == 200);
    CHECK(call("GET", "/v1/jobs/x", "", "").status == 401);
    CHECK(call("GET", "/v1/jobs/x", "", "wrong").status == 401);

    const std::string body =
        R"({"profile":"product_json","template":"amazon_like","asins":["B0001","B0002"],)"
        R"("callback_url":"http://127.0.0.1:8080/hook"})";
    auto first = call("POST", "/v1/jobs", body, "alpha", "k1");
    REQUIRE(first.status == 202);
    const auto job_id = std::string(boost::json::parse(first.body).at("job_id").as_string());
    CHECK(boost::json::parse(first.body).at("items").as_int64() == 2);
    CHECK(submitted == std::vector<std::string>{job_id});

    // Same key, same body: the same job, no second one. Other body: 422.
    auto again = call("POST", "/v1/jobs", body, "alpha", "k1");
    CHECK(again.status == 200);
    CHECK(boost::json::parse(again.body).at("job_id").as_string() == job_id);
    CHECK(call("POST", "/v1/jobs", body + " ", "alpha", "k1").status == 422);
    CHECK(submitted.size() == 1);

    // Rate limit: burst 3 used up (three submissions above) -> 429 with Retry-After.
    auto limited = call("POST", "/v1/jobs", body, "alpha");
    CHECK(limited.status == 429);
    REQUIRE(limited.headers.size() == 1);
    CHECK(limited.headers[0].first == "Retry-After");
    CHECK(std::stoi(limited.headers[0].second) >= 1);
    now += std::chrono::seconds(10);

    // Status and results; another key sees 404.
    auto status = call("GET", "/v1/jobs/" + job_id, "");
    REQUIRE(status.status == 200);
    CHECK(boost::json::parse(status.body).at("status").as_string() == "queued");
    CHECK(call("GET", "/v1/jobs/" + job_id, "", "beta").status == 404);
    auto results = call("GET", "/v1/jobs/" + job_id + "/results", "");
    CHECK(results.content_type == "application/x-ndjson");
    CHECK(std::count(results.body.begin(), results.body.end(), '\n') == 2);
    const auto line = boost::json::parse(results.body.substr(0, results.body.find('\n')));
    const auto rid = std::string(line.at("result_id").as_string());
    CHECK(line.at("url").as_string() == "http://127.0.0.1:8080/api/products/B0001.json");
    CHECK(call("GET", "/v1/results/" + rid, "").status == 200);
    CHECK(call("GET", "/v1/results/" + rid, "", "beta").status == 404);
    db.store_result(rid, "failed", "", "status_4xx", 1);
    auto failed = call("GET", "/v1/jobs/" + job_id + "/results?status=failed", "");
    CHECK(std::count(failed.body.begin(), failed.body.end(), '\n') == 1);
    CHECK(failed.body.find("\"error\":\"status_4xx\"") != std::string::npos);

    // Cancel: queued items become cancelled.
    auto cancelled = call("DELETE", "/v1/jobs/" + job_id, "");
    CHECK(boost::json::parse(cancelled.body).at("status").as_string() == "cancelled");
    CHECK(db.count_items(job_id, "cancelled") == 1);

    // Malformed input: 400 naming the field and why; 413 over max_items_per_job.
    for (int i = 0; i < 3; ++i) {
        now += std::chrono::seconds(10);
        (void)i;
    }
    struct bad {
        std::string body;
        unsigned status;
        std::string fragment;
    };
    const std::vector<bad> cases = {
        {"{", 400, "body: not valid JSON"},
        {"[]", 400, "body: must be a JSON object"},
        {R"({"urls":["http://a/"]})", 400, "profile: required"},
        {R"({"profile":"nope","urls":["http://a/"]})", 400, "profile: unknown profile"},
        {R"({"profile":"product_json"})", 400, "urls: give exactly one"},
        {R"({"profile":"product_json","urls":[]})", 400, "urls: must not be empty"},
        {R"({"profile":"product_json","urls":["http://a/", 3]})", 400,
         "urls[1]: must be a URL string or an object"},
        {R"({"profile":"product_json","urls":["ftp://a/"]})", 400, "urls[0]: not an absolute"},
        {R"({"profile":"product_json","asins":["B1"]})", 400, "template: required"},
        {R"({"profile":"product_json","template":"amazon_like","asins":["../x"]})", 400,
         "asins[0]: an id"},
        {R"({"profile":"product_json","urls":["http://a/"],"extra":1})", 400,
         "extra: unknown field"},
        {R"({"profile":"product_json","urls":["http://169.254.169.254/latest/meta-data/"]})", 400,
         "urls[0]: refused by the egress guard"},
        {R"({"profile":"product_json","urls":["http://[::ffff:10.0.0.1]/"]})", 400,
         "urls[0]: refused by the egress guard"},
        {R"({"profile":"product_json","urls":["http://a/"],"callback_url":"http://10.0.0.1/h"})",
         400, "callback_url: refused by the egress guard"},
        {R"({"profile":"product_json","urls":["http://a/","http://a/","http://a/","http://a/",)"
         R"("http://a/","http://a/"]})",
         413, "more than max_items_per_job (5)"},
    };
    for (const auto& c : cases) {
        INFO(c.body);
        now += std::chrono::seconds(10);
        auto r = call("POST", "/v1/jobs", c.body, "beta");
        CHECK(r.status == c.status);
        CHECK_THAT(message(r), Catch::Contains(c.fragment));
    }
    CHECK(call("GET", "/v1/jobs/nope", "").status == 404);
    CHECK(call("PUT", "/v1/jobs", "").status == 405);
}

TEST_CASE("jobs_db: results survive reopening and stored items are no longer queued") {
    temp_file db_file("reopen.db");
    service::job_row job;
    job.job_id = "job_1";
    job.owner = "key_x";
    job.profile = "p";
    job.status = "running";
    job.created_at_ms = 1;
    {
        service::jobs_db db(db_file.path.string());
        db.insert_job(job, {"a", "b", "c"}, {"http://h/a", "http://h/b", "http://h/c"},
                      {"r1", "r2", "r3"}, "", "");
        db.store_result("r1", "ok", R"({"id":"a"})", "", 1);
    }
    service::jobs_db db(db_file.path.string());
    auto queued = db.queued_items("job_1", -1, 10);
    REQUIRE(queued.size() == 2);
    CHECK(queued[0].result_id == "r2");
    CHECK(db.unfinished_jobs().size() == 1);
    db.store_result("r1", "failed", "", "x", 2);  // a stored result is never overwritten
    CHECK(db.result("r1")->status == "ok");
    CHECK(db.job("job_1")->succeeded == 1);
}

TEST_CASE(
    "jobs_db: an item's progress shows while it waits and its last answer stays with its "
    "result") {
    temp_file db_file("progress.db");
    service::job_row job;
    job.job_id = "job_1";
    job.owner = "key_x";
    job.profile = "p";
    job.status = "running";
    job.created_at_ms = 1;
    service::jobs_db db(db_file.path.string());
    db.insert_job(job, {"a", "b"}, {"http://h/a", "http://h/b"}, {"r1", "r2"}, "", "");

    // Waiting for its host's breaker before any attempt: still queued, but it says why.
    db.set_progress("r1", {0, 0, "", "circuit_breaker", 1'700'000'000'000});
    CHECK(db.result("r1")->status == "queued");
    CHECK(db.result("r1")->waiting_for == "circuit_breaker");

    // A failed attempt with another to follow: retrying, with its attempts and last error.
    db.set_progress("r1", {2, 0, "connect", "backoff", 1'700'000'000'500});
    auto waiting = *db.result("r1");
    CHECK(waiting.status == "retrying");
    CHECK(waiting.attempts == 2);
    CHECK(waiting.last_error == "connect");
    const auto line = boost::json::parse(service::result_line(waiting)).as_object();
    CHECK(line.at("status").as_string() == "retrying");
    CHECK(line.at("attempts").as_int64() == 2);
    CHECK(line.at("last_error").as_string() == "connect");
    CHECK(line.at("waiting_for").as_string() == "backoff");
    CHECK(line.at("next_attempt_at").as_string() == "2023-11-14T22:13:20.500Z");
    CHECK_FALSE(line.contains("http_status"));
    // A retrying item is still unsettled: a restart takes it, a cancel cancels it.
    CHECK(db.queued_items("job_1", -1, 10).size() == 2);

    // Settled: the wait is gone, the last answer stays.
    db.store_result("r1", "failed", "", "circuit_open", 3, 0, "connect");
    const auto failed = boost::json::parse(service::result_line(*db.result("r1"))).as_object();
    CHECK(failed.at("status").as_string() == "failed");
    CHECK(failed.at("error").as_string() == "circuit_open");
    CHECK(failed.at("last_error").as_string() == "connect");
    CHECK_FALSE(failed.contains("waiting_for"));
    CHECK_FALSE(failed.contains("next_attempt_at"));
    db.set_progress("r1", {4, 503, "", "backoff", 1});  // a settled item never changes
    CHECK(db.result("r1")->status == "failed");

    db.store_result("r2", "failed", "", "status_4xx", 1, 404, "");
    const auto not_found = boost::json::parse(service::result_line(*db.result("r2"))).as_object();
    CHECK(not_found.at("http_status").as_int64() == 404);
    CHECK(not_found.at("error").as_string() == "status_4xx");
    CHECK_FALSE(not_found.contains("last_error"));
}

TEST_CASE(
    "jobs_db: a jobs.db written before item progress existed opens, keeps its items and "
    "stores progress") {
    temp_file db_file("old.db");
    {
        // The first version's schema, as an older Harvest created it.
        sqlite3* raw = nullptr;
        REQUIRE(sqlite3_open(db_file.path.c_str(), &raw) == SQLITE_OK);
        const char* sql =
            "CREATE TABLE jobs (job_id TEXT PRIMARY KEY, owner TEXT NOT NULL, profile TEXT NOT "
            "NULL, callback_url TEXT NOT NULL, status TEXT NOT NULL, items INTEGER NOT NULL, "
            "created_at INTEGER NOT NULL, finished_at INTEGER NOT NULL DEFAULT 0, event_id TEXT "
            "NOT NULL DEFAULT '', webhook_state TEXT NOT NULL DEFAULT 'none');"
            "CREATE TABLE items (result_id TEXT PRIMARY KEY, job_id TEXT NOT NULL, idx INTEGER "
            "NOT NULL, input TEXT NOT NULL, url TEXT NOT NULL, status TEXT NOT NULL, data TEXT "
            "NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL "
            "DEFAULT 0);"
            "INSERT INTO jobs (job_id, owner, profile, callback_url, status, items, created_at) "
            "VALUES ('job_old', 'key_x', 'p', '', 'running', 2, 1);"
            "INSERT INTO items (result_id, job_id, idx, input, url, status, data, attempts) "
            "VALUES ('r1', 'job_old', 0, 'a', 'http://h/a', 'ok', '{\"id\":\"a\"}', 1);"
            "INSERT INTO items (result_id, job_id, idx, input, url, status) VALUES ('r2', "
            "'job_old', 1, 'b', 'http://h/b', 'queued');";
        REQUIRE(sqlite3_exec(raw, sql, nullptr, nullptr, nullptr) == SQLITE_OK);
        sqlite3_close(raw);
    }
    for (int open = 0; open < 2; ++open) {  // migrated once, then opened as it is
        service::jobs_db db(db_file.path.string());
        const auto stored = db.result("r1");
        REQUIRE(stored);
        CHECK(stored->status == "ok");
        CHECK(stored->data == R"({"id":"a"})");
        CHECK(stored->http_status == 0);
        CHECK(stored->last_error.empty());
        CHECK_FALSE(stored->render);  // an old item follows its job's `render`
        const auto line = boost::json::parse(service::result_line(*stored)).as_object();
        CHECK_FALSE(line.contains("http_status"));
        CHECK_FALSE(line.contains("last_error"));
        REQUIRE(db.unfinished_jobs().size() == 1);
        CHECK(db.queued_items("job_old", -1, 10).size() == 1);
    }
    service::jobs_db db(db_file.path.string());
    db.set_progress("r2", {1, 503, "", "backoff", 5});
    CHECK(db.result("r2")->status == "retrying");
    db.store_result("r2", "ok", R"({"id":"b"})", "", 2, 200, "");
    CHECK(db.result("r2")->http_status == 200);
    CHECK(db.job("job_old")->succeeded == 2);
}

TEST_CASE(
    "service config: keys and profiles through the crawl loader with errors at file:line:col") {
    const auto config = test_config();
    CHECK(config.api_keys_file == "/tmp/keys.txt");
    CHECK(config.max_items_per_job == 5);
    REQUIRE(config.profiles.count("product_json") == 1);
    CHECK(config.profiles.at("product_json").extract.size() == 1);
    CHECK(config.egress.allow == std::vector<std::string>{"127.0.0.1:8080"});
    try {
        config::parse_service_config(
            "api_keys_file: k\njobs_db: j\nprofiles:\n  p:\n"
            "    rate_limit: {per_secnd: 5}\n",
            "serve.yaml", "");
        FAIL("no error");
    } catch (const config::config_error& e) {
        CHECK_THAT(e.what(), Catch::StartsWith("serve.yaml:5:18:"));
        CHECK_THAT(e.what(), Catch::Contains("per_secnd"));
    }
    try {
        config::parse_service_config("api_keys_file: k\njobs_db: j\nlisten: nowhere\n",
                                     "serve.yaml", "");
        FAIL("no error");
    } catch (const config::config_error& e) {
        CHECK_THAT(e.what(), Catch::StartsWith("serve.yaml:3:9:"));
    }
}

TEST_CASE("service config: render: sets the browser pool, its errors at file:line:col") {
    const std::string head = "api_keys_file: k\njobs_db: j\nprofiles:\n  p: {}\n";
    // Unset: the crawl's defaults.
    const auto plain = config::parse_service_config(head, "serve.yaml", "/srv");
    CHECK(plain.render.browsers == harvest::crawl::render_pool_options{}.browsers);
    CHECK(plain.render.tabs_per_browser == harvest::crawl::render_pool_options{}.tabs_per_browser);
    CHECK(plain.render.chromium == harvest::crawl::render_pool_options{}.chromium);

    const auto set = config::parse_service_config(
        head +
            "render: {chromium: bin/chromium, browsers: 2, tabs_per_browser: 3, pages_per_tab: 50,"
            " max_rss: 1GiB, start_timeout: 40s, command_timeout: 5s, max_attempts: 2}\n",
        "serve.yaml", "/srv");
    CHECK(set.render.chromium == "/srv/bin/chromium");  // against the config's folder
    CHECK(set.render.browsers == 2);
    CHECK(set.render.tabs_per_browser == 3);
    CHECK(set.render.pages_per_tab == 50);
    CHECK(set.render.max_rss == (1ull << 30));
    CHECK(set.render.start_timeout == std::chrono::seconds(40));
    CHECK(set.render.command_timeout == std::chrono::seconds(5));
    CHECK(set.render.max_attempts == 2);

    const std::vector<std::pair<std::string, std::string>> bad{
        {"render: {tabs: 2}\n", "serve.yaml:5:10:"},             // unknown key, with a hint
        {"render: {browsers: 0}\n", "serve.yaml:5:20:"},         // at least 1
        {"render: {max_rss: lots}\n", "serve.yaml:5:19:"},       // not a size
        {"render: {start_timeout: -1s}\n", "serve.yaml:5:25:"},  // not a positive duration
        {"render: yes\n", "serve.yaml:5:9:"},                    // not a map
    };
    for (const auto& [line, where] : bad) {
        INFO(line);
        try {
            config::parse_service_config(head + line, "serve.yaml", "/srv");
            FAIL("no error");
        } catch (const config::config_error& e) {
            CHECK_THAT(e.what(), Catch::StartsWith(where));
        }
    }
}
