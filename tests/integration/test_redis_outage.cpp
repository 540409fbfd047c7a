// Distributed crawls that outlive their Redis (issue 24): redis-server (AOF on) is stopped in the
// middle of a crawl and started again on the same port and folder 3 s later, while three
// `harvest run` workers crawl a 2,000-product catalog served by nginx. Every worker must ride the
// outage out (reconnect with backoff, hold its completions and links, flush them when Redis is
// back) and the crawl must end with every item written exactly once across the workers.

#include "tests/integration/observability.hpp"
#include "tests/integration/support.hpp"
#include "tests/integration/worker_process.hpp"
#include "tests/support/redis_server.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

namespace {

using namespace harvest::test;
namespace json = boost::json;

// The crawl every test here runs: 2,000 product pages, 250 requests a second for the cluster
// (Redis's GCRA), so about 8 s; `frontier_extra` adds keys under `frontier:`.
std::string outage_yaml(const std::string& name, const nginx_server& nginx, const fs::path& site,
                        const std::string& url, const std::string& frontier_extra,
                        const std::string& top_extra = "") {
    return "name: " + name +
           "\n"
           "seeds:\n"
           "  - template: \"" +
           nginx.base_url() +
           "/api/products/{id}.json\"\n"
           "    values_file: " +
           (site / "asins.txt").string() +
           "\n"
           "engine: {concurrency: 16, per_host_concurrency: 16, threads: 1, "
           "robots_txt: ignore}\n"
           "rate_limit: {per_second: 250, burst: 10}\n"
           "retry:\n"
           "  max_attempts: 3\n"
           "  backoff: {strategy: full_jitter, base: 50ms, max: 200ms}\n"
           "extract:\n"
           "  - match: \"/api/products/\"\n"
           "    type: json\n"
           "    fields:\n"
           "      id: /asin\n"
           "    required: [id]\n"
           "outputs:\n"
           "  - {type: jsonl, path: out/items.jsonl}\n" +
           top_extra +
           "frontier:\n"
           "  backend: redis\n"
           "  url: " +
           url + "\n" + frontier_extra;
}

// Items across the workers' outputs: how many lines, and how many distinct product ids.
struct item_tally {
    std::size_t items = 0;
    std::set<std::string> ids;
};

item_tally tally(const std::vector<std::unique_ptr<worker_process>>& workers) {
    item_tally t;
    for (const auto& w : workers) {
        for (const auto& item : w->items()) {
            ++t.items;
            if (const auto* id = item.if_contains("id"); id != nullptr && id->is_string()) {
                t.ids.emplace(id->get_string());
            }
        }
    }
    return t;
}

// Product pages nginx served more than once.
std::size_t refetches(const nginx_server& nginx, std::size_t* distinct = nullptr) {
    std::size_t product_urls = 0;
    std::size_t again = 0;
    for (const auto& [uri, n] : nginx.request_counts()) {
        if (uri.rfind("/api/products/", 0) == 0) {
            ++product_urls;
            again += static_cast<std::size_t>(n - 1);
        }
    }
    if (distinct != nullptr) {
        *distinct = product_urls;
    }
    return again;
}

std::string outage_replace_all(std::string s, const std::string& from, const std::string& to) {
    for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
        s.replace(pos, from.size(), to);
    }
    return s;
}

// Waits (at most 20 s) until the crawl's seeds are in Redis.
bool wait_seeded(const redis_server& redis, const std::string& name) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    const std::string key = "EXISTS harvest:" + name + ":seeded";
    while (redis.cli(key) != "1\n") {
        if (std::chrono::steady_clock::now() > give_up) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
}

// `count` workers w0, w1, ... with the same config, each in a folder of its own under `dir`.
std::vector<std::unique_ptr<worker_process>> start_workers(const std::string& yaml,
                                                           const fs::path& dir, int count) {
    std::vector<std::unique_ptr<worker_process>> workers;
    for (int i = 0; i < count; ++i) {
        const std::string name = "w" + std::to_string(i);
        workers.push_back(std::make_unique<worker_process>(yaml, dir / name, name));
    }
    return workers;
}

