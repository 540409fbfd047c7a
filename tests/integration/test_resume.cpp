// Durable state: `harvest run` killed with SIGKILL at random moments and resumed with
// `--resume` loses nothing and writes nothing twice; SIGINT drains and exits 130.

#include "tests/integration/support.hpp"

#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <map>
#include <random>
#include <set>
#include <thread>

namespace {

using namespace harvest::test;
namespace json = boost::json;
using namespace std::chrono_literals;

struct resume_fixture {
    explicit resume_fixture(int products, int missing) : tmp("harvest-resume"), site(tmp / "site") {
        generate_catalog(site, {products, 3, 0.0});
        nginx = std::make_unique<nginx_server>(nginx_options{site, tmp / "nginx", {}, 1});
        auto ids = read_lines(site / "asins.txt");
        expected_ids.insert(ids.begin(), ids.end());
        for (int i = 0; i < missing; ++i) {
            const std::string id = "MISSING" + std::to_string(i);
            ids.insert(ids.begin() + static_cast<std::ptrdiff_t>((i * 7919) % ids.size()), id);
            missing_urls.insert(nginx->base_url() + "/api/products/" + id + ".json");
        }
        std::string values;
        for (const auto& id : ids) {
            values += id + "\n";
        }
        write_file(tmp / "values.txt", values);
        write_file(tmp / "crawl.yaml",
                   "name: resume\n"
                   "seeds:\n"
                   "  - template: \"" +
                       nginx->base_url() +
                       "/api/products/{id}.json\"\n"
                       "    values_file: values.txt\n"
                       "engine: {concurrency: 32, per_host_concurrency: 32, robots_txt: ignore}\n"
                       "rate_limit: {per_second: 2500, burst: 50}\n"
                       "extract:\n"
                       "  - match: \"/api/products/\"\n"
                       "    type: json\n"
                       "    fields: {id: /asin, title: /title, price: /price}\n"
                       "    required: [id]\n"
                       "outputs:\n"
                       "  - {type: jsonl, path: out/items.jsonl}\n"
                       "  - {type: csv, path: out/items.csv, columns: [id, price]}\n"
                       "  - {type: sqlite, path: out/items.db, table: products, key: id}\n"
                       "state: {dir: state}\n");
    }

