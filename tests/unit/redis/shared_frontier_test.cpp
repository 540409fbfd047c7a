// The shared frontier's scripts against a real redis-server, with several clients standing in
// for several workers: dedup, the reliable queue and its leases, the cluster-wide GCRA, shared
// breaker openings and closings, seeding once (and again when the seeding worker died), and
// recovery from a flushed script cache.

#include "engine/redis/shared_frontier.hpp"
#include "engine/redis/redis_backend.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/unit/redis/redis_test_util.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using harvest::redis::admission;
using harvest::redis::client;
using harvest::redis::host_rate;
using harvest::redis::shared_frontier;

namespace {

using harvest::test::sync;

// Drives `io` until every coroutine of `running` is done (at most until `give_up`), and
// rethrows what one of them threw.
void drive_all(asio::io_context& io, std::vector<std::future<void>>& running,
               std::chrono::steady_clock::time_point give_up) {
    for (auto& f : running) {
        while (f.wait_for(0s) != std::future_status::ready &&
               std::chrono::steady_clock::now() < give_up) {
            io.run_one_for(100ms);
        }
        REQUIRE(f.wait_for(0s) == std::future_status::ready);
        f.get();
    }
}

asio::awaitable<std::shared_ptr<client>> connect_frontier_client(std::string url) {
    auto where = harvest::redis::parse_url(url);
    auto executor = co_await asio::this_coro::executor;
    auto connected = co_await client::connect(executor, *where);
    if (!connected) {
        throw std::runtime_error("connect: " + connected.error().message());
    }
    co_return *connected;
}

// One worker's view: its own connection and frontier handle.
struct worker {
    std::shared_ptr<client> connection;  // one server
    std::unique_ptr<shared_frontier> frontier;
};

asio::awaitable<std::shared_ptr<harvest::redis::connection>> open_link(std::string url) {
    auto where = harvest::redis::parse_url(url);
    auto executor = co_await asio::this_coro::executor;
    auto opened = co_await harvest::redis::connection::open(executor, *where);
    if (!opened) {
        throw std::runtime_error("open " + url + ": " + opened.error().message());
    }
    co_return *opened;
}

// A worker on a Redis Cluster (redis-cluster://).
worker make_cluster_worker(asio::io_context& io, const std::string& url,
                           std::chrono::milliseconds lease, std::string crawl) {
    worker w;
    w.frontier = std::make_unique<shared_frontier>(
        sync(io, open_link(url)),
        harvest::redis::shared_frontier_options{std::move(crawl), lease, {}, {}});
    auto loaded = sync(io, w.frontier->load_scripts());
    if (!loaded) {
        throw std::runtime_error("load_scripts: " + loaded.error().message());
    }
    return w;
}

worker make_worker(asio::io_context& io, const harvest::test::redis_server& server,
                   std::chrono::milliseconds lease = 60s, std::string crawl = "catalog") {
    worker w;
    w.connection = sync(io, connect_frontier_client(server.url()));
    w.frontier = std::make_unique<shared_frontier>(
        w.connection, harvest::redis::shared_frontier_options{std::move(crawl), lease, {}, {}});
    auto loaded = sync(io, w.frontier->load_scripts());
    if (!loaded) {
        throw std::runtime_error("load_scripts: " + loaded.error().message());
    }
    return w;
}

template <typename T>
T value_of(boost::system::result<T> r) {
    if (!r) {
        throw std::runtime_error("redis: " + r.error().message());
    }
    return std::move(*r);
}

void ok(boost::system::result<void> r) {
    if (!r) {
        throw std::runtime_error("redis: " + r.error().message());
    }
}

admission request(std::string host, std::uint64_t fingerprint, std::string payload) {
    return admission{std::move(host), fingerprint, true, std::move(payload)};
}

std::vector<std::string> payloads(const harvest::redis::take_result& taken) {
    std::vector<std::string> out;
    for (const auto& r : taken.requests) {
        out.push_back(r.payload);
    }
    return out;
}

std::vector<std::string> lease_ids(const harvest::redis::take_result& taken) {
    std::vector<std::string> out;
    for (const auto& r : taken.requests) {
        out.push_back(r.lease_id);
    }
    return out;
}

}  // namespace