// Every worker exits 0 by `deadline` (its log's end shown when not).
void expect_all_finish(const std::vector<std::unique_ptr<worker_process>>& workers,
                       std::chrono::steady_clock::time_point deadline) {
    for (const auto& w : workers) {
        const int code = w->wait_until(deadline);
        INFO(tail(w->err()));
        CHECK(code == 0);
    }
}

}  // namespace

TEST_CASE("redis outage: a 3 s redis-server restart (AOF on) mid-crawl, every worker finishes",
          "[integration][redis]") {
    constexpr int products = 2000;
    constexpr int worker_count = 3;
    temp_dir tmp("harvest-redis-outage");
    const fs::path site = tmp / "site";
    generate_catalog(site, {products, 7, 0.2});
    nginx_server nginx(nginx_options{site, tmp / "nginx", {}, 2});
    redis_server redis(redis_server_options::persistent());

    // A 30 s lease outlives the outage: a live worker's requests are not handed out again, so
    // refetches come only from what the restart itself loses.
    const std::string yaml = outage_yaml("outage", nginx, site, redis.url(),
                                         "  lease: 30s\n  redis: {give_up_after: 30s}\n");
    auto workers = start_workers(yaml, tmp.path(), worker_count);

    // Once the seeds are in and some items were fetched, Redis goes away for 3 s.
    const auto started = std::chrono::steady_clock::now();
    REQUIRE(wait_seeded(redis, "outage"));
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    const auto fetched_before = nginx.request_counts().size();
    redis.stop();
    std::this_thread::sleep_for(std::chrono::seconds(3));
    redis.start_again();
    INFO("product pages requested before the restart: " << fetched_before);
    CHECK(fetched_before > 100);
    CHECK(fetched_before < static_cast<std::size_t>(products));  // the restart was mid-crawl

    const auto deadline = started + std::chrono::seconds(55);
    expect_all_finish(workers, deadline);

    // Every item exactly once across the workers' outputs.
    const auto t = tally(workers);
    CHECK(t.ids.size() == static_cast<std::size_t>(products));
    CHECK(t.items == static_cast<std::size_t>(products));
    // Refetches: product pages nginx served more than once, at most 2% of the crawl.
    std::size_t distinct = 0;
    const auto again = refetches(nginx, &distinct);
    INFO("items " << t.items << ", distinct " << t.ids.size() << ", refetches " << again);
    CHECK(distinct == static_cast<std::size_t>(products));
    CHECK(again <= static_cast<std::size_t>(products) / 50);
    WARN("redis outage: items " << t.items << ", distinct " << t.ids.size() << ", refetches "
                                << again << " of " << products);
}

namespace {

// VmRSS of a process in KiB (0 when it is gone).
std::size_t rss_kib(int pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            return std::stoul(line.substr(6));
        }
    }
    return 0;
}

// The value of a sample line `name value` (or `name{labels} value`) in a /metrics text.
std::optional<double> sample(const std::string& text, const std::string& series) {
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.rfind(series + " ", 0) == 0) {
            return std::stod(line.substr(series.size() + 1));
        }
    }
    return std::nullopt;
}

// A worker's /metrics ("" when it does not answer 200).
std::string outage_scrape(int port) {
    auto reply = observability::http_get(port, "/metrics");
    return reply.status == 200 ? std::move(reply.body) : std::string();
}

}  // namespace

