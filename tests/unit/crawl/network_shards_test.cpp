// Network shards (engine/crawl/network_shards.hpp): with engine.network_shards > 1 every host's
// fetches run on one shard's thread, hosts spread over the shards in turn, the crawl's own
// io_context is the first, and a crawl stopped or dropped at any moment ends cleanly.

#include "engine/crawl/crawler.hpp"
#include "engine/crawl/sink.hpp"
#include "tests/support/test_origin.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace harvest;

// Which thread delivered each page, by origin; on_success runs on the fetching thread.
class thread_recording_sink final : public crawl::sink {
  public:
    std::function<void(std::size_t)> on_page;  // with the pages seen so far; may be empty

    asio::awaitable<crawl::sink_result> on_success(crawl::fetched_page page) override {
        std::size_t seen = 0;
        {
            const std::lock_guard lock(mutex_);
            const std::string& url = page.request.http.url;
            const auto origin_end = url.find('/', url.find("//") + 2);
            threads_[url.substr(0, origin_end)].insert(std::this_thread::get_id());
            urls_.push_back(url);
            seen = urls_.size();
        }
        if (on_page) {
            on_page(seen);
        }
        co_return crawl::sink_result{};
    }
    asio::awaitable<void> on_failure(crawl::failure_record failure) override {
        const std::lock_guard lock(mutex_);
        failures_.push_back(std::move(failure.url));
        co_return;
    }
    asio::awaitable<void> close() override { co_return; }

    std::map<std::string, std::set<std::thread::id>> threads() const {
        const std::lock_guard lock(mutex_);
        return threads_;
    }
    std::vector<std::string> urls() const {
        const std::lock_guard lock(mutex_);
        return urls_;
    }
    std::vector<std::string> failures() const {
        const std::lock_guard lock(mutex_);
        return failures_;
    }

  private:
    mutable std::mutex mutex_;
    std::map<std::string, std::set<std::thread::id>> threads_;
    std::vector<std::string> urls_;
    std::vector<std::string> failures_;
};

struct origins {
    std::vector<std::unique_ptr<test::test_origin>> servers;
    explicit origins(std::size_t count) {
        for (std::size_t i = 0; i < count; ++i) {
            servers.push_back(std::make_unique<test::test_origin>(
                test::serve_each([](const test::received_request& request) {
                    if (request.target == "/robots.txt") {
                        return test::http_response_bytes(404, "");
                    }
                    return test::http_response_bytes(200, R"({"ok":true})",
                                                     {{"Content-Type", "application/json"}});
                })));
        }
    }
    std::vector<crawl::seed_spec> seeds(std::size_t per_origin) const {
        std::vector<crawl::seed_spec> result;
        for (std::size_t n = 0; n < per_origin; ++n) {
            for (const auto& server : servers) {
                crawl::seed_spec seed;
                seed.url = server->url("/item/" + std::to_string(n));
                result.push_back(std::move(seed));
            }
        }
        return result;
    }
};

crawl::crawl_options sharded(unsigned shards, bool robots) {
    crawl::crawl_options options;
    options.engine.single_thread_io = true;
    options.engine.network_shards = shards;
    options.engine.obey_robots_txt = robots;
    options.engine.concurrency = 24;
    options.engine.per_host_concurrency = 4;
    options.journal = false;
    return options;
}

// Runs the crawl on `io` from this thread until it ends.
void run_crawl(asio::io_context& io, crawl::crawler& crawler) {
    std::exception_ptr failure;
    bool done = false;
    asio::co_spawn(io, crawler.run(), [&](std::exception_ptr e) {
        failure = e;
        done = true;
    });
    io.run();
    REQUIRE(done);
    if (failure) {
        std::rethrow_exception(failure);
    }
}

}  // namespace

TEST_CASE("network shards: a host's fetches stay on one shard, hosts spread over all of them",
          "[unit][shards]") {
    const auto [hosts, shards] =
        GENERATE(std::pair{5u, 3u}, std::pair{2u, 2u}, std::pair{1u, 4u}, std::pair{6u, 2u});
    const bool robots = GENERATE(false, true);
    INFO(hosts << " hosts over " << shards << " shards, robots.txt " << robots);
    origins servers(hosts);
    constexpr std::size_t per_host = 30;
    auto sink = std::make_shared<thread_recording_sink>();
    asio::io_context io(1);
    {
        crawl::crawler crawler(io, sharded(shards, robots), sink,
                               crawl::seed_stream(servers.seeds(per_host)));
        run_crawl(io, crawler);
        CHECK(crawler.stats().requests.load() == hosts * per_host + (robots ? hosts : 0));
    }
    CHECK(sink->failures().empty());
    auto urls = sink->urls();
    CHECK(urls.size() == hosts * per_host);
    std::sort(urls.begin(), urls.end());
    CHECK(std::adjacent_find(urls.begin(), urls.end()) == urls.end());  // each page once

    const auto threads = sink->threads();
    REQUIRE(threads.size() == hosts);
    std::map<std::thread::id, unsigned> hosts_per_thread;
    for (const auto& [origin, seen] : threads) {
        INFO(origin);
        CHECK(seen.size() == 1);  // one shard per host
        ++hosts_per_thread[*seen.begin()];
    }
    // Given in turn: min(hosts, shards) threads, each with hosts/shards hosts or one more, and
    // the crawl's own thread (this one, shard 0) among them.
    CHECK(hosts_per_thread.size() == std::min(hosts, shards));
    CHECK(hosts_per_thread.count(std::this_thread::get_id()) == 1);
    for (const auto& [thread, count] : hosts_per_thread) {
        CHECK(count >= hosts / shards);
        CHECK(count <= hosts / shards + 1);
    }
}

TEST_CASE("network shards: a crawl stopped at a random page, or dropped unrun, ends cleanly",
          "[unit][shards]") {
    origins servers(4);
    std::mt19937 rng(20261207);
    for (int round = 0; round < 6; ++round) {
        const std::size_t stop_at = std::uniform_int_distribution<std::size_t>(1, 60)(rng);
        INFO("round " << round << ", stopped at page " << stop_at);
        auto sink = std::make_shared<thread_recording_sink>();
        asio::io_context io(1);
        crawl::crawler crawler(io, sharded(3, false), sink, crawl::seed_stream(servers.seeds(40)));
        // stop() is thread-safe: called from whichever shard delivers that page.
        sink->on_page = [&crawler, stop_at](std::size_t seen) {
            if (seen == stop_at) {
                crawler.stop();
            }
        };
        run_crawl(io, crawler);
        CHECK(crawler.stopped());
        // In-flight fetches finish after the stop: at most concurrency more pages.
        CHECK(sink->urls().size() >= stop_at);
        CHECK(sink->urls().size() <= stop_at + 24);
        CHECK(sink->failures().empty());
    }
    // Made and destroyed without running: the shard threads are stopped and joined.
    auto sink = std::make_shared<thread_recording_sink>();
    asio::io_context io(1);
    crawl::crawler unrun(io, sharded(4, true), sink, crawl::seed_stream(servers.seeds(1)));
    CHECK(sink->urls().empty());
}