TEST_CASE("admit deduplicates by an 8-byte fingerprint across workers", "[unit][redis]") {
    harvest::test::redis_server server;
    asio::io_context io;
    auto a = make_worker(io, server);
    auto b = make_worker(io, server);
    auto first = value_of(sync(
        io, a.frontier->admit({request("http://h:80", 1, "one"), request("http://h:80", 2, "two"),
                               request("http://h:80", 1, "one again")})));
    CHECK(first == std::vector<bool>{true, true, false});
    // Another worker discovering the same URL does not queue it again...
    auto second = value_of(sync(io, b.frontier->admit({request("http://h:80", 2, "two"),
                                                       request("http://g:80", 3, "three")})));
    CHECK(second == std::vector<bool>{false, true});
    // ...unless dedup is off for it (a retry re-queued).
    auto retry = request("http://h:80", 2, "two, retried");
    retry.dedup = false;
    CHECK(value_of(sync(io, b.frontier->admit({retry}))) == std::vector<bool>{true});

    auto counts = value_of(sync(io, a.frontier->counts()));
    CHECK(counts.queued == 4);
    CHECK(counts.seen == 3);
    // Compact: every member of the dedup set is 8 bytes.
    CHECK(server.cli("STRLEN x") == "0\n");
    auto members = server.cli("--no-raw SMEMBERS harvest:catalog:seen");
    CHECK(members.find("\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x01") != std::string::npos);
    CHECK(shared_frontier::fingerprint_bytes(0x0102030405060708ULL) ==
          std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
    auto hosts = value_of(sync(io, a.frontier->ready_hosts()));
    std::sort(hosts.begin(), hosts.end());
    CHECK(hosts == std::vector<std::string>{"http://g:80", "http://h:80"});
}

TEST_CASE("take leases in FIFO order; complete removes; expired leases are re-delivered",
          "[unit][redis]") {
    harvest::test::redis_server server;
    asio::io_context io;
    auto a = make_worker(io, server, 400ms);
    auto b = make_worker(io, server, 400ms);
    std::vector<admission> batch;
    for (int i = 0; i < 5; ++i) {
        batch.push_back(
            request("http://h:80", static_cast<std::uint64_t>(100 + i), "p" + std::to_string(i)));
    }
    value_of(sync(io, a.frontier->admit(batch)));

    auto taken = value_of(sync(io, a.frontier->take("http://h:80", 3, host_rate{})));
    CHECK(payloads(taken) == std::vector<std::string>{"p0", "p1", "p2"});
    CHECK_FALSE(taken.breaker_open);
    auto counts = value_of(sync(io, a.frontier->counts()));
    CHECK(counts.queued == 2);
    CHECK(counts.in_flight == 3);

    // Worker a completes two of its three and then "dies": p2's lease is never completed.
    auto ids = lease_ids(taken);
    CHECK(value_of(sync(io, a.frontier->complete({ids[0], ids[1]}))) == 2);
    a.connection->close();

    // Not before the lease ran out...
    CHECK(value_of(sync(io, b.frontier->requeue_expired())) == 0);
    std::this_thread::sleep_for(500ms);
    // ...then p2 goes back to the head of its host's queue.
    CHECK(value_of(sync(io, b.frontier->requeue_expired())) == 1);
    auto again = value_of(sync(io, b.frontier->take("http://h:80", 10, host_rate{})));
    CHECK(payloads(again) == std::vector<std::string>{"p2", "p3", "p4"});
    // The dead worker's late completion of the expired lease changes nothing.
    CHECK(value_of(sync(io, b.frontier->complete({ids[2]}))) == 0);
    CHECK(value_of(sync(io, b.frontier->complete(lease_ids(again)))) == 3);
    counts = value_of(sync(io, b.frontier->counts()));
    CHECK(counts.queued == 0);
    CHECK(counts.in_flight == 0);
    CHECK(counts.redelivered == 1);
    // An empty host leaves the set of ready hosts.
    CHECK(value_of(sync(io, b.frontier->ready_hosts())).empty());
    auto empty = value_of(sync(io, b.frontier->take("http://h:80", 10, host_rate{})));
    CHECK(empty.requests.empty());
    CHECK(empty.retry_in == 0us);
}

TEST_CASE("one worker's breaker opening holds every worker back", "[unit][redis]") {
    harvest::test::redis_server server;
    asio::io_context io;
    auto a = make_worker(io, server);
    auto b = make_worker(io, server);
    value_of(sync(io, a.frontier->admit({request("http://down:80", 1, "x")})));
    ok(sync(io, a.frontier->open_breaker("http://down:80", 2s)));
    // A shorter opening does not cut the longer one.
    ok(sync(io, b.frontier->open_breaker("http://down:80", 100ms)));
    std::this_thread::sleep_for(200ms);
    auto held = value_of(sync(io, b.frontier->take("http://down:80", 10, host_rate{})));
    CHECK(held.requests.empty());
    CHECK(held.breaker_open);
    CHECK(held.retry_in > 1000ms);
    CHECK(held.retry_in <= 2000ms);
    // Other hosts are not affected.
    value_of(sync(io, a.frontier->admit({request("http://up:80", 2, "y")})));
    CHECK(value_of(sync(io, b.frontier->take("http://up:80", 10, host_rate{}))).requests.size() ==
          1);
    // A successful probe closes it for everyone.
    ok(sync(io, a.frontier->close_breaker("http://down:80")));
    auto open_again = value_of(sync(io, b.frontier->take("http://down:80", 10, host_rate{})));
    CHECK(open_again.requests.size() == 1);
    CHECK_FALSE(open_again.breaker_open);
}

TEST_CASE("seeds are loaded by the first worker only", "[unit][redis]") {
    harvest::test::redis_server server;
    asio::io_context io;
    auto a = make_worker(io, server);
    auto b = make_worker(io, server);
    auto other_crawl = make_worker(io, server, 60s, "another");
    CHECK(value_of(sync(io, a.frontier->claim_seeding("worker-a"))));
    CHECK_FALSE(value_of(sync(io, b.frontier->claim_seeding("worker-b"))));
    CHECK(value_of(sync(io, other_crawl.frontier->claim_seeding("worker-c"))));  // its own keys
    CHECK_FALSE(value_of(sync(io, b.frontier->seeded())));
    ok(sync(io, a.frontier->mark_seeded()));
    CHECK(value_of(sync(io, b.frontier->seeded())));
    CHECK_FALSE(value_of(sync(io, other_crawl.frontier->seeded())));
}

TEST_CASE("scripts are loaded again after the server lost them", "[unit][redis]") {
    harvest::test::redis_server server;
    asio::io_context io;
    auto a = make_worker(io, server);
    CHECK(server.cli("SCRIPT FLUSH") == "OK\n");
    auto queued = value_of(sync(io, a.frontier->admit({request("http://h:80", 1, "x")})));
    CHECK(queued == std::vector<bool>{true});
}

namespace {

// Takes from `host` as fast as the shared limiter allows until `until`, recording the server
// time of every granted request.
asio::awaitable<void> rate_worker(shared_frontier* frontier, std::string host, host_rate rate,
                                  std::chrono::steady_clock::time_point until,
                                  std::vector<long long>* grants) {
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer timer(executor);
    while (std::chrono::steady_clock::now() < until) {
        auto taken = co_await frontier->take(host, 4, rate);
        if (!taken) {
            throw std::runtime_error("take: " + taken.error().message());
        }
        for (std::size_t i = 0; i < taken->requests.size(); ++i) {
            grants->push_back(taken->server_time.count());
        }
        auto wait = std::max<std::chrono::microseconds>(taken->retry_in, 1ms);
        timer.expires_after(wait);
        co_await timer.async_wait(asio::use_awaitable);
    }
}

// Three workers take one host's requests as fast as the shared GCRA lets them for 3 s: in
// every window of T seconds at most rate*T + burst were granted (by Redis's clock).
void check_shared_rate(asio::io_context& io, std::vector<worker>& workers) {
    std::vector<admission> batch;
    for (int i = 0; i < 2000; ++i) {
        batch.push_back(request("http://limited:80", static_cast<std::uint64_t>(i + 1), "r"));
    }
    value_of(sync(io, workers[0].frontier->admit(batch)));

    const host_rate rate{30, 5};
    const auto duration = 3s;
    std::vector<long long> grants;
    auto until = std::chrono::steady_clock::now() + duration;
    std::vector<std::future<void>> running;
    for (auto& w : workers) {
        running.push_back(asio::co_spawn(
            io, rate_worker(w.frontier.get(), "http://limited:80", rate, until, &grants),
            asio::use_future));
    }
    drive_all(io, running, std::chrono::steady_clock::now() + duration + 10s);
    std::sort(grants.begin(), grants.end());
    REQUIRE(grants.size() > 10);
    // Every window of T seconds, for several T, starting at every grant.
    for (double window_s : {0.1, 0.5, 1.0, 2.0}) {
        const auto window_us = static_cast<long long>(window_s * 1e6);
        std::size_t worst = 0;
        for (std::size_t i = 0, j = 0; i < grants.size(); ++i) {
            while (j < grants.size() && grants[j] < grants[i] + window_us) {
                ++j;
            }
            worst = std::max(worst, j - i);
        }
        INFO("window " << window_s << " s: worst " << worst);
        CHECK(static_cast<double>(worst) <= rate.per_second * window_s + rate.burst);
    }
    // And the cluster as a whole still gets (nearly) the whole rate.
    const double span_s = static_cast<double>(grants.back() - grants.front()) / 1e6;
    const double achieved = static_cast<double>(grants.size() - rate.burst) / span_s;
    INFO(grants.size() << " grants in " << span_s << " s = " << achieved << "/s");
    CHECK(achieved >= 0.9 * rate.per_second);
    CHECK(achieved <= rate.per_second * 1.05);
}

}  // namespace

TEST_CASE("three workers together respect one host's rate: <= rate*T + burst in every window",
          "[unit][redis][slow]") {
    harvest::test::redis_server server;
    asio::io_context io;
    std::vector<worker> workers;
    for (int i = 0; i < 3; ++i) {
        workers.push_back(make_worker(io, server));
    }
    check_shared_rate(io, workers);
}

TEST_CASE("renewing a lease keeps it from being re-delivered", "[unit][redis]") {
    harvest::test::redis_server server;
    asio::io_context io;
    auto a = make_worker(io, server, 400ms);
    value_of(sync(io, a.frontier->admit({request("http://h:80", 1, "kept"),
                                         request("http://h:80", 2, "dropped")})));
    auto taken = value_of(sync(io, a.frontier->take("http://h:80", 2, host_rate{})));
    REQUIRE(taken.requests.size() == 2);
    for (int i = 0; i < 3; ++i) {
        std::this_thread::sleep_for(250ms);
        // Only the first lease is renewed, so only the second one runs out.
        CHECK(value_of(sync(io, a.frontier->renew({taken.requests[0].lease_id}))) == 1);
    }
    CHECK(value_of(sync(io, a.frontier->requeue_expired())) == 1);
    auto again = value_of(sync(io, a.frontier->take("http://h:80", 2, host_rate{})));
    CHECK(payloads(again) == std::vector<std::string>{"dropped"});
    // A lease already handed out again cannot be renewed back.
    CHECK(value_of(sync(io, a.frontier->renew({taken.requests[1].lease_id}))) == 0);
}

TEST_CASE("a seeding claim expires unless renewed; another worker then takes it over",
          "[unit][redis]") {
    harvest::test::redis_server server;
    asio::io_context io;
    auto a = make_worker(io, server, 400ms);
    auto b = make_worker(io, server, 400ms);
    CHECK(value_of(sync(io, a.frontier->claim_seeding("worker-a"))));
    CHECK_FALSE(value_of(sync(io, b.frontier->claim_seeding("worker-b"))));
    // The seeding worker renews its claim while it loads: it stays live past one `lease`.
    for (int i = 0; i < 3; ++i) {
        std::this_thread::sleep_for(200ms);
        CHECK(value_of(sync(io, a.frontier->claim_seeding("worker-a"))));
        CHECK_FALSE(value_of(sync(io, b.frontier->claim_seeding("worker-b"))));
    }
    // worker-a dies mid-seeding: its claim runs out and worker-b takes it over.
    std::this_thread::sleep_for(600ms);
    CHECK_FALSE(value_of(sync(io, b.frontier->seeded())));
    CHECK(value_of(sync(io, b.frontier->claim_seeding("worker-b"))));
    CHECK_FALSE(value_of(sync(io, a.frontier->claim_seeding("worker-a"))));
    ok(sync(io, b.frontier->mark_seeded()));
    // Once the seeds are loaded nobody claims them again, even after the claim expired.
    std::this_thread::sleep_for(600ms);
    CHECK_FALSE(value_of(sync(io, a.frontier->claim_seeding("worker-a"))));
    CHECK_FALSE(value_of(sync(io, b.frontier->claim_seeding("worker-b"))));
    CHECK(value_of(sync(io, a.frontier->seeded())));
}

namespace {

// Runs `io` until `done()` or `limit`; true when done.
template <typename Predicate>
bool drive_until(asio::io_context& io, Predicate done, std::chrono::milliseconds limit = 5s) {
    const auto give_up = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > give_up) {
            return false;
        }
        io.run_one_for(20ms);
    }
    return true;
}

}  // namespace

