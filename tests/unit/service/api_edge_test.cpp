// The bulk API's edge (issue 17, items 1, 6 and 9) through api::handle over a real jobs_db file:
// paged results with a next cursor, URL and callback_url length caps, callbacks refused without
// a webhook secret, and jobs.db created readable by its owner only.

#include "config/service_config.hpp"
#include "service/api.hpp"
#include "service/api_server.hpp"
#include "service/egress_guard.hpp"
#include "service/jobs_db.hpp"
#include "service/signing.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace harvest;

namespace {

struct temp_db {
    fs::path path;
    explicit temp_db(const std::string& name)
        : path(fs::temp_directory_path() /
               ("harvest-api-edge-" + std::to_string(::getpid()) + "-" + name)) {
        remove();
    }
    ~temp_db() { remove(); }
    void remove() const {
        fs::remove(path);
        fs::remove(path.string() + "-wal");
        fs::remove(path.string() + "-shm");
    }
};

config::service_config edge_config(bool with_secret) {
    auto config = config::parse_service_config(R"(
api_keys_file: keys.txt
jobs_db: jobs.db
max_items_per_job: 5000
submit_rate_limit: {per_second: 1000, burst: 1000}
profiles:
  p:
    extract: [{match: "/", type: json, fields: {id: /id}}]
egress: {deny_private: true}
)",
                                               "serve.yaml", "/tmp");
    if (with_secret) {
        config.webhook.secret = "whsec-unit";
    }
    return config;
}

struct api_fixture {
    explicit api_fixture(const std::string& name, bool with_secret = true)
        : file(name),
          config(edge_config(with_secret)),
          db(file.path.string()),
          keys({"alpha"}),
          guard(config.egress),
          handler(config, db, keys, guard, {}) {}

    service::api_response call(const std::string& method, const std::string& target,
                               const std::string& body = {}) {
        service::api_request r;
        r.method = method;
        r.target = target;
        r.authorization = "Bearer alpha";
        r.body = body;
        return handler.handle(r);
    }

    temp_db file;
    config::service_config config;
    service::jobs_db db;
    service::api_keys keys;
    service::egress_guard guard;
    service::api handler;
};

std::string message_of(const service::api_response& r) {
    return std::string(boost::json::parse(r.body).at("error").at("message").as_string());
}

std::string header_of(const service::api_response& r, const std::string& name) {
    for (const auto& [n, v] : r.headers) {
        if (n == name) {
            return v;
        }
    }
    return {};
}

std::vector<std::string> lines_of(const std::string& body) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < body.size()) {
        const auto end = body.find('\n', start);
        lines.push_back(body.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}

std::string urls_body(int count, const std::string& extra = {}) {
    std::string body = R"({"profile":"p","urls":[)";
    for (int i = 0; i < count; ++i) {
        body += (i == 0 ? "\"" : ",\"") + std::string("http://shop.example/item/") +
                std::to_string(i) + "\"";
    }
    return body + "]" + extra + "}";
}

}  // namespace