TEST_CASE("redis outage: redis-server frozen (SIGSTOP) for 20 s, workers stay bounded and resume",
          "[integration][redis]") {
    constexpr int products = 2000;
    constexpr int worker_count = 2;
    temp_dir tmp("harvest-redis-frozen");
    const fs::path site = tmp / "site";
    generate_catalog(site, {products, 7, 0.2});
    nginx_server nginx(nginx_options{site, tmp / "nginx", {}, 2});
    redis_server redis;

    // A frozen Redis keeps its connections open: only command_timeout tells the workers it is
    // gone. The 60 s lease outlives the 20 s freeze.
    const int metrics_port = free_port();
    // A real Prometheus scrapes worker w0 (every second) through the whole run, started first
    // (it takes about 6 s): the dashboard's Redis row must show the freeze.
    observability::prometheus_server prometheus(tmp / "prometheus", metrics_port);
    REQUIRE(prometheus.wait_first_scrape());
    const double run_started = observability::now_seconds();
    const std::string frontier =
        "  lease: 60s\n  redis: {give_up_after: 60s, command_timeout: 2s}\n";
    std::vector<std::unique_ptr<worker_process>> workers;
    for (int i = 0; i < worker_count; ++i) {
        const std::string name = "w" + std::to_string(i);
        const std::string metrics =
            i == 0 ? "metrics: {listen: \"127.0.0.1:" + std::to_string(metrics_port) +
                         "\", linger: 0}\n"
                   : "";
        workers.push_back(std::make_unique<worker_process>(
            outage_yaml("frozen", nginx, site, redis.url(), frontier, metrics), tmp / name, name));
    }
    const auto started = std::chrono::steady_clock::now();
    REQUIRE(wait_seeded(redis, "frozen"));
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    const auto before = outage_scrape(metrics_port);
    CHECK(sample(before, "harvest_redis_up{crawl=\"frozen\",worker=\"w0\"}") == 1.0);

    std::vector<std::size_t> rss_at_pause;
    for (const auto& w : workers) {
        rss_at_pause.push_back(rss_kib(w->pid()));
    }
    const auto fetched_before = nginx.request_counts().size();
    redis.pause();
    std::vector<std::size_t> rss_peak(worker_count, 0);
    std::string during;
    for (int tick = 0; tick < 200; ++tick) {  // 20 s
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        for (int i = 0; i < worker_count; ++i) {
            rss_peak[i] = std::max(rss_peak[i], rss_kib(workers[i]->pid()));
        }
        if (tick == 150) {
            during = outage_scrape(metrics_port);  // 15 s in: the timeout has long been noticed
        }
    }
    const auto fetched_during = nginx.request_counts().size();
    redis.resume();
    INFO("product pages fetched before the freeze " << fetched_before << ", by its end "
                                                    << fetched_during);
    CHECK(fetched_before > 100);
    CHECK(fetched_during < static_cast<std::size_t>(products));  // the freeze held the crawl
    INFO(during);
    CHECK(sample(during, "harvest_redis_up{crawl=\"frozen\",worker=\"w0\"}") == 0.0);
    // What the worker holds for Redis (little here: the cluster-wide rate lives in Redis, so a
    // worker cut off from it fetches only what it was granted before).
    for (const char* kind : {"links", "completions"}) {
        INFO(kind);
        CHECK(sample(during, std::string("harvest_redis_buffered{crawl=\"frozen\",worker=\"w0\","
                                         "kind=\"") +
                                 kind + "\"}")
                  .has_value());
    }
    write_file(tmp / "during.prom", during);
    const auto lint = run_process(
        {"sh", "-c", "promtool check metrics < '" + (tmp / "during.prom").string() + "'"},
        std::chrono::seconds(30));
    INFO(lint.out << lint.err);
    CHECK(lint.exit_code == 0);

    // Memory stays bounded while Redis is frozen: a worker finishes what it leased and holds
    // its completions, it does not grow with the crawl.
    for (int i = 0; i < worker_count; ++i) {
        INFO("worker " << i << ": RSS at the freeze " << rss_at_pause[i] << " KiB, peak during it "
                       << rss_peak[i] << " KiB");
        CHECK(rss_peak[i] < rss_at_pause[i] + 32 * 1024);
    }

    std::this_thread::sleep_for(std::chrono::seconds(3));
    const auto after = outage_scrape(metrics_port);
    INFO(after);
    CHECK(sample(after, "harvest_redis_up{crawl=\"frozen\",worker=\"w0\"}") == 1.0);
    const auto reconnects =
        sample(after, "harvest_redis_reconnects_total{crawl=\"frozen\",worker=\"w0\"}");
    REQUIRE(reconnects.has_value());
    CHECK(*reconnects >= 1);

    const auto deadline = started + std::chrono::seconds(75);
    for (auto& w : workers) {
        const int code = w->wait_until(deadline);
        INFO(tail(w->err()));
        CHECK(code == 0);
        CHECK(w->err().find("lost Redis (redis did not answer in time)") != std::string::npos);
    }
    const auto t = tally(workers);
    std::size_t distinct = 0;
    const auto again = refetches(nginx, &distinct);
    INFO("items " << t.items << ", distinct " << t.ids.size() << ", refetches " << again);
    CHECK(t.ids.size() == static_cast<std::size_t>(products));
    CHECK(t.items == static_cast<std::size_t>(products));
    CHECK(distinct == static_cast<std::size_t>(products));
    CHECK(again <= static_cast<std::size_t>(products) / 50);

    // What Prometheus kept of the run: every metric of metrics.md's distributed section with
    // exactly its labels, the freeze as harvest_redis_up 0, and data in every panel of the
    // dashboard's Redis row.
    const double run_ended = observability::now_seconds();
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    std::vector<std::string> problems;
    const std::string sel = "{crawl=\"frozen\"}";
    const auto specs =
        observability::load_metric_specs(observability::metric_section::distributed_workers);
    CHECK(specs.size() == 3);
    for (const auto& spec : specs) {
        const auto series = prometheus.api("series", {{"match[]", spec.name + sel},
                                                      {"start", std::to_string(run_started - 5)},
                                                      {"end", std::to_string(run_ended + 5)}});
        if (series.as_array().empty()) {
            problems.push_back(spec.name + ": no series");
            continue;
        }
        for (const auto& one : series.as_array()) {
            std::set<std::string> labels;
            for (const auto& [name, value] : one.as_object()) {
                if (name != "__name__" && name != "job" && name != "instance") {
                    labels.insert(std::string(name));
                }
            }
            if (labels != spec.labels) {
                problems.push_back(spec.name + ": labels in " + json::serialize(one));
                break;
            }
        }
    }
    const auto lowest =
        prometheus.query("min_over_time(harvest_redis_up" + sel + "[10m])", run_ended);
    REQUIRE(lowest.size() == 1);
    CHECK(lowest[0].as_object().at("value").as_array()[1].as_string() == "0");
    std::vector<observability::dashboard_query> queries;
    std::vector<std::string> ignored;
    observability::collect_queries(
        json::parse(read_file(source_dir() / "deploy" / "grafana" / "harvest-dashboard.json"))
            .as_object()
            .at("panels")
            .as_array(),
        queries, ignored);
    std::size_t in_row = 0;
    for (const auto& q : queries) {
        if (q.row != observability::distributed_row) {
            continue;
        }
        ++in_row;
        const auto expr = observability::expand(q.expr, "frozen");
        bool has_points = false;
        for (const auto& series : prometheus.query_range(expr, run_started, run_ended, 1.0)) {
            has_points = has_points || !series.as_object().at("values").as_array().empty();
        }
        if (!has_points) {
            problems.push_back("no data: \"" + q.panel + "\" " + q.ref_id + ": " + expr);
        }
    }
    CHECK(in_row >= 3);
    for (const auto& p : problems) {
        UNSCOPED_INFO(p);
    }
    CHECK(problems.empty());
}

