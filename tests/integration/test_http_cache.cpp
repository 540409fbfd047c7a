// http.cache against a real nginx (which sends ETag and Last-Modified for static files): the
// second crawl of a catalog asks conditionally and gets 304s (mode conditional), or asks
// nothing at all (mode replay); what nginx's access log says is what was really requested.

#include "tests/integration/chaos.hpp"
#include "tests/integration/support.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <memory>
#include <set>
#include <thread>

namespace {

using namespace harvest::test;
using namespace std::chrono_literals;
namespace json = boost::json;

struct cache_fixture {
    explicit cache_fixture(int products) : tmp("harvest-http-cache"), site(tmp / "site") {
        generate_catalog(site, {products, 3, 0.2});
        nginx = std::make_unique<nginx_server>(nginx_options{site, tmp / "nginx", std::nullopt, 1});
        for (const auto& line : read_lines(site / "asins.txt")) {
            if (!line.empty()) {
                asins.insert(line);
            }
        }
    }

    // The crawl of every product's JSON document, its state (and so its cache) in tmp/state.
    // `per_second`: the crawl's rate limit (0 = none).
    // `robots_txt`: engine.robots_txt (obey | ignore).
    std::string yaml(const std::string& cache, const std::string& output, int per_second = 0,
                     const std::string& robots_txt = "ignore") const {
        return "name: cache\n"
               "seeds:\n"
               "  - template: \"" +
               nginx->base_url() +
               "/api/products/{id}.json\"\n"
               "    values_file: " +
               (site / "asins.txt").string() +
               "\n"
               "engine: {concurrency: 16, per_host_concurrency: 16, threads: 2, robots_txt: " +
               robots_txt +
               "}\n"
               "http:\n"
               "  cache: " +
               cache +
               "\n"
               "rate_limit: {per_second: " +
               std::to_string(per_second) +
               ", burst: 1}\n"
               "retry: {max_attempts: 2, backoff: {strategy: none, base: 10ms, max: 10ms}}\n"
               "state: {dir: " +
               (tmp / "state").string() +
               "}\n"
               "extract:\n"
               "  - match: \"/api/products/\"\n"
               "    type: json\n"
               "    fields:\n"
               "      id: /asin\n"
               "      price: {pointer: /price, as: price}\n"
               "    required: [id]\n"
               "outputs:\n"
               "  - type: jsonl\n"
               "    path: " +
               (tmp / output).string() + "\n";
    }

    std::vector<std::string> run_args(const std::string& config_name) const {
        return {harvest_binary().string(), "run", (tmp / config_name).string()};
    }

    // Runs the crawl with this cache setting, writing `output`; returns its items.
    std::vector<json::object> crawl(const std::string& cache, const std::string& output,
                                    const std::string& robots_txt = "ignore") {
        const std::string config = output + ".yaml";
        write_file(tmp / config, yaml(cache, output, 0, robots_txt));
        const auto result = run_process(run_args(config), 120s);
        INFO(describe(result));
        REQUIRE(result.exit_code == 0);
        return read_jsonl(tmp / output);
    }

    // Status per product request in nginx's log since `from` (an index into it).
    std::map<int, int> statuses_since(std::size_t from) const {
        std::map<int, int> counts;
        const auto entries = nginx->access_entries();
        for (std::size_t i = from; i < entries.size(); ++i) {
            ++counts[entries[i].status];
        }
        return counts;
    }

    std::set<std::string> ids_of(const std::vector<json::object>& items) const {
        std::set<std::string> ids;
        for (const auto& item : items) {
            ids.insert(std::string(item.at("id").as_string()));
        }
        return ids;
    }

    temp_dir tmp;
    fs::path site;
    std::unique_ptr<nginx_server> nginx;
    std::set<std::string> asins;
};

std::size_t count_entry_files(const fs::path& dir) {
    std::size_t n = 0;
    if (fs::exists(dir)) {
        for (const auto& f : fs::recursive_directory_iterator(dir)) {
            n += f.is_regular_file() && f.path().extension() == ".entry" ? 1 : 0;
        }
    }
    return n;
}

// The error stream of the JSONL output `items` holds nothing (or was not made).
bool no_errors(const fs::path& items) {
    const fs::path errors = errors_path_for(items);
    return !fs::exists(errors) || read_lines(errors).empty();
}

}  // namespace