TEST_CASE("redis_backend shares a breaker closing as well as its opening", "[unit][redis]") {
    harvest::test::redis_server server;
    asio::io_context io;
    auto observer = make_worker(io, server);
    harvest::redis::backend_options options;
    options.name = "catalog";
    options.frontier.backend = harvest::redis::frontier_options::kind::redis;
    options.frontier.url = server.url();
    options.frontier.worker = "worker-a";
    auto backend = std::make_shared<harvest::redis::redis_backend>(
        options, harvest::crawl::seed_stream(std::vector<harvest::crawl::seed_spec>{}));
    auto strand = asio::make_strand(io);
    harvest::crawl::shared_backend::local_view local{
        [] { return std::size_t{0}; }, [](std::vector<harvest::crawl::crawl_request>) {}};
    backend->start(strand, local);
    const std::string origin = "http://down:80";
    auto breaker_ttl = [&] {
        auto r =
            sync(io, observer.connection->command(
                         {"PTTL", observer.frontier->key_prefix(origin) + "breaker:" + origin}));
        return value_of(std::move(r)).integer;
    };
    REQUIRE(drive_until(io, [&] { return backend->seeded_here(); }));

    asio::post(strand, [&] { backend->breaker_opened(origin, 30s); });
    CHECK(drive_until(io, [&] { return breaker_ttl() > 0; }));
    // This worker's half-open probe succeeded: the others may lease the host again at once,
    // not 30 s later.
    asio::post(strand, [&] { backend->breaker_closed(origin); });
    CHECK(drive_until(io, [&] { return breaker_ttl() == -2; }));  // -2: no such key
    CHECK_FALSE(backend->failed());

    asio::post(strand, [&] { backend->close(); });
    drive_until(
        io, [] { return false; }, 200ms);
}

