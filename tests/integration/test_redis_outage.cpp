// Distributed crawls that outlive their Redis (issue 24): redis-server (AOF on) is stopped in the
// middle of a crawl and started again on the same port and folder 3 s later, while three
// `harvest run` workers crawl a 2,000-product catalog served by nginx. Every worker must ride the
// outage out (reconnect with backoff, hold its completions and links, flush them when Redis is
// back) and the crawl must end with every item written exactly once across the workers.

#include "tests/integration/support.hpp"
#include "tests/support/redis_server.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <set>
#include <thread>

namespace {

using namespace harvest::test;
namespace json = boost::json;

// One `harvest run` worker as a child process, its output in dir/worker.{out,err}.
class outage_worker {
  public:
    outage_worker(const std::string& yaml, const fs::path& dir, const std::string& name)
        : dir_(dir) {
        fs::create_directories(dir);
        const fs::path config = dir / "cfg.yaml";
        write_file(config, yaml);
        pid_ = ::fork();
        if (pid_ < 0) {
            throw std::runtime_error("fork failed");
        }
        if (pid_ == 0) {
            ::setpgid(0, 0);
            int out = ::open((dir / "worker.out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            int err = ::open((dir / "worker.err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            int null = ::open("/dev/null", O_RDONLY);
            ::dup2(null, 0);
            ::dup2(out, 1);
            ::dup2(err, 2);
            if (::chdir(dir.c_str()) != 0) {
                ::_exit(126);
            }
            ::setenv("HARVEST_WORKER", name.c_str(), 1);
            std::string binary = harvest_binary().string();
            std::string cfg = config.string();
            const char* argv[] = {binary.c_str(), "run",   cfg.c_str(),
                                  "--progress",   "never", nullptr};
            ::execv(argv[0], const_cast<char* const*>(argv));
            ::_exit(127);
        }
    }
    ~outage_worker() {
        if (pid_ > 0) {
            ::kill(-pid_, SIGKILL);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
    }
    outage_worker(const outage_worker&) = delete;
    outage_worker& operator=(const outage_worker&) = delete;

    // The exit code, 128 + signal when killed, -1 on timeout (then it is killed).
    int wait_until(std::chrono::steady_clock::time_point give_up) {
        int status = 0;
        while (::waitpid(pid_, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > give_up) {
                ::kill(-pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                pid_ = -1;
                return -1;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::string err() const { return read_file(dir_ / "worker.err"); }
    std::vector<json::object> items() const { return read_jsonl(dir_ / "out/items.jsonl"); }

  private:
    fs::path dir_;
    int pid_ = -1;
};

std::string tail(const std::string& text, std::size_t n = 3000) {
    return text.size() > n ? "..." + text.substr(text.size() - n) : text;
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
    redis_server redis(redis_server_options{.append_only = true});

    // 250 requests a second for the cluster (Redis's GCRA): the crawl takes about 8 s, so the
    // restart lands in its middle. A 30 s lease outlives the outage: a live worker's requests
    // are not handed out again, so refetches come only from what the restart itself loses.
    const std::string yaml =
        "name: outage\n"
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
        "  - {type: jsonl, path: out/items.jsonl}\n"
        "frontier:\n"
        "  backend: redis\n"
        "  url: " +
        redis.url() +
        "\n"
        "  lease: 30s\n"
        "  redis: {give_up_after: 30s}\n";

    std::vector<std::unique_ptr<outage_worker>> workers;
    for (int i = 0; i < worker_count; ++i) {
        const std::string name = "w" + std::to_string(i);
        workers.push_back(std::make_unique<outage_worker>(yaml, tmp / name, name));
    }

    // Once the seeds are in and some items were fetched, Redis goes away for 3 s.
    const auto started = std::chrono::steady_clock::now();
    auto give_up = started + std::chrono::seconds(20);
    while (redis.cli("EXISTS harvest:outage:seeded") != "1\n" &&
           std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    REQUIRE(redis.cli("EXISTS harvest:outage:seeded") == "1\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    const auto fetched_before = nginx.request_counts().size();
    redis.stop();
    std::this_thread::sleep_for(std::chrono::seconds(3));
    redis.start_again();
    INFO("product pages requested before the restart: " << fetched_before);
    CHECK(fetched_before > 100);
    CHECK(fetched_before < static_cast<std::size_t>(products));  // the restart was mid-crawl

    const auto deadline = started + std::chrono::seconds(55);
    for (auto& w : workers) {
        const int code = w->wait_until(deadline);
        INFO(tail(w->err()));
        CHECK(code == 0);
    }

    // Every item exactly once across the workers' outputs.
    std::set<std::string> ids;
    std::size_t items = 0;
    for (auto& w : workers) {
        for (const auto& item : w->items()) {
            ++items;
            if (const auto* id = item.if_contains("id"); id != nullptr && id->is_string()) {
                ids.emplace(id->get_string());
            }
        }
    }
    CHECK(ids.size() == static_cast<std::size_t>(products));
    CHECK(items == static_cast<std::size_t>(products));

    // Refetches: product pages nginx served more than once, at most 2% of the crawl.
    std::size_t product_urls = 0;
    std::size_t refetches = 0;
    for (const auto& [uri, n] : nginx.request_counts()) {
        if (uri.rfind("/api/products/", 0) == 0) {
            ++product_urls;
            refetches += static_cast<std::size_t>(n - 1);
        }
    }
    INFO("items " << items << ", distinct " << ids.size() << ", refetches " << refetches);
    CHECK(product_urls == static_cast<std::size_t>(products));
    CHECK(refetches <= static_cast<std::size_t>(products) / 50);
    WARN("redis outage: items " << items << ", distinct " << ids.size() << ", refetches "
                                << refetches << " of " << products);
}
