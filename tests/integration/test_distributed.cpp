// Distributed crawls (frontier.backend: redis): several `harvest run` processes with the same
// config share one crawl through a real redis-server started by the test, against nginx serving
// a generated catalog (the chaos origin for the shared breaker). Checked against nginx's access
// log: what was really requested, and when.

#include "tests/integration/chaos.hpp"
#include "tests/integration/support.hpp"
#include "tests/integration/worker_process.hpp"
#include "tests/support/redis_server.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <thread>

namespace {

using namespace harvest::test;
namespace json = boost::json;

struct cluster_fixture {
    explicit cluster_fixture(int products) : tmp("harvest-distributed"), site(tmp / "site") {
        generate_catalog(site, {products, 7, 0.2});
        nginx = std::make_unique<nginx_server>(nginx_options{site, tmp / "nginx", {}, 2});
        for (const auto& line : read_lines(site / "asins.txt")) {
            if (!line.empty()) {
                asins.push_back(line);
            }
        }
    }

    // The same YAML for every worker, as users start it on N machines (each worker gets a copy in
    // its own folder: relative output paths resolve against the config's folder).
    std::string make_config(const std::string& name, const std::string& lease,
                            const std::string& rate_limit, int concurrency) {
        std::string yaml = "name: " + name +
                           "\n"
                           "seeds:\n"
                           "  - template: \"" +
                           nginx->base_url() +
                           "/api/products/{id}.json\"\n"
                           "    values_file: " +
                           (site / "asins.txt").string() +
                           "\n"
                           "engine:\n"
                           "  concurrency: " +
                           std::to_string(concurrency) +
                           "\n"
                           "  per_host_concurrency: " +
                           std::to_string(concurrency) +
                           "\n"
                           "  threads: 1\n"
                           "  robots_txt: ignore\n"
                           "rate_limit: " +
                           rate_limit +
                           "\n"
                           "retry:\n"
                           "  max_attempts: 3\n"
                           "  backoff: {strategy: full_jitter, base: 50ms, max: 200ms}\n"
                           "extract:\n"
                           "  - match: \"/api/products/\"\n"
                           "    type: json\n"
                           "    fields:\n"
                           "      id: /asin\n"
                           "      price: {pointer: /price, as: price}\n"
                           "    required: [id]\n"
                           "outputs:\n"
                           "  - type: jsonl\n"
                           "    path: out/items.jsonl\n"
                           "frontier:\n"
                           "  backend: redis\n"
                           "  url: " +
                           redis.url() +
                           "\n"
                           "  lease: " +
                           lease + "\n";
        return yaml;
    }

    // Every ASIN found in the workers' outputs together, and how many items there were.
    std::pair<std::set<std::string>, std::size_t> union_of(
        const std::vector<std::unique_ptr<worker_process>>& workers) const {
        std::set<std::string> ids;
        std::size_t items = 0;
        for (const auto& w : workers) {
            for (const auto& item : w->whole_items()) {
                ++items;
                if (const auto* id = item.if_contains("id"); id != nullptr && id->is_string()) {
                    ids.emplace(id->get_string());
                }
            }
        }
        return {ids, items};
    }