TEST_CASE("redis outage: Sentinel fails the primary over mid-crawl, workers follow",
          "[integration][redis]") {
    constexpr int products = 2000;
    constexpr int worker_count = 3;
    temp_dir tmp("harvest-redis-sentinel");
    const fs::path site = tmp / "site";
    generate_catalog(site, {products, 7, 0.2});
    nginx_server nginx(nginx_options{site, tmp / "nginx", {}, 2});
    redis_server primary;
    redis_server replica(redis_server_options::replica(primary.port()));
    redis_server sentinel(redis_server_options::sentinel("harvest", primary.port()));
    // The replica in sync and known to Sentinel (it learns of it from the primary) before the
    // crawl starts. (A failover to a replica that never synced is the restart-without-persistence
    // case below: the state is gone and the seeds are loaded again.)
    const auto ready = [&] {
        return replica.cli("INFO replication").find("master_link_status:up") != std::string::npos &&
               sentinel.cli("SENTINEL replicas harvest").find(std::to_string(replica.port())) !=
                   std::string::npos;
    };
    const auto known = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!ready() && std::chrono::steady_clock::now() < known) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    REQUIRE(ready());

    const std::string url =
        "redis-sentinel://127.0.0.1:" + std::to_string(sentinel.port()) + "/harvest";
    const std::string yaml =
        outage_yaml("failover", nginx, site, url,
                    "  lease: 30s\n  redis: {give_up_after: 60s, command_timeout: 2s}\n");
    auto workers = start_workers(yaml, tmp.path(), worker_count);
    const auto started = std::chrono::steady_clock::now();
    REQUIRE(wait_seeded(primary, "failover"));
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    const auto fetched_before = nginx.request_counts().size();
    primary.kill();  // a crash: Sentinel promotes the replica after down-after (1 s)

    const auto deadline = started + std::chrono::seconds(75);
    expect_all_finish(workers, deadline);
    INFO("product pages fetched before the failover " << fetched_before);
    CHECK(fetched_before > 100);
    CHECK(fetched_before < static_cast<std::size_t>(products));
    CHECK(replica.cli("ROLE").rfind("master", 0) == 0);

    // Asynchronous replication may lose the old primary's last writes: a lost completion means
    // a refetch (a second line for that item), never a lost item.
    for (const auto& w : workers) {
        UNSCOPED_INFO(tail(w->err(), 1500));
    }
    UNSCOPED_INFO("sentinel log: " << tail(read_file(sentinel.dir() / "redis.log"), 2500));
    UNSCOPED_INFO("replica log: " << tail(read_file(replica.dir() / "redis.log"), 2500));
    const auto t = tally(workers);
    std::size_t distinct = 0;
    const auto again = refetches(nginx, &distinct);
    INFO("items " << t.items << ", distinct " << t.ids.size() << ", refetches " << again);
    CHECK(t.ids.size() == static_cast<std::size_t>(products));
    CHECK(distinct == static_cast<std::size_t>(products));
    CHECK(t.items - t.ids.size() <= static_cast<std::size_t>(products) / 50);
    CHECK(again <= static_cast<std::size_t>(products) / 50);
    WARN("redis failover: items " << t.items << ", distinct " << t.ids.size() << ", refetches "
                                  << again << " of " << products);
}