TEST_CASE("api edge: results are paged with limit and a next cursor; no query is page one",
          "[unit][service]") {
    api_fixture f("paging.db");
    auto submitted = f.call("POST", "/v1/jobs", urls_body(2500));
    REQUIRE(submitted.status == 202);
    const std::string job =
        std::string(boost::json::parse(submitted.body).at("job_id").as_string());
    const std::string results = "/v1/jobs/" + job + "/results";

    // No query: the first page of the default size (5000), here the whole job, and no cursor.
    auto whole = f.call("GET", results);
    REQUIRE(whole.status == 200);
    CHECK(lines_of(whole.body).size() == 2500);
    CHECK(header_of(whole, "Harvest-Next-Cursor").empty());

    // A job larger than a page: the first 5000 and a cursor to the rest.
    f.config.max_items_per_job = 6000;
    auto big = f.call("POST", "/v1/jobs", urls_body(6000));
    REQUIRE(big.status == 202);
    const std::string big_results =
        "/v1/jobs/" + std::string(boost::json::parse(big.body).at("job_id").as_string()) +
        "/results";
    auto first = f.call("GET", big_results);
    CHECK(lines_of(first.body).size() == 5000);
    const auto next = header_of(first, "Harvest-Next-Cursor");
    REQUIRE_FALSE(next.empty());
    auto rest = f.call("GET", big_results + "?cursor=" + next);
    CHECK(lines_of(rest.body).size() == 1000);
    CHECK(header_of(rest, "Harvest-Next-Cursor").empty());

    // Walk every page with limit=700: each item once, in submission order, then no cursor.
    std::vector<std::string> inputs;
    std::string cursor;
    int pages = 0;
    for (; pages < 10; ++pages) {
        auto page =
            f.call("GET", results + "?limit=700" + (cursor.empty() ? "" : "&cursor=" + cursor));
        REQUIRE(page.status == 200);
        for (const auto& line : lines_of(page.body)) {
            inputs.emplace_back(boost::json::parse(line).at("input").as_string());
        }
        cursor = header_of(page, "Harvest-Next-Cursor");
        if (cursor.empty()) {
            break;
        }
    }
    CHECK(pages == 3);  // 700 + 700 + 700 + 400
    REQUIRE(inputs.size() == 2500);
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        REQUIRE(inputs[i] == "http://shop.example/item/" + std::to_string(i));
    }

    // status filter and cursor together.
    auto failed = f.call("GET", results + "?status=queued&limit=5");
    CHECK(lines_of(failed.body).size() == 5);

    // Out-of-range and malformed parameters: 400 naming the parameter.
    CHECK(f.call("GET", results + "?limit=0").status == 400);
    CHECK(f.call("GET", results + "?limit=5001").status == 400);
    CHECK_THAT(message_of(f.call("GET", results + "?limit=5001")), Catch::Contains("limit"));
    CHECK(f.call("GET", results + "?cursor=abc").status == 400);
    CHECK(f.call("GET", results + "?nope=1").status == 400);
}

TEST_CASE("api edge: a page of large items ends at 8 MiB, one item past it at most",
          "[unit][service]") {
    api_fixture f("bytes.db");
    auto submitted = f.call("POST", "/v1/jobs", urls_body(10));
    REQUIRE(submitted.status == 202);
    const std::string job =
        std::string(boost::json::parse(submitted.body).at("job_id").as_string());
    // Ten results of 3 MiB each (as a runner without max_item_bytes stored them): 30 MiB.
    const std::string data = "\"" + std::string(3u << 20, 'x') + "\"";
    for (const auto& item : f.db.results(job)) {
        f.db.store_result(item.result_id, "ok", data, "", 1, 200);
    }
    std::size_t items = 0;
    std::size_t largest_page = 0;
    std::string cursor;
    for (int page = 0; page < 20; ++page) {
        auto answer = f.call(
            "GET", "/v1/jobs/" + job + "/results" + (cursor.empty() ? "" : "?cursor=" + cursor));
        REQUIRE(answer.status == 200);
        items += lines_of(answer.body).size();
        largest_page = std::max(largest_page, answer.body.size());
        cursor = header_of(answer, "Harvest-Next-Cursor");
        if (cursor.empty()) {
            break;
        }
    }
    CHECK(items == 10);
    INFO("largest page: " << largest_page << " bytes");
    CHECK(largest_page <= (8u << 20) + (3u << 20) + 4096);  // 3 items: 9 MiB and their fields
}