    temp_dir tmp;
    fs::path site;
    redis_server redis;
    std::unique_ptr<nginx_server> nginx;
    std::vector<std::string> asins;
};

// A crawl of a chaos origin's /ok/-style pages by Redis workers: `urls` in a urls_file under
// `dir`, JSON items with `id`, jsonl output, the worker settings in `engine` (a flow map).
std::string chaos_cluster_yaml(const std::string& name, const fs::path& dir,
                               const std::vector<std::string>& urls, const std::string& engine,
                               const redis_server& redis) {
    std::string seeds;
    for (const auto& url : urls) {
        seeds += url + "\n";
    }
    write_file(dir / "urls.txt", seeds);
    return "name: " + name + "\nseeds:\n  - urls_file: " + (dir / "urls.txt").string() +
           "\nengine: " + engine +
           "\n"
           "rate_limit: {per_second: 0, burst: 1}\n"
           "extract:\n"
           "  - match: \".\"\n"
           "    type: json\n"
           "    fields:\n"
           "      id: /id\n"
           "    required: [id]\n"
           "outputs:\n"
           "  - type: jsonl\n"
           "    path: out/items.jsonl\n"
           "frontier:\n"
           "  backend: redis\n"
           "  url: " +
           redis.url() + "\n  lease: 60s\n";
}

// Starts one worker per name with the same config, waits for each (60 s at most), checks it
// exited 0, and returns every worker's items in the order of `names`.
std::vector<std::vector<json::object>> run_workers(const std::string& yaml, const fs::path& dir,
                                                   const std::vector<std::string>& names) {
    std::vector<std::unique_ptr<worker_process>> workers;
    for (const auto& name : names) {
        workers.push_back(std::make_unique<worker_process>(yaml, dir / name, name));
    }
    std::vector<std::vector<json::object>> items;
    for (auto& w : workers) {
        const int code = w->wait(std::chrono::seconds(60));
        INFO(tail(w->err()));
        CHECK(code == 0);
        items.push_back(w->items());
    }
    return items;
}

// nginx's $msec (first field of the fixture's log format) of every product request, in seconds.
std::vector<double> product_request_times(const nginx_server& nginx) {
    std::vector<double> times;
    for (const auto& e : nginx.access_entries()) {
        if (e.uri.rfind("/api/products/", 0) == 0) {
            times.push_back(e.time);
        }
    }
    std::sort(times.begin(), times.end());
    return times;
}

}  // namespace

TEST_CASE("distributed: 3 workers share the 20,000-product catalog, each URL fetched once",
          "[integration][redis]") {
    constexpr int products = 20000;
    cluster_fixture f(products);
    auto config = f.make_config("shared", "60s", "{per_second: 0, burst: 1}", 64);
    std::vector<std::unique_ptr<worker_process>> workers;
    for (int i = 0; i < 3; ++i) {
        workers.push_back(std::make_unique<worker_process>(
            config, f.tmp / ("w" + std::to_string(i)), "w" + std::to_string(i)));
    }
    for (auto& w : workers) {
        const int code = w->wait(std::chrono::seconds(180));
        INFO(tail(w->err()));
        REQUIRE(code == 0);
    }
    auto [ids, items] = f.union_of(workers);
    CHECK(ids.size() == static_cast<std::size_t>(products));
    CHECK(items == static_cast<std::size_t>(products));  // nobody wrote an item twice
    // Every worker did a share of the work.
    for (auto& w : workers) {
        INFO(tail(w->err()));
        CHECK(w->items().size() > products / 10);
    }
    auto counts = f.nginx->request_counts();
    std::size_t product_urls = 0;
    std::size_t twice = 0;
    for (const auto& [uri, n] : counts) {
        if (uri.rfind("/api/products/", 0) == 0) {
            ++product_urls;
            twice += n > 1 ? 1 : 0;
        }
    }
    CHECK(product_urls == static_cast<std::size_t>(products));
    CHECK(twice == 0);  // the 60 s lease never expired: no re-delivery, so nothing twice
    // Each worker's stats name it.
    for (int i = 0; i < 3; ++i) {
        auto stats = json::parse(read_file(f.tmp / ("w" + std::to_string(i)) / "stats.json"));
        CHECK(stats.as_object().at("worker") == json::value("w" + std::to_string(i)));
    }
    // Seeds were loaded once, by one worker.
    int seeders = 0;
    for (auto& w : workers) {
        seeders += w->err().find("seeds of crawl") != std::string::npos ? 1 : 0;
    }
    CHECK(seeders == 1);
}