// A worker that takes over the seeding of a crawl (its seeding worker died) is mid-crawl: what
// it completes while it loads the seeds must reach Redis then, not once all the seeds are in. A
// completion held back for the whole seeding let its lease expire and the page be fetched again
// by another worker (399 pages twice in a CI run of the distributed seed-kill test).
TEST_CASE("redis_backend taking over the seeding sends its completions as it loads",
          "[unit][redis]") {
    harvest::test::redis_server server;
    asio::io_context io;
    auto observer = make_worker(io, server);
    // A seeding worker that died: its claim is live (until the test lets it expire below), and
    // nothing is seeded.
    REQUIRE(value_of(sync(io, observer.frontier->claim_seeding("dead"))));

    constexpr int seeds = 100000;  // enough for the loading to take many round trips
    std::vector<harvest::crawl::seed_spec> specs(seeds);
    for (int i = 0; i < seeds; ++i) {
        specs[i].url = "http://seed:80/p/" + std::to_string(i);
    }
    harvest::redis::backend_options options;
    options.name = "catalog";
    options.obey_robots_txt = false;
    options.frontier.backend = harvest::redis::frontier_options::kind::redis;
    options.frontier.url = server.url();
    options.frontier.worker = "worker-a";
    auto backend = std::make_shared<harvest::redis::redis_backend>(
        options, harvest::crawl::seed_stream(std::move(specs)));
    auto strand = asio::make_strand(io);
    std::vector<harvest::crawl::crawl_request> delivered;
    harvest::crawl::shared_backend::local_view local{
        [] { return std::size_t{0}; },
        [&delivered](std::vector<harvest::crawl::crawl_request> requests) {
            for (auto& r : requests) {
                delivered.push_back(std::move(r));
            }
        }};
    backend->start(strand, local);
    auto seeded = [&] { return value_of(sync(io, observer.frontier->seeded())); };

    // It joins the crawl (the dead worker's claim is live), finds a link and leases it.
    harvest::crawl::crawl_request link;
    link.http.url = "http://shop:80/product/1";
    asio::post(strand, [&] { backend->admit(link); });
    REQUIRE(drive_until(io, [&] { return !delivered.empty(); }));
    REQUIRE(delivered.front().http.url == link.http.url);
    REQUIRE_FALSE(seeded());

    // The dead worker's claim expires: this worker loads the seeds again. Its fetch of the link
    // completes in the middle of that. (Expired by the test, not by a clock: under TSan the
    // worker took longer to join than a short claim lived.)
    REQUIRE(value_of(sync(io, observer.connection->command(
                                  {"DEL", observer.frontier->key_prefix("") + "seeding"})))
                .integer == 1);
    REQUIRE(
        drive_until(io, [&] { return value_of(sync(io, observer.frontier->counts())).seen > 1; }));
    REQUIRE_FALSE(seeded());
    asio::post(strand, [&] { backend->complete(delivered.front()); });
    REQUIRE(drive_until(
        io, [&] { return value_of(sync(io, observer.frontier->counts())).in_flight == 0; }, 60s));
    CHECK_FALSE(seeded());  // completed while the seeds were still loading
    CHECK(drive_until(
        io, [&] { return backend->seeded_here(); }, 60s));
    CHECK(value_of(sync(io, observer.frontier->counts())).seen == seeds + 1);
    CHECK(std::count_if(delivered.begin(), delivered.end(),
                        [&](const auto& r) { return r.http.url == link.http.url; }) == 1);
    CHECK_FALSE(backend->failed());

    asio::post(strand, [&] { backend->close(); });
    drive_until(
        io, [] { return false; }, 200ms);
}