TEST_CASE("redis outage: a restart without persistence loses the state; the seeds load again",
          "[integration][redis]") {
    constexpr int products = 600;
    constexpr int worker_count = 2;
    temp_dir tmp("harvest-redis-amnesia");
    const fs::path site = tmp / "site";
    generate_catalog(site, {products, 7, 0.2});
    nginx_server nginx(nginx_options{site, tmp / "nginx", {}, 2});
    redis_server redis;  // no AOF, no snapshots: a restart is an empty Redis

    // 100 requests a second: about 6 s, the restart lands after about a quarter of it.
    std::string yaml = outage_yaml("amnesia", nginx, site, redis.url(),
                                   "  lease: 30s\n  redis: {give_up_after: 30s}\n");
    yaml = outage_replace_all(yaml, "per_second: 250", "per_second: 100");
    auto workers = start_workers(yaml, tmp.path(), worker_count);
    const auto started = std::chrono::steady_clock::now();
    REQUIRE(wait_seeded(redis, "amnesia"));
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    const auto fetched_before = nginx.request_counts().size();
    redis.start_again();  // stops it first: everything it held is gone
    CHECK(redis.cli("DBSIZE") == "0\n");
    // Pages fetched before Redis was back: at most these are fetched twice.
    const auto fetched_by_restart = nginx.request_counts().size();

    const auto deadline = started + std::chrono::seconds(60);
    expect_all_finish(workers, deadline);
    bool reloaded = false;
    for (const auto& w : workers) {
        reloaded = reloaded || w->err().find("Redis lost the crawl's state") != std::string::npos;
    }
    CHECK(reloaded);
    // Every item at least once: what was fetched before the loss is fetched (and written) again.
    const auto t = tally(workers);
    INFO("fetched before the restart " << fetched_before << " (" << fetched_by_restart
                                       << " once it was back), items " << t.items << ", distinct "
                                       << t.ids.size());
    CHECK(fetched_before > 50);
    CHECK(fetched_before < static_cast<std::size_t>(products));
    CHECK(t.ids.size() == static_cast<std::size_t>(products));
    CHECK(t.items <= static_cast<std::size_t>(products) + fetched_by_restart);
}