TEST_CASE("distributed: kill -9 of a worker mid-crawl, its leases are re-delivered after lease",
          "[integration][redis]") {
    constexpr int products = 20000;
    cluster_fixture f(products);
    // No rate limit: each worker keeps a few hundred leased requests in its local frontier, so
    // a worker killed mid-crawl certainly strands some (with a rate limit a worker holds only
    // what it is sending at that instant).
    auto config = f.make_config("killed", "3s", "{per_second: 0, burst: 1}", 8);
    std::vector<std::unique_ptr<worker_process>> workers;
    for (int i = 0; i < 3; ++i) {
        workers.push_back(std::make_unique<worker_process>(
            config, f.tmp / ("w" + std::to_string(i)), "w" + std::to_string(i)));
    }
    // Once the seeds are in, every worker is leasing: kill worker 0 shortly after.
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (f.redis.cli("EXISTS harvest:killed:seeded") != "1\n" &&
           std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const std::string held = f.redis.cli("ZCARD harvest:killed:inflight");
    workers[0]->kill_hard();
    const auto killed_at = std::chrono::steady_clock::now();
    CHECK(workers[0]->wait(std::chrono::seconds(10)) == 128 + SIGKILL);
    bool redelivered = false;
    for (std::size_t i = 1; i < workers.size(); ++i) {
        const int code = workers[i]->wait(std::chrono::seconds(120));
        INFO(tail(workers[i]->err()));
        REQUIRE(code == 0);
        redelivered |=
            workers[i]->err().find("expired leases handed out again") != std::string::npos;
    }
    // The survivors could not finish before the dead worker's leases expired.
    CHECK(std::chrono::steady_clock::now() - killed_at >= std::chrono::seconds(3));
    CHECK(redelivered);
    auto [ids, items] = f.union_of(workers);
    CHECK(ids.size() == static_cast<std::size_t>(products));
    // Every product was requested; only leases of the dead worker could be requested twice.
    auto counts = f.nginx->request_counts();
    std::size_t product_urls = 0;
    std::size_t extra = 0;
    for (const auto& [uri, n] : counts) {
        if (uri.rfind("/api/products/", 0) == 0) {
            ++product_urls;
            extra += static_cast<std::size_t>(n - 1);
        }
    }
    CHECK(product_urls == static_cast<std::size_t>(products));
    INFO("leases held in the cluster at the kill: " << held);
    // Fetched twice: what the dead worker had in flight (8) or had fetched without its
    // completion reaching Redis yet (completions go in batches, so these are not bounded by its
    // 256 local leases: under ASan 311 were seen). All of them were leases of the cluster at the
    // kill, counted just before it; the few taken in between are within the slack of 8.
    CHECK(extra <= std::stoul(held) + 8);
    CHECK(held != "0\n");
}

TEST_CASE("distributed: kill -9 of the seeding worker mid-seeding, another worker seeds again",
          "[integration][redis]") {
    constexpr int products = 2000;
    constexpr int repeats = 100;
    cluster_fixture f(products);
    // A urls_file of every product URL `repeats` times: 200,000 seeds to stream, only `products`
    // distinct, so seeding takes long enough to be killed in the middle and the crawl stays small.
    const fs::path urls = f.tmp / "urls.txt";
    {
        std::string text;
        for (int r = 0; r < repeats; ++r) {
            for (const auto& asin : f.asins) {
                text += f.nginx->base_url() + "/api/products/" + asin + ".json\n";
            }
        }
        write_file(urls, text);
    }
    std::string config = f.make_config("seedkill", "2s", "{per_second: 0, burst: 1}", 16);
    const auto seeds_at = config.find("seeds:\n");
    const auto engine_at = config.find("engine:\n");
    REQUIRE(seeds_at != std::string::npos);
    REQUIRE(engine_at != std::string::npos);
    config.replace(seeds_at, engine_at - seeds_at,
                   "seeds:\n  - urls_file: " + urls.string() + "\n");

    // The first worker alone wins the seeding claim: kill it once some seeds are in.
    auto seeder = std::make_unique<worker_process>(config, f.tmp / "w0", "w0");
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (f.redis.cli("SCARD harvest:seedkill:seen") == "0\n" &&
           std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    seeder->kill_hard();
    CHECK(seeder->wait(std::chrono::seconds(10)) == 128 + SIGKILL);
    const std::string seen_at_kill = f.redis.cli("SCARD harvest:seedkill:seen");
    INFO("distinct seeds queued at the kill: " << seen_at_kill);
    INFO(tail(seeder->err()));
    REQUIRE(seen_at_kill != "0\n");
    REQUIRE(f.redis.cli("EXISTS harvest:seedkill:seeded") == "0\n");  // killed mid-seeding

    // Two more workers: they must neither wait forever for `seeded` nor call the crawl finished
    // while the dead worker's claim is live; one takes the expired claim over and seeds again.
    std::vector<std::unique_ptr<worker_process>> workers;
    for (int i = 1; i < 3; ++i) {
        workers.push_back(std::make_unique<worker_process>(
            config, f.tmp / ("w" + std::to_string(i)), "w" + std::to_string(i)));
    }
    int seeders = 0;
    for (auto& w : workers) {
        const int code = w->wait(std::chrono::seconds(90));
        INFO(tail(w->err()));
        REQUIRE(code == 0);
        seeders += w->err().find("seeds of crawl") != std::string::npos ? 1 : 0;
    }
    CHECK(seeders == 1);
    auto [ids, items] = f.union_of(workers);
    CHECK(ids.size() == static_cast<std::size_t>(products));
    CHECK(items == static_cast<std::size_t>(products));
    // The seeds queued by the dead worker and those re-admitted are one set: each URL once.
    std::size_t product_urls = 0;
    std::size_t twice = 0;
    for (const auto& [uri, n] : f.nginx->request_counts()) {
        if (uri.rfind("/api/products/", 0) == 0) {
            ++product_urls;
            twice += n > 1 ? 1 : 0;
        }
    }
    CHECK(product_urls == static_cast<std::size_t>(products));
    CHECK(twice == 0);
}

TEST_CASE("distributed: a worker's successful half-open probe closes the shared breaker",
          "[integration][redis]") {
    temp_dir tmp("harvest-distributed");
    redis_server redis;
    chaos_origin origin(tmp.path() / "origin", "origin", true);  // every request 503 at first
    constexpr int urls = 600;  // more than a worker leases at once: the rest wait in Redis
    std::string seeds;
    for (int i = 0; i < urls; ++i) {
        seeds += origin.url("/ok/" + std::to_string(i)) + "\n";
    }
    write_file(tmp.path() / "urls.txt", seeds);
    const std::string yaml =
        "name: probe\n"
        "seeds:\n"
        "  - urls_file: " +
        (tmp.path() / "urls.txt").string() +
        "\n"
        "engine:\n"
        "  concurrency: 4\n"
        "  per_host_concurrency: 4\n"
        "  threads: 1\n"
        "  robots_txt: ignore\n"
        "rate_limit: {per_second: 0, burst: 1}\n"
        "retry:\n"
        "  max_attempts: 100\n"
        "  backoff: {strategy: none, base: 20ms, max: 20ms}\n"
        "  budget: {ratio: 1000, min_per_second: 1000}\n"
        "circuit_breaker:\n"
        "  window: 4\n  min_calls: 2\n  failure_rate: 0.5\n  open_for: 1s\n"
        "  half_open_probes: 1\n  give_up_after: 10m\n"
        "extract:\n"
        "  - match: \".\"\n"
        "    type: json\n"
        "    fields:\n"
        "      id: /id\n"
        "    required: [id]\n"
        "outputs:\n"
        "  - type: jsonl\n"
        "    path: out/items.jsonl\n"
        "frontier:\n"
        "  backend: redis\n"
        "  url: " +
        redis.url() + "\n  lease: 60s\n";
    const std::string key = "harvest:probe:breaker:http://" + origin.host();
    worker_process w(yaml, tmp.path() / "w1", "w1");
    // The worker's breaker opens and is shared.
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (redis.cli("EXISTS " + key) != "1\n" && std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    INFO(tail(w.err()));
    // Another worker's later opening holds the host back for 60 s (a shorter one never cuts it)...
    REQUIRE(redis.cli("SET " + key + " 1 PX 60000") == "OK\n");
    // ...but the host recovers, and this worker's half-open probe (after its own 1 s) succeeds:
    // that closes the breaker for every worker, not 60 s later.
    REQUIRE(origin.control("healthy") == 200);
    const auto healthy_at = std::chrono::steady_clock::now();
    give_up = healthy_at + std::chrono::seconds(20);
    while (redis.cli("EXISTS " + key) != "0\n" && std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(redis.cli("EXISTS " + key) == "0\n");
    // The requests still in Redis are leased again at once: the crawl ends long before 60 s.
    const int code = w.wait(std::chrono::seconds(40));
    INFO(tail(w.err()));
    CHECK(code == 0);
    CHECK(std::chrono::steady_clock::now() - healthy_at < std::chrono::seconds(20));
    CHECK(w.items().size() == static_cast<std::size_t>(urls));
}

TEST_CASE("distributed: 3 workers at per_second 30, burst 5 on one host hold the rate together",
          "[integration][redis][slow]") {
    constexpr int products = 300;  // about 10 s at 30/s
    cluster_fixture f(products);
    auto config = f.make_config("limited", "60s", "{per_second: 30, burst: 5}", 8);
    // Worker 0 also serves /metrics: its series carry its worker label.
    const int metrics_port = free_port();
    std::vector<std::unique_ptr<worker_process>> workers;
    for (int i = 0; i < 3; ++i) {
        const std::string extra =
            i == 0 ? "metrics: {listen: \"127.0.0.1:" + std::to_string(metrics_port) +
                         "\", linger: 0}\n"
                   : std::string();
        workers.push_back(std::make_unique<worker_process>(
            config + extra, f.tmp / ("w" + std::to_string(i)), "w" + std::to_string(i)));
    }
    // Scraped until worker 0 has counted a request (3 s in, usually; longer for a sanitizer
    // build on a loaded machine), within the crawl's 10 s.
    const std::string series = "harvest_requests_total{crawl=\"limited\",worker=\"w0\"";
    process_result scrape;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    do {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        scrape = run_process(
            {"curl", "-sf", "http://127.0.0.1:" + std::to_string(metrics_port) + "/metrics"},
            std::chrono::seconds(10));
    } while (scrape.out.find(series) == std::string::npos &&
             std::chrono::steady_clock::now() < give_up);
    CHECK(scrape.exit_code == 0);
    CHECK(scrape.out.find(series) != std::string::npos);
    for (auto& w : workers) {
        const int code = w->wait(std::chrono::seconds(120));
        INFO(tail(w->err()));
        REQUIRE(code == 0);
    }
    auto [ids, items] = f.union_of(workers);
    CHECK(ids.size() == static_cast<std::size_t>(products));
    auto times = product_request_times(*f.nginx);
    REQUIRE(times.size() == static_cast<std::size_t>(products));
    for (double window : {0.5, 1.0, 2.0, 5.0}) {
        std::size_t worst = 0;
        for (std::size_t i = 0, j = 0; i < times.size(); ++i) {
            while (j < times.size() && times[j] < times[i] + window) {
                ++j;
            }
            worst = std::max(worst, j - i);
        }
        INFO("window " << window << " s: at most " << worst << " requests");
        CHECK(static_cast<double>(worst) <= 30 * window + 5);
    }
    // The burst is served at once; after it, the rest at the rate.
    const double span = times.back() - times.front();
    const double rate = (static_cast<double>(times.size()) - 5) / span;
    INFO(times.size() << " requests in " << span << " s: " << rate << "/s");
    CHECK(rate >= 0.9 * 30);
}

TEST_CASE("distributed: a worker that cannot reach Redis fails with a message",
          "[integration][redis]") {
    temp_dir tmp("harvest-distributed");
    int closed_port = 0;
    {
        redis_server gone;
        closed_port = gone.port();
    }
    const std::string yaml =
        "name: unreachable\n"
        "seeds:\n  - url: http://127.0.0.1:9/x.json\n"
        "outputs:\n  - {type: jsonl, path: out/items.jsonl}\n"
        "frontier:\n  backend: redis\n  url: redis://127.0.0.1:" +
        std::to_string(closed_port) + "/0\n";
    write_file(tmp / "cfg.yaml", yaml);
    auto run = run_process(
        {harvest_binary().string(), "run", (tmp / "cfg.yaml").string(), "--progress", "never"},
        std::chrono::seconds(30));
    INFO(run.err);
    CHECK(run.exit_code == 1);
    CHECK(run.err.find("cannot connect to redis://127.0.0.1:" + std::to_string(closed_port)) !=
          std::string::npos);
}

TEST_CASE("distributed: a page reached by redirects on two workers is emitted once",
          "[integration][redis]") {
    temp_dir tmp("harvest-distributed");
    redis_server redis;
    chaos_origin origin(tmp.path() / "origin", "origin");
    // Every product once as itself and twice through redirects (one of them a 2-hop chain),
    // shuffled so that both workers lease some of each.
    std::vector<std::string> urls;
    constexpr int products = 60;
    for (int i = 0; i < products; ++i) {
        const std::string id = std::to_string(i);
        urls.push_back(origin.url("/ok/p" + id));
        urls.push_back(origin.url("/redirect/301/ok/p" + id));
        urls.push_back(origin.url("/redirect/302/redirect/307/ok/p" + id));
        urls.push_back(origin.url("/redirect/301/ok/only-redirected-" + id));  // not a seed
    }
    std::mt19937 shuffle_rng(7);
    std::shuffle(urls.begin(), urls.end(), shuffle_rng);
    const std::string yaml = chaos_cluster_yaml(
        "redirects", tmp.path(), urls,
        "{concurrency: 8, per_host_concurrency: 8, threads: 1, robots_txt: ignore}", redis);
    std::map<std::string, int> by_url;
    for (const auto& worker_items : run_workers(yaml, tmp.path(), {"w1", "w2"})) {
        for (const auto& item : worker_items) {
            ++by_url[std::string(item.at("url").as_string())];
        }
    }
    CHECK(by_url.size() == 2 * products);
    for (const auto& [url, count] : by_url) {
        INFO(url);
        CHECK(count == 1);
    }
}

TEST_CASE("distributed: robots.txt's Crawl-delay holds for the cluster, not per worker",
          "[integration][redis]") {
    temp_dir tmp("harvest-distributed");
    redis_server redis;
    chaos_options robots;
    robots.robots_txt = "User-agent: *\nCrawl-delay: 0.2\n";
    chaos_origin origin(tmp.path() / "origin", robots);
    constexpr int urls = 60;
    std::vector<std::string> pages_to_crawl;
    for (int i = 0; i < urls; ++i) {
        pages_to_crawl.push_back(origin.url("/ok/" + std::to_string(i)));
    }
    const std::string yaml = chaos_cluster_yaml(
        "crawl-delay", tmp.path(), pages_to_crawl,
        "{concurrency: 4, per_host_concurrency: 4, threads: 1, robots_txt: obey}", redis);
    std::size_t items = 0;
    for (const auto& worker_items : run_workers(yaml, tmp.path(), {"w1", "w2"})) {
        CHECK(!worker_items.empty());  // both workers took part
        items += worker_items.size();
    }
    CHECK(items == urls);
    std::vector<arrival> pages;
    for (const auto& a : origin.arrivals()) {
        if (a.path != "/robots.txt") {
            pages.push_back(a);
        }
    }
    REQUIRE(pages.size() == urls);
    // 5/s for the cluster. Each worker's first request goes with its robots.txt, and the
    // first lease at the Crawl-delay's pace comes at once: a burst of 3 at the start. The
    // workers' leases and sends are not one clock: 100 ms of jitter (more under sanitizers). Two
    // workers each holding the delay alone would send at 10/s; before robots.txt was shared, the
    // first worker leased and sent them all at the configured (unlimited) rate.
#ifdef HARVEST_TSAN
    constexpr double send_jitter = 0.3;  // TSan slows each send by tens of milliseconds
#elif defined(HARVEST_SANITIZED)
    constexpr double send_jitter = 0.15;
#else
    constexpr double send_jitter = 0.1;
#endif
    const double excess = worst_window_excess(pages, 5.0, 3.0, send_jitter);
    INFO("worst window excess over 5/s, burst 3: " << excess);
    CHECK(excess <= 0);
}