TEST_CASE("shared_frontier: a Redis restart (AOF on) is ridden out, the command sent again",
          "[unit][redis]") {
    harvest::test::redis_server server(harvest::test::redis_server_options::persistent());
    asio::io_context io;
    auto connection = sync(io, connect_frontier_client(server.url()));
    harvest::redis::reconnect_options reconnect;
    reconnect.where = value_of(harvest::redis::parse_url(server.url()));
    reconnect.give_up_after = 20s;
    shared_frontier frontier(
        connection, harvest::redis::shared_frontier_options{"restart", 60s, reconnect, {}});
    ok(sync(io, frontier.load_scripts()));
    std::vector<admission> first{request("http://a", 1, "one"), request("http://a", 2, "two")};
    value_of(sync(io, frontier.admit(std::move(first))));

    server.stop();
    std::thread again([&server] {
        std::this_thread::sleep_for(1s);
        server.start_again();
    });
    // Sent while Redis is away: it waits for Redis, then goes through once (the script cache
    // is gone too: loaded again).
    auto taken = sync(io, frontier.take("http://a", 1, host_rate{}));
    again.join();
    REQUIRE(taken.has_value());
    CHECK(payloads(*taken) == std::vector<std::string>{"one"});
    CHECK(frontier.up());
    CHECK(frontier.reconnects() >= 1);
    const auto counts = value_of(sync(io, frontier.counts()));
    CHECK(counts.queued == 1);  // the AOF kept the queue; the take leased exactly one
    CHECK(counts.in_flight == 1);
    CHECK(counts.seen == 2);
    // A redirect claim is answered for this call only: sent again by another worker it is not
    // fresh.
    CHECK(value_of(sync(io, frontier.mark_seen({harvest::redis::seen_mark{"http://a", 7}}))) ==
          std::vector<bool>{true});
    CHECK(value_of(sync(io, frontier.mark_seen({harvest::redis::seen_mark{"http://a", 7}}))) ==
          std::vector<bool>{false});
}