    // Harvest is crawling, its signal handlers in place, once its first item is written. A
    // fixed 800 ms raced a slow start under ASan: the SIGINT came first, met the default action,
    // and the run died with no summary.
    void wait_until_crawling() const {
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (std::chrono::steady_clock::now() < until) {
            std::error_code ec;
            const auto size = fs::file_size(tmp / "out/items.jsonl", ec);
            if (!ec && size > 0) {
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }

    std::vector<std::string> run_args(bool resume) const {
        std::vector<std::string> args{"run",          (tmp / "crawl.yaml").string(),
                                      "--progress",   "never",
                                      "--stats-json", (tmp / "stats.json").string()};
        if (resume) {
            args.push_back("--resume");
        }
        return args;
    }

    // Every product exactly once in each output, every missing URL once in the error stream.
    void check_exactly_once() const {
        std::map<std::string, int> jsonl_ids;
        for (const auto& line : read_lines(tmp / "out/items.jsonl")) {
            auto item = json::parse(line).as_object();  // throws on a torn line
            ++jsonl_ids[std::string(item.at("id").as_string())];
        }
        std::size_t duplicates = 0;
        for (const auto& [id, count] : jsonl_ids) {
            duplicates += count > 1 ? 1 : 0;
        }
        CHECK(duplicates == 0);
        CHECK(jsonl_ids.size() == expected_ids.size());
        for (const auto& id : expected_ids) {
            if (jsonl_ids.count(id) == 0) {
                FAIL_CHECK("missing from the JSONL: " << id);
                break;
            }
        }
        const auto csv = read_lines(tmp / "out/items.csv");
        REQUIRE_FALSE(csv.empty());
        CHECK(csv.front() == "id,price");
        std::set<std::string> csv_ids;
        for (std::size_t i = 1; i < csv.size(); ++i) {
            csv_ids.insert(csv[i].substr(0, csv[i].find(',')));
        }
        CHECK(csv.size() - 1 == expected_ids.size());
        CHECK(csv_ids.size() == expected_ids.size());

        auto rows = run_process({"python3", "-c",
                                 "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); "
                                 "print(c.execute('select count(*), count(distinct id) from "
                                 "products').fetchone())",
                                 (tmp / "out/items.db").string()});
        CHECK(rows.exit_code == 0);
        CHECK(rows.out == "(" + std::to_string(expected_ids.size()) + ", " +
                              std::to_string(expected_ids.size()) + ")\n");

        std::map<std::string, int> failed;
        for (const auto& e : read_jsonl(tmp / "out/items.errors.jsonl")) {
            ++failed[std::string(e.at("url").as_string())];
            CHECK(e.at("error").as_string() == "status_4xx");
        }
        CHECK(failed.size() == missing_urls.size());
        for (const auto& [url, count] : failed) {
            CHECK(count == 1);
            CHECK(missing_urls.count(url) == 1);
        }
    }

    temp_dir tmp;
    fs::path site;
    std::unique_ptr<nginx_server> nginx;
    std::set<std::string> expected_ids;
    std::set<std::string> missing_urls;
};

}  // namespace

TEST_CASE("killed three times with SIGKILL, resumed, every product written exactly once",
          "[integration][resume]") {
    resume_fixture f(20000, 30);
    std::mt19937 rng(20261129);
    std::uniform_int_distribution<int> moment_ms(700, 2200);
    const fs::path log = f.tmp / "harvest.log";
    for (int kill_round = 0; kill_round < 3; ++kill_round) {
        background_harvest run(f.run_args(kill_round > 0), log);
        std::this_thread::sleep_for(std::chrono::milliseconds(moment_ms(rng)));
        INFO("round " << kill_round << "\n" << read_file(log));
        REQUIRE(run.running());  // the kill must land mid-crawl
        run.signal(SIGKILL);
        CHECK(run.wait(10s) == 128 + SIGKILL);
    }
    background_harvest last(f.run_args(true), log);
    const int status = last.wait(120s);
    INFO(read_file(log));
    REQUIRE(status == 0);
    f.check_exactly_once();
    // The resumed runs fetched only what was left: far fewer than four whole crawls.
    const auto counts = f.nginx->request_counts();
    std::size_t requests = 0;
    for (const auto& [uri, n] : counts) {
        requests += static_cast<std::size_t>(n);
    }
    CHECK(requests < 2 * (f.expected_ids.size() + f.missing_urls.size()));
}

TEST_CASE("SIGINT drains, exits 130, and --resume finishes the crawl exactly once",
          "[integration][resume]") {
    resume_fixture f(6000, 10);
    const fs::path log = f.tmp / "harvest.log";
    {
        background_harvest run(f.run_args(false), log);
        f.wait_until_crawling();
        REQUIRE(run.running());
        run.signal(SIGINT);
        CHECK(run.wait(30s) == 130);
        // The summary says how to go on, not that the crawl finished.
        const std::string said = read_file(log);
        INFO(said);
        CHECK(said.find("stopped (resume with --resume) after") != std::string::npos);
        CHECK(said.find("finished in") == std::string::npos);
    }
    // What the interrupted run wrote is whole: every line parses.
    for (const auto& line : read_lines(f.tmp / "out/items.jsonl")) {
        CHECK_NOTHROW(json::parse(line));
    }
    background_harvest resumed(f.run_args(true), log);
    INFO(read_file(log));
    REQUIRE(resumed.wait(60s) == 0);
    f.check_exactly_once();
}

TEST_CASE("a second SIGINT exits at once and the journal still resumes exactly once",
          "[integration][resume]") {
    resume_fixture f(6000, 10);
    const fs::path log = f.tmp / "harvest.log";
    {
        background_harvest run(f.run_args(false), log);
        f.wait_until_crawling();
        REQUIRE(run.running());
        run.signal(SIGINT);
        std::this_thread::sleep_for(50ms);  // two separate signals, not one coalesced
        run.signal(SIGINT);
        const auto sent = std::chrono::steady_clock::now();
        INFO(read_file(log));
        CHECK(run.wait(5s) == 130);
        CHECK(std::chrono::steady_clock::now() - sent < 1s);
    }
    background_harvest resumed(f.run_args(true), log);
    INFO(read_file(log));
    REQUIRE(resumed.wait(60s) == 0);
    f.check_exactly_once();
}