namespace {

// Waits (at most 20 s) until the crawl's seeds are in a Redis Cluster (partition 0's marker;
// redis-cli -c follows the redirection to the node holding it).
bool wait_seeded(redis_cluster& cluster, const std::string& name) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    const std::string key = "-c EXISTS harvest:{" + name + ":0}:seeded";
    while (cluster.nodes().front()->cli(key) != "1\n") {
        if (std::chrono::steady_clock::now() > give_up) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
}

// The most product requests nginx logged within any `window` seconds.
std::size_t busiest_window(const nginx_server& nginx, double window) {
    std::vector<double> times;
    for (const auto& e : nginx.access_entries()) {
        if (e.uri.rfind("/api/products/", 0) == 0) {
            times.push_back(e.time);
        }
    }
    std::sort(times.begin(), times.end());
    std::size_t worst = 0;
    for (std::size_t i = 0, j = 0; i < times.size(); ++i) {
        while (j < times.size() && times[j] < times[i] + window) {
            ++j;
        }
        worst = std::max(worst, j - i);
    }
    return worst;
}

}  // namespace

TEST_CASE("redis cluster: 3 workers on a 3-primary Redis Cluster, every item once, one rate",
          "[integration][redis][cluster]") {
    constexpr int products = 2000;
    constexpr int worker_count = 3;
    temp_dir tmp("harvest-redis-cluster");
    const fs::path site = tmp / "site";
    generate_catalog(site, {products, 7, 0.2});
    nginx_server nginx(nginx_options{site, tmp / "nginx", {}, 2});
    redis_cluster cluster(3, 1);  // six loopback nodes: three primaries, a replica each

    const std::string yaml = outage_yaml("sharded", nginx, site, cluster.url(), "  lease: 30s\n");
    auto workers = start_workers(yaml, tmp.path(), worker_count);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    expect_all_finish(workers, deadline);
    const auto t = tally(workers);
    std::size_t distinct = 0;
    const auto again = refetches(nginx, &distinct);
    INFO("items " << t.items << ", distinct " << t.ids.size() << ", refetches " << again);
    CHECK(t.ids.size() == static_cast<std::size_t>(products));
    CHECK(t.items == static_cast<std::size_t>(products));
    CHECK(distinct == static_cast<std::size_t>(products));
    CHECK(again == 0);
    // The one host's rate (250/s, burst 10) held for the three workers together, as nginx saw
    // the requests: its GCRA lives in one partition, on one primary. Redis grants by its clock;
    // nginx logs when each request ended, up to `jitter` later for one than for another (50 ms:
    // 12 requests at this rate; three workers each at the rate would be 500 more a second).
    constexpr double jitter = 0.05;
    for (double window : {1.0, 2.0, 5.0}) {
        const auto worst = busiest_window(nginx, window);
        INFO("window " << window << " s: at most " << worst << " requests");
        CHECK(static_cast<double>(worst) <= 250 * (window + jitter) + 10);
    }
    // The crawl's keys are on every primary.
    for (auto& node : cluster.nodes()) {
        if (node->cli("ROLE").rfind("master", 0) == 0) {
            INFO("primary " << node->port());
            CHECK(std::stoi(node->cli("DBSIZE")) > 0);
        }
    }
}