TEST_CASE("shared_frontier: Redis gone for longer than give_up_after ends with unreachable",
          "[unit][redis]") {
    harvest::test::redis_server server;
    asio::io_context io;
    auto connection = sync(io, connect_frontier_client(server.url()));
    harvest::redis::reconnect_options reconnect;
    reconnect.where = value_of(harvest::redis::parse_url(server.url()));
    reconnect.give_up_after = 600ms;
    shared_frontier frontier(connection,
                             harvest::redis::shared_frontier_options{"gone", 60s, reconnect, {}});
    ok(sync(io, frontier.load_scripts()));
    server.stop();
    const auto started = std::chrono::steady_clock::now();
    auto counts = sync(io, frontier.counts());
    const auto waited = std::chrono::steady_clock::now() - started;
    REQUIRE_FALSE(counts.has_value());
    CHECK(counts.error() == make_error_code(harvest::redis::client_error::unreachable));
    CHECK(waited >= 550ms);
    CHECK(waited < 5s);
    CHECK_FALSE(frontier.up());
}

// The same operations on a 3-primary Redis Cluster: the keys spread over the primaries in
// hash-tagged partitions, and every guarantee above still holds across them.
TEST_CASE("on a Redis Cluster: dedup, leases, expiry, seeding, breakers and rates across shards",
          "[unit][redis][cluster][slow]") {
    harvest::test::redis_cluster cluster(3, 0);
    asio::io_context io;
    const std::string url = cluster.url();

    // Dedup and queues: 40 hosts, three URLs each (one twice), from two workers.
    auto a = make_cluster_worker(io, url, 400ms, "spread");
    auto b = make_cluster_worker(io, url, 400ms, "spread");
    REQUIRE(a.frontier->partitions() == harvest::redis::cluster_partitions);
    std::vector<admission> batch;
    std::vector<std::string> hosts;
    for (int h = 0; h < 40; ++h) {
        hosts.push_back("http://host" + std::to_string(h) + ":80");
        for (int i = 0; i < 3; ++i) {
            batch.push_back(request(hosts.back(), static_cast<std::uint64_t>(h * 10 + i + 1),
                                    hosts.back() + "/" + std::to_string(i)));
        }
        batch.push_back(request(hosts.back(), static_cast<std::uint64_t>(h * 10 + 1), "again"));
    }
    auto first = value_of(sync(io, a.frontier->admit(batch)));
    REQUIRE(first.size() == 160);
    for (std::size_t i = 0; i < first.size(); ++i) {
        CHECK(first[i] == (i % 4 != 3));
    }
    auto second = value_of(sync(io, b.frontier->admit(batch)));
    CHECK(std::none_of(second.begin(), second.end(), [](bool q) { return q; }));
    auto counts = value_of(sync(io, b.frontier->counts()));
    CHECK(counts.queued == 120);
    CHECK(counts.seen == 120);
    auto ready = value_of(sync(io, b.frontier->ready_hosts()));
    std::sort(ready.begin(), ready.end());
    auto expected_hosts = hosts;
    std::sort(expected_hosts.begin(), expected_hosts.end());
    CHECK(ready == expected_hosts);
    // Every primary holds part of the crawl.
    for (auto& node : cluster.nodes()) {
        INFO("node " << node->port());
        CHECK(std::stoi(node->cli("DBSIZE")) > 0);
    }

    // Leases in many partitions: a takes everything, completes half and dies; b gets the rest
    // back after the lease, each exactly once.
    std::vector<std::string> held;
    std::vector<std::string> leased_payloads;
    for (const auto& host : hosts) {
        auto taken = value_of(sync(io, a.frontier->take(host, 10, host_rate{})));
        CHECK(taken.requests.size() == 3);
        for (auto& r : taken.requests) {
            held.push_back(r.lease_id);
            leased_payloads.push_back(r.payload);
        }
    }
    REQUIRE(held.size() == 120);
    std::vector<std::string> done(held.begin(), held.begin() + 60);
    CHECK(value_of(sync(io, a.frontier->complete(done))) == 60);
    CHECK(value_of(sync(io, a.frontier->renew({held[60], held[61]}))) == 2);
    a.frontier->close();
    counts = value_of(sync(io, b.frontier->counts()));
    CHECK(counts.queued == 0);
    CHECK(counts.in_flight == 60);
    std::this_thread::sleep_for(500ms);
    CHECK(value_of(sync(io, b.frontier->requeue_expired())) == 60);
    std::vector<std::string> redelivered;
    std::vector<std::string> again_ids;
    for (const auto& host : hosts) {
        auto taken = value_of(sync(io, b.frontier->take(host, 10, host_rate{})));
        for (auto& r : taken.requests) {
            redelivered.push_back(r.payload);
            again_ids.push_back(r.lease_id);
        }
    }
    std::vector<std::string> expected(leased_payloads.begin() + 60, leased_payloads.end());
    std::sort(expected.begin(), expected.end());
    std::sort(redelivered.begin(), redelivered.end());
    CHECK(redelivered == expected);
    CHECK(value_of(sync(io, b.frontier->complete({held[119]}))) == 0);  // expired: not ours
    CHECK(value_of(sync(io, b.frontier->complete(again_ids))) == 60);
    counts = value_of(sync(io, b.frontier->counts()));
    CHECK(counts.queued == 0);
    CHECK(counts.in_flight == 0);
    CHECK(counts.redelivered == 60);
    CHECK(counts.settled);

    // A redirect target's claim shares the dedup entry of its host's partition.
    CHECK(value_of(sync(io, b.frontier->mark_seen({harvest::redis::seen_mark{hosts[3], 31},
                                                   harvest::redis::seen_mark{hosts[5], 999}}))) ==
          std::vector<bool>{false, true});
    CHECK(value_of(sync(io, b.frontier->admit({request(hosts[5], 999, "late")}))) ==
          std::vector<bool>{false});

    // Seeding: claimed once, marked in every partition; one partition losing its marker (a
    // failover to a replica out of sync) reads as lost state, and the claim can be won again.
    auto c = make_cluster_worker(io, url, 60s, "seeds");
    auto d = make_cluster_worker(io, url, 60s, "seeds");
    CHECK(value_of(sync(io, c.frontier->claim_seeding("c"))));
    CHECK_FALSE(value_of(sync(io, d.frontier->claim_seeding("d"))));
    ok(sync(io, c.frontier->mark_seeded()));
    CHECK(value_of(sync(io, d.frontier->seeded())));
    CHECK_FALSE(value_of(sync(io, d.frontier->claim_seeding("d"))));
    const std::string lost = d.frontier->key_prefix("http://host7:80") + "seeded";
    auto* owner = cluster.primary_of(harvest::redis::key_slot(lost));
    REQUIRE(owner != nullptr);
    CHECK(owner->cli("DEL " + lost) == "1\n");
    CHECK_FALSE(value_of(sync(io, d.frontier->seeded())));
    ok(sync(io, d.frontier->forget_seeded()));
    CHECK(value_of(sync(io, d.frontier->claim_seeding("d"))));

    // A breaker opened by one worker holds the host back for the others.
    value_of(sync(io, c.frontier->admit({request("http://down:80", 1, "x")})));
    ok(sync(io, c.frontier->open_breaker("http://down:80", 5s)));
    auto blocked = value_of(sync(io, d.frontier->take("http://down:80", 1, host_rate{})));
    CHECK(blocked.breaker_open);
    CHECK(blocked.requests.empty());
    ok(sync(io, d.frontier->close_breaker("http://down:80")));
    CHECK(value_of(sync(io, d.frontier->take("http://down:80", 1, host_rate{}))).requests.size() ==
          1);

    // One host's rate holds across three workers (its GCRA lives in one partition).
    std::vector<worker> workers;
    for (int i = 0; i < 3; ++i) {
        workers.push_back(make_cluster_worker(io, url, 60s, "rated"));
    }
    check_shared_rate(io, workers);
}