TEST_CASE("api edge: URL and callback_url lengths are capped at submission", "[unit][service]") {
    api_fixture f("caps.db");
    const std::string long_url = "http://shop.example/" + std::string(9000, 'a');
    auto r = f.call("POST", "/v1/jobs",
                    R"({"profile":"p","urls":["http://shop.example/",")" + long_url + "\"]}");
    CHECK(r.status == 400);
    CHECK_THAT(message_of(r), Catch::Contains("urls[1]: longer than 8192 bytes"));

    const std::string long_callback = "http://hooks.example/" + std::string(3000, 'c');
    r = f.call("POST", "/v1/jobs", urls_body(1, R"(,"callback_url":")" + long_callback + "\""));
    CHECK(r.status == 400);
    CHECK_THAT(message_of(r), Catch::Contains("callback_url: longer than 2048 bytes"));

    // At the caps: accepted.
    const std::string at_cap = "http://shop.example/" + std::string(8192 - 20, 'a');
    REQUIRE(at_cap.size() == 8192);
    CHECK(f.call("POST", "/v1/jobs", R"({"profile":"p","urls":[")" + at_cap + "\"]}").status ==
          202);
}

TEST_CASE("api edge: a callback_url is refused when the service has no webhook secret",
          "[unit][service]") {
    api_fixture f("nosecret.db", false);
    auto r =
        f.call("POST", "/v1/jobs", urls_body(1, R"(,"callback_url":"http://hooks.example/h")"));
    CHECK(r.status == 400);
    CHECK_THAT(message_of(r), Catch::Contains("callback_url: this service has no webhook secret"));
    // Without a callback the same service takes the job.
    CHECK(f.call("POST", "/v1/jobs", urls_body(1)).status == 202);
}

TEST_CASE("jobs_db: a new database file is created readable by its owner only (0600)",
          "[unit][service]") {
    temp_db file("mode.db");
    const auto old_umask = ::umask(022);
    {
        service::jobs_db db(file.path.string());
        service::job_row job;
        job.job_id = "job_1";
        job.owner = "key_x";
        job.profile = "p";
        job.status = "queued";
        job.created_at_ms = 1;
        db.insert_job(job, {"a"}, {"http://h/a"}, {"r1"}, "", "");
        struct stat st {};
        REQUIRE(::stat(file.path.c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0600);
        // The WAL and shared-memory files SQLite creates beside it take the same mode.
        for (const char* suffix : {"-wal", "-shm"}) {
            INFO(suffix);
            struct stat side {};
            if (::stat((file.path.string() + suffix).c_str(), &side) == 0) {
                CHECK((side.st_mode & 0777) == 0600);
            }
        }
    }
    ::umask(old_umask);
}

TEST_CASE("listener: the service config's listener keys reach the API server's limits",
          "[unit][service]") {
    const std::string base = R"(
api_keys_file: keys.txt
jobs_db: jobs.db
max_body: 1MiB
profiles:
  p:
    extract: [{match: "/", type: json, fields: {id: /id}}]
)";
    const auto defaults =
        service::api_server_limits::from(config::parse_service_config(base, "serve.yaml", "/tmp"));
    CHECK(defaults.header_timeout == std::chrono::seconds(10));
    CHECK(defaults.max_connections == 1024);
    CHECK(defaults.max_connections_per_ip == 64);
    CHECK(defaults.reserved_connections == 64);
    CHECK(defaults.body_limit == (1u << 20));

    const auto set = service::api_server_limits::from(config::parse_service_config(
        base + "listener: {header_timeout: 2s, max_connections: 100, max_connections_per_ip: 10, "
               "reserved_connections: 8}\n",
        "serve.yaml", "/tmp"));
    CHECK(set.header_timeout == std::chrono::seconds(2));
    CHECK(set.max_connections == 100);
    CHECK(set.max_connections_per_ip == 10);
    CHECK(set.reserved_connections == 8);

    for (const char* bad :
         {"listener: {reserved_connections: 100, max_connections: 100}\n",
          "listener: {max_connections: 10, max_connections_per_ip: 11}\n",
          "listener: {header_timeout: 0s}\n", "listener: {header_timeot: 1s}\n"}) {
        INFO(bad);
        CHECK_THROWS(config::parse_service_config(base + bad, "serve.yaml", "/tmp"));
    }
}