TEST_CASE("redis cluster: a primary killed mid-crawl, its replica takes over, workers follow",
          "[integration][redis][cluster]") {
    constexpr int products = 2000;
    constexpr int worker_count = 3;
    temp_dir tmp("harvest-redis-cluster-failover");
    const fs::path site = tmp / "site";
    generate_catalog(site, {products, 7, 0.2});
    nginx_server nginx(nginx_options{site, tmp / "nginx", {}, 2});
    redis_cluster cluster(3, 1);
    // Replicas in sync before the crawl starts (a failover to a replica that never synced loses
    // the shard's state: the seeds are loaded again, tested with one server above).
    const auto synced = [&] {
        for (auto& node : cluster.nodes()) {
            const std::string role = node->cli("ROLE");
            if (role.rfind("slave", 0) == 0 && role.find("connected") == std::string::npos) {
                return false;
            }
        }
        return true;
    };
    const auto known = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!synced() && std::chrono::steady_clock::now() < known) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    REQUIRE(synced());

    const std::string yaml =
        outage_yaml("shardfail", nginx, site, cluster.url(),
                    "  lease: 30s\n  redis: {give_up_after: 60s, command_timeout: 2s}\n");
    auto workers = start_workers(yaml, tmp.path(), worker_count);
    const auto started = std::chrono::steady_clock::now();
    REQUIRE(wait_seeded(cluster, "shardfail"));
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    const auto fetched_before = nginx.request_counts().size();
    // The primary of partition 0 (the seeding state) crashes; the cluster promotes its replica
    // after the node timeout (2 s).
    const int slot =
        std::stoi(cluster.nodes().front()->cli("CLUSTER KEYSLOT harvest:{shardfail:0}:seeded"));
    auto* primary = cluster.primary_of(slot);
    REQUIRE(primary != nullptr);
    primary->kill();

    const auto deadline = started + std::chrono::seconds(75);
    expect_all_finish(workers, deadline);
    INFO("product pages fetched before the failover " << fetched_before);
    CHECK(fetched_before > 100);
    CHECK(fetched_before < static_cast<std::size_t>(products));
    auto* promoted = cluster.primary_of(slot);
    CHECK(promoted != nullptr);
    CHECK(promoted != primary);

    // Every worker lost the shard and found it again on the promoted replica.
    for (const auto& w : workers) {
        INFO(tail(w->err(), 1500));
        CHECK(w->err().find("lost Redis") != std::string::npos);
        CHECK(w->err().find("Redis is back") != std::string::npos);
    }
    // As with Sentinel: asynchronous replication may lose the last writes of the shard that
    // failed over; a lost completion means a refetch, never a lost item.
    const auto t = tally(workers);
    std::size_t distinct = 0;
    const auto again = refetches(nginx, &distinct);
    INFO("items " << t.items << ", distinct " << t.ids.size() << ", refetches " << again);
    CHECK(t.ids.size() == static_cast<std::size_t>(products));
    CHECK(distinct == static_cast<std::size_t>(products));
    CHECK(t.items - t.ids.size() <= static_cast<std::size_t>(products) / 50);
    CHECK(again <= static_cast<std::size_t>(products) / 50);
    WARN("redis cluster failover: items " << t.items << ", distinct " << t.ids.size()
                                          << ", refetches " << again << " of " << products);
}