TEST_CASE(
    "http.cache conditional: the second crawl gets a 304 per product and emits its items "
    "again, unchanged",
    "[integration][http_cache]") {
    cache_fixture f(300);
    const auto first = f.crawl("{mode: conditional}", "first.jsonl");
    REQUIRE(f.ids_of(first) == f.asins);
    for (const auto& item : first) {
        CHECK_FALSE(item.contains("unchanged"));
    }
    // Stored in the state folder's cache (the default http.cache.dir).
    CHECK(count_entry_files(f.tmp / "state" / "cache") == f.asins.size());
    const auto first_log = f.nginx->access_entries();
    CHECK(f.statuses_since(0) == std::map<int, int>{{200, static_cast<int>(f.asins.size())}});

    const auto second = f.crawl("{mode: conditional}", "second.jsonl");
    CHECK(f.statuses_since(first_log.size()) ==
          std::map<int, int>{{304, static_cast<int>(f.asins.size())}});
    REQUIRE(f.ids_of(second) == f.asins);
    REQUIRE(second.size() == first.size());
    std::map<std::string, json::value> first_price;
    for (const auto& item : first) {
        first_price[std::string(item.at("id").as_string())] = item.at("price");
    }
    for (const auto& item : second) {
        INFO(json::serialize(item));
        CHECK(item.at("unchanged") == json::value(true));
        CHECK(item.at("status") == json::value(200));
        CHECK(json_equal(item.at("price"), first_price.at(std::string(item.at("id").as_string()))));
    }

    // unchanged: skip — the 304s emit nothing.
    const std::size_t before_skip = f.nginx->access_entries().size();
    const auto third = f.crawl("{mode: conditional, unchanged: skip}", "third.jsonl");
    CHECK(third.empty());
    CHECK(f.statuses_since(before_skip) ==
          std::map<int, int>{{304, static_cast<int>(f.asins.size())}});
}

TEST_CASE("http.cache conditional: a product that changed is fetched and emitted as new",
          "[integration][http_cache]") {
    cache_fixture f(40);
    const auto first = f.crawl("{mode: conditional}", "first.jsonl");
    REQUIRE(first.size() == f.asins.size());
    const std::string changed = *f.asins.begin();
    const fs::path doc = f.site / "api" / "products" / (changed + ".json");
    std::string body = read_file(doc);
    // A new mtime and size: a new ETag and Last-Modified. The .gz copy, if any, goes.
    fs::remove(f.site / "api" / "products" / (changed + ".json.gz"));
    write_file(doc, body + "\n");
    fs::last_write_time(doc, fs::file_time_type::clock::now() + 10s);

    const std::size_t before = f.nginx->access_entries().size();
    const auto second = f.crawl("{mode: conditional}", "second.jsonl");
    CHECK(f.statuses_since(before) ==
          std::map<int, int>{{200, 1}, {304, static_cast<int>(f.asins.size()) - 1}});
    REQUIRE(f.ids_of(second) == f.asins);
    for (const auto& item : second) {
        const bool is_changed = item.at("id").as_string() == changed;
        CHECK(item.contains("unchanged") == !is_changed);
    }
}

TEST_CASE("http.cache replay: the second crawl sends no request and yields the same items",
          "[integration][http_cache]") {
    cache_fixture f(200);
    // robots.txt obeyed: it must come from the cache too, or the host is closed to the crawl.
    const auto first = f.crawl("{mode: replay}", "first.jsonl", "obey");
    REQUIRE(f.ids_of(first) == f.asins);
    const std::size_t requests = f.nginx->access_entries().size();
    CHECK(requests == f.asins.size() + 1);
    f.nginx->stop();  // any request now fails: the items can only come from the cache

    const auto second = f.crawl("{mode: replay}", "second.jsonl", "obey");
    CHECK(f.nginx->access_entries().size() == requests);
    REQUIRE(second.size() == first.size());
    std::map<std::string, json::object> by_id;
    for (const auto& item : first) {
        by_id[std::string(item.at("id").as_string())] = item;
    }
    for (auto item : second) {
        auto want = by_id.at(std::string(item.at("id").as_string()));
        item.erase("fetched_at");
        want.erase("fetched_at");
        CHECK(json_equal(item, want));
    }
    CHECK(no_errors(f.tmp / "second.jsonl"));
}