namespace {

// A randomized crawl on the shared frontier, for the cluster-wide termination check: a chain of
// requests on random hosts (each request's one link admitted before the request completes, as
// redis_backend does), so the whole frontier holds one request at a time and every hop from a
// partition to another is a moment where partitions read one after the other could all look
// empty. Workers take, wait a little, admit and complete; an observer asks `counts` over and
// over. Once it reads an empty, settled frontier, nothing may be handed out any more, and every
// admitted request must have been completed.
struct tree_crawl {
    std::vector<std::string> hosts;
    std::mt19937_64 rng;
    std::uint64_t next_fingerprint = 1;
    std::size_t admitted = 0;  // fresh admissions
    // Admissions asked for, counted before the admit is awaited: a child can be taken and
    // handled by another worker before its parent's admit has answered, so a cap checked
    // against `admitted` alone let the chain grow one past it on a loaded machine.
    std::size_t asked = 0;
    std::size_t completed = 0;  // completions of a lease still held
    std::size_t cap = 0;        // admissions at most
    bool declared = false;      // the observer read an empty, settled frontier
    std::size_t taken_after = 0;
    std::size_t unsettled = 0;  // empty reads that were not settled
    bool stop = false;

    admission child(int depth) {
        const auto& host = hosts[rng() % hosts.size()];
        return request(host, next_fingerprint++, std::to_string(depth));
    }
};

asio::awaitable<void> tree_worker(shared_frontier* frontier, tree_crawl* crawl) {
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer timer(executor);
    while (!crawl->stop) {
        const std::string host = crawl->hosts[crawl->rng() % crawl->hosts.size()];
        auto taken = co_await frontier->take(host, 1 + crawl->rng() % 3, host_rate{});
        if (!taken) {
            throw std::runtime_error("take: " + taken.error().message());
        }
        if (crawl->declared) {
            crawl->taken_after += taken->requests.size();
        }
        for (auto& leased : taken->requests) {
            timer.expires_after(std::chrono::microseconds(crawl->rng() % 500));
            co_await timer.async_wait(asio::use_awaitable);
            const int depth = std::stoi(leased.payload);
            std::vector<admission> children;
            if (crawl->asked < crawl->cap) {
                children.push_back(crawl->child(depth + 1));
                ++crawl->asked;
            }
            if (!children.empty()) {
                auto queued = co_await frontier->admit(std::move(children));
                if (!queued) {
                    throw std::runtime_error("admit: " + queued.error().message());
                }
                crawl->admitted +=
                    static_cast<std::size_t>(std::count(queued->begin(), queued->end(), true));
            }
            std::vector<std::string> done{leased.lease_id};
            auto held = co_await frontier->complete(std::move(done));
            if (!held) {
                throw std::runtime_error("complete: " + held.error().message());
            }
            crawl->completed += *held;
        }
        if (taken->requests.empty()) {
            timer.expires_after(std::chrono::microseconds(200 + crawl->rng() % 800));
            co_await timer.async_wait(asio::use_awaitable);
        }
    }
}

asio::awaitable<void> tree_observer(shared_frontier* frontier, tree_crawl* crawl) {
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer timer(executor);
    while (!crawl->declared) {
        auto counts = co_await frontier->counts();
        if (!counts) {
            throw std::runtime_error("counts: " + counts.error().message());
        }
        if (counts->queued == 0 && counts->in_flight == 0) {
            if (counts->settled) {
                crawl->declared = true;
            } else {
                ++crawl->unsettled;
            }
        }
    }
    // The workers go on asking for a while: nothing may come.
    timer.expires_after(std::chrono::milliseconds(300));
    co_await timer.async_wait(asio::use_awaitable);
    crawl->stop = true;
}

}  // namespace