TEST_CASE("http.cache: a crawl killed mid-write and a truncated entry do not break the next run",
          "[integration][http_cache]") {
    cache_fixture f(3000);
    const fs::path cache_dir = f.tmp / "state" / "cache";
    write_file(f.tmp / "killed.jsonl.yaml", f.yaml("{mode: conditional}", "killed.jsonl", 400));
    {
        background_harvest run({"run", (f.tmp / "killed.jsonl.yaml").string()},
                               f.tmp / "killed.log");
        // Killed once the cache is being written, not before (at 400/s, the crawl takes 7 s).
        for (int i = 0; i < 400 && count_entry_files(cache_dir) < 200; ++i) {
            std::this_thread::sleep_for(10ms);
        }
        REQUIRE(run.running());
        run.signal(SIGKILL);
        CHECK(run.wait(10s) == 128 + SIGKILL);
    }
    // One entry cut in half, as a write that was not renamed into place would leave it.
    fs::path victim;
    for (const auto& file : fs::recursive_directory_iterator(cache_dir)) {
        if (file.is_regular_file() && file.path().extension() == ".entry") {
            victim = file.path();
            break;
        }
    }
    REQUIRE(!victim.empty());
    const std::string whole = read_file(victim);
    write_file(victim, whole.substr(0, whole.size() / 2));
    const std::size_t stored = count_entry_files(cache_dir);

    const std::size_t before = f.nginx->access_entries().size();
    const auto items = f.crawl("{mode: conditional}", "after.jsonl");
    REQUIRE(f.ids_of(items) == f.asins);
    CHECK(no_errors(f.tmp / "after.jsonl"));
    const auto statuses = f.statuses_since(before);
    // Every intact entry was asked about again; the truncated one was fetched in full.
    CHECK(statuses.at(304) == static_cast<int>(stored) - 1);
    CHECK(statuses.at(200) == static_cast<int>(f.asins.size() - stored) + 1);
    CHECK(count_entry_files(cache_dir) == f.asins.size());
}

TEST_CASE("http.cache conditional: a 304 to a request that sent no validator is an error",
          "[integration][http_cache]") {
    temp_dir tmp("harvest-http-cache-304");
    chaos_origin origin(tmp / "origin");
    // /ok/ answers 200 without a validator (not stored); /status/304/ always 304.
    write_file(tmp / "cfg.yaml",
               "name: unasked\n"
               "seeds:\n"
               "  - url: " +
                   origin.url("/status/304/a") +
                   "\n"
                   "  - url: " +
                   origin.url("/ok/b") +
                   "\n"
                   "engine: {robots_txt: ignore}\n"
                   "http: {cache: {mode: conditional}}\n"
                   "retry: {max_attempts: 1}\n"
                   "extract:\n"
                   "  - {match: \"/\", type: json, fields: {id: /id}}\n"
                   "outputs:\n"
                   "  - {type: jsonl, path: out/items.jsonl}\n");
    const auto result =
        run_process({harvest_binary().string(), "run", (tmp / "cfg.yaml").string()}, 60s);
    INFO(describe(result));
    const auto items = read_jsonl(tmp / "out/items.jsonl");
    REQUIRE(items.size() == 1);
    CHECK(items[0].at("id") == json::value("b"));
    const auto errors = read_jsonl(errors_path_for(tmp / "out/items.jsonl"));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].at("url").as_string().ends_with("/status/304/a"));
    CHECK(errors[0].at("error") == json::value("protocol"));
    CHECK(json_int(errors[0].at("status")) == 304);
    CHECK(count_entry_files(tmp / ".harvest" / "unasked" / "cache") == 0);
}