TEST_CASE("on a Redis Cluster, an empty frontier is declared only once the crawl is over",
          "[unit][redis][cluster][slow]") {
    harvest::test::redis_cluster cluster(3, 0);
    asio::io_context io;
    for (const std::uint64_t seed : {1U, 2U, 3U}) {
        INFO("seed " << seed);
        tree_crawl crawl;
        crawl.rng.seed(seed);
        crawl.cap = 300;
        for (int h = 0; h < 24; ++h) {
            crawl.hosts.push_back("http://shop" + std::to_string(h) + ".test:80");
        }
        const std::string name = "tree" + std::to_string(seed);
        std::vector<worker> workers;
        for (int i = 0; i < 3; ++i) {
            workers.push_back(make_cluster_worker(io, cluster.url(), 60s, name));
        }
        auto observer = make_cluster_worker(io, cluster.url(), 60s, name);
        std::vector<admission> roots;
        roots.push_back(crawl.child(0));
        crawl.admitted = roots.size();
        crawl.asked = roots.size();
        value_of(sync(io, workers[0].frontier->admit(roots)));

        std::vector<std::future<void>> running;
        for (auto& w : workers) {
            running.push_back(
                asio::co_spawn(io, tree_worker(w.frontier.get(), &crawl), asio::use_future));
        }
        running.push_back(
            asio::co_spawn(io, tree_observer(observer.frontier.get(), &crawl), asio::use_future));
        drive_all(io, running, std::chrono::steady_clock::now() + 60s);
        INFO("admitted " << crawl.admitted << ", completed " << crawl.completed
                         << ", empty reads not settled " << crawl.unsettled);
        CHECK(crawl.declared);
        CHECK(crawl.taken_after == 0);
        CHECK(crawl.completed == crawl.admitted);
        CHECK(crawl.admitted == crawl.cap);
        WARN("tree crawl seed " << seed << ": " << crawl.admitted << " requests, "
                                << crawl.unsettled << " empty reads not settled");
    }
}
