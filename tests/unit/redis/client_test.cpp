// The Redis client against a real redis-server: commands, binary-safe arguments, error replies,
// pipelining from many concurrent coroutines (replies matched in order), and a server that goes
// away under in-flight requests. Catch2 assertions stay outside the coroutines (GCC 12 cannot
// compile them inside): coroutines return what they saw.

#include "engine/redis/client.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/unit/redis/redis_test_util.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace asio = boost::asio;
using harvest::redis::client;
using harvest::redis::reply;
using reply_result = boost::system::result<reply>;

namespace {

asio::awaitable<std::shared_ptr<client>> connect_to(std::string url) {
    auto where = harvest::redis::parse_url(url);
    if (!where) {
        throw std::runtime_error("bad url " + url);
    }
    auto executor = co_await asio::this_coro::executor;
    auto connected = co_await client::connect(executor, *where);
    if (!connected) {
        throw std::runtime_error("connect: " + connected.error().message());
    }
    co_return *connected;
}

// Runs each command on its own (one round trip each) and returns every result.
asio::awaitable<std::vector<reply_result>> run_commands(
    std::string url, std::vector<std::vector<std::string>> commands) {
    auto c = co_await connect_to(url);
    std::vector<reply_result> results;
    for (auto& args : commands) {
        auto r = co_await c->command(std::move(args));
        results.push_back(std::move(r));
    }
    c->close();
    co_return results;
}

asio::awaitable<boost::system::result<std::vector<reply>>> run_pipeline(
    std::string url, std::vector<std::vector<std::string>> commands) {
    auto c = co_await connect_to(url);
    auto replies = co_await c->pipeline(std::move(commands));
    c->close();
    co_return replies;
}

// Each worker sets and reads back its own key: a reply delivered to the wrong caller shows up as
// a mismatch.
asio::awaitable<void> set_get_worker(std::shared_ptr<client> c, int id, int rounds,
                                     std::shared_ptr<std::atomic<int>> matched,
                                     std::shared_ptr<std::atomic<std::size_t>> peak) {
    for (int i = 0; i < rounds; ++i) {
        std::string key = "k" + std::to_string(id);
        std::string value = std::to_string(id * 100000 + i);
        std::vector<std::string> set_args{"SET", key, value};
        auto set = co_await c->command(std::move(set_args));
        std::size_t now = c->in_flight();
        std::size_t seen = peak->load();
        while (now > seen && !peak->compare_exchange_weak(seen, now)) {
        }
        std::vector<std::string> get_args{"GET", key};
        auto get = co_await c->command(std::move(get_args));
        if (set && get && get->str == value) {
            matched->fetch_add(1);
        }
    }
}

asio::awaitable<void> run_concurrent(std::string url, int workers, int rounds,
                                     std::shared_ptr<std::atomic<int>> matched,
                                     std::shared_ptr<std::atomic<std::size_t>> peak) {
    auto c = co_await connect_to(url);
    auto executor = co_await asio::this_coro::executor;
    auto remaining = std::make_shared<std::atomic<int>>(workers);
    auto all_done = std::make_shared<asio::steady_timer>(executor);
    all_done->expires_at(asio::steady_timer::time_point::max());
    for (int id = 0; id < workers; ++id) {
        asio::co_spawn(executor, set_get_worker(c, id, rounds, matched, peak),
                       [remaining, all_done](std::exception_ptr) {
                           if (remaining->fetch_sub(1) == 1) {
                               all_done->cancel();
                           }
                       });
    }
    boost::system::error_code ec;
    co_await all_done->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    c->close();
}

// PING, then the server stops, then two more PINGs.
asio::awaitable<std::vector<reply_result>> ping_across_stop(harvest::test::redis_server* server) {
    auto c = co_await connect_to(server->url());
    std::vector<reply_result> results;
    std::vector<std::string> ping{"PING"};
    results.push_back(co_await c->command(ping));
    server->stop();
    results.push_back(co_await c->command(ping));
    results.push_back(co_await c->command(ping));
    co_return results;
}

asio::awaitable<bool> can_connect(std::uint16_t port) {
    harvest::redis::endpoint where;
    where.port = port;
    auto executor = co_await asio::this_coro::executor;
    auto connected = co_await client::connect(executor, where);
    co_return connected.has_value();
}

}  // namespace

TEST_CASE("parse_url reads host, port, credentials and db", "[unit][redis]") {
    auto a = harvest::redis::parse_url("redis://127.0.0.1:6380/3");
    REQUIRE(a.has_value());
    CHECK(a->host == "127.0.0.1");
    CHECK(a->port == 6380);
    CHECK(a->db == 3);
    CHECK(a->password.empty());
    auto b = harvest::redis::parse_url("redis://:secret@localhost");
    REQUIRE(b.has_value());
    CHECK(b->host == "localhost");
    CHECK(b->port == 6379);
    CHECK(b->password == "secret");
    CHECK(b->db == 0);
    auto c = harvest::redis::parse_url("redis://user:pw@[::1]:7000/0");
    REQUIRE(c.has_value());
    CHECK(c->host == "::1");
    CHECK(c->user == "user");
    CHECK_FALSE(harvest::redis::parse_url("http://127.0.0.1:6379/0").has_value());
    CHECK_FALSE(harvest::redis::parse_url("redis://127.0.0.1:6379/x").has_value());
    CHECK_FALSE(harvest::redis::parse_url("not a url").has_value());
}

TEST_CASE("commands round-trip binary-safe values; error replies are replies", "[unit][redis]") {
    harvest::test::redis_server server;
    asio::io_context io;
    std::string binary("a\0b\r\n$3\r\n", 9);
    auto results =
        harvest::test::run_coroutine(io, run_commands(server.url(), {{"SET", "k", binary},
                                                                     {"GET", "k"},
                                                                     {"GET", "nothing"},
                                                                     {"INCR", "k"},
                                                                     {"RPUSH", "l", "x", "y"},
                                                                     {"LRANGE", "l", "0", "-1"}}));
    REQUIRE(results.size() == 6);
    for (const auto& r : results) {
        REQUIRE(r.has_value());  // the transport never failed, whatever Redis answered
    }
    CHECK(results[0]->type == reply::kind::status);
    CHECK(results[0]->str == "OK");
    CHECK(results[1]->type == reply::kind::string);
    CHECK(results[1]->str == binary);
    CHECK(results[2]->type == reply::kind::nil);
    CHECK(results[3]->is_error());
    CHECK(results[4]->integer == 2);
    REQUIRE(results[5]->type == reply::kind::array);
    REQUIRE(results[5]->elements.size() == 2);
    CHECK(results[5]->elements[1].str == "y");
}

TEST_CASE("a pipeline is one round trip with one reply per command, in order", "[unit][redis]") {
    harvest::test::redis_server server;
    asio::io_context io;
    std::vector<std::vector<std::string>> commands;
    for (int i = 0; i < 1000; ++i) {
        commands.push_back({"INCR", "counter"});
    }
    auto replies = harvest::test::run_coroutine(io, run_pipeline(server.url(), commands));
    REQUIRE(replies.has_value());
    REQUIRE(replies->size() == 1000);
    for (int i = 0; i < 1000; ++i) {
        REQUIRE((*replies)[i].integer == i + 1);
    }
}

TEST_CASE("concurrent coroutines on several threads share one connection", "[unit][redis]") {
    harvest::test::redis_server server;
    asio::io_context io;
    auto matched = std::make_shared<std::atomic<int>>(0);
    auto peak = std::make_shared<std::atomic<std::size_t>>(0);
    constexpr int workers = 50;
    constexpr int rounds = 200;
    harvest::test::run_coroutine(io, run_concurrent(server.url(), workers, rounds, matched, peak),
                                 2);
    CHECK(matched->load() == workers * rounds);
    CHECK(peak->load() > 1);  // commands really were in flight together
}

TEST_CASE("a server that goes away fails in-flight and later requests", "[unit][redis]") {
    harvest::test::redis_server server;
    asio::io_context io;
    auto results = harvest::test::run_coroutine(io, ping_across_stop(&server));
    REQUIRE(results.size() == 3);
    REQUIRE(results[0].has_value());
    CHECK(results[0]->str == "PONG");
    CHECK_FALSE(results[1].has_value());
    CHECK_FALSE(results[2].has_value());
}

TEST_CASE("connecting to a closed port fails with an error code", "[unit][redis]") {
    int port = 0;
    {
        harvest::test::redis_server server;
        port = server.port();
    }
    asio::io_context io;
    CHECK_FALSE(harvest::test::run_coroutine(io, can_connect(static_cast<std::uint16_t>(port))));
}

TEST_CASE("parse_url reads a Sentinel list, the primary's name, credentials and db",
          "[unit][redis]") {
    using harvest::redis::parse_url;
    auto a = parse_url("redis-sentinel://127.0.0.1:26380,[::1],sentinel.local:5000/shop/2");
    REQUIRE(a.has_value());
    REQUIRE(a->sentinels.size() == 3);
    CHECK(a->sentinels[0].host == "127.0.0.1");
    CHECK(a->sentinels[0].port == 26380);
    CHECK(a->sentinels[1].host == "::1");
    CHECK(a->sentinels[1].port == 26379);  // Sentinel's default port
    CHECK(a->sentinels[2].host == "sentinel.local");
    CHECK(a->sentinels[2].port == 5000);
    CHECK(a->master_name == "shop");
    CHECK(a->db == 2);
    auto b = parse_url("redis-sentinel://user:pw@127.0.0.1:26379/mymaster");
    REQUIRE(b.has_value());
    CHECK(b->user == "user");
    CHECK(b->password == "pw");
    CHECK(b->master_name == "mymaster");
    CHECK(b->db == 0);
    CHECK_FALSE(parse_url("redis-sentinel://127.0.0.1:26379").has_value());   // no name
    CHECK_FALSE(parse_url("redis-sentinel://127.0.0.1:26379/").has_value());  // empty name
    CHECK_FALSE(parse_url("redis-sentinel:///mymaster").has_value());         // no Sentinel
    CHECK_FALSE(parse_url("redis-sentinel://a:1,/m").has_value());            // trailing comma
    CHECK_FALSE(parse_url("redis-sentinel://a:99999/m").has_value());
    CHECK_FALSE(parse_url("redis-sentinel://a:1/m/x").has_value());
}

namespace {

// Connects with a 300 ms timeout, pings, freezes the server, pings again: the second ping must
// fail with timed_out, in about the timeout, not hang.
asio::awaitable<std::pair<reply_result, std::chrono::milliseconds>> ping_frozen(
    harvest::test::redis_server* server) {
    auto where = harvest::redis::parse_url(server->url());
    where->timeout = std::chrono::milliseconds(300);
    auto executor = co_await asio::this_coro::executor;
    auto connected = co_await client::connect(executor, *where);
    if (!connected) {
        throw std::runtime_error("connect: " + connected.error().message());
    }
    auto c = *connected;
    std::vector<std::string> ping{"PING"};
    auto first = co_await c->command(ping);
    if (!first) {
        throw std::runtime_error("first ping failed");
    }
    server->pause();
    const auto began = std::chrono::steady_clock::now();
    auto second = co_await c->command(ping);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - began);
    server->resume();
    co_return std::make_pair(std::move(second), took);
}

// Connects through the Sentinels of `url` and writes key=value; returns the error or "".
asio::awaitable<std::string> set_through_sentinel(std::string url, std::string key,
                                                  std::string value) {
    auto where = harvest::redis::parse_url(url);
    if (!where) {
        co_return "bad url";
    }
    where->timeout = std::chrono::seconds(2);
    auto executor = co_await asio::this_coro::executor;
    auto connected = co_await client::connect(executor, *where);
    if (!connected) {
        co_return connected.error().message();
    }
    std::vector<std::string> set{"SET", std::move(key), std::move(value)};
    auto r = co_await (*connected)->command(std::move(set));
    (*connected)->close();
    if (!r) {
        co_return r.error().message();
    }
    co_return r->is_error() ? r->str : std::string();
}

}  // namespace

TEST_CASE("a frozen server (SIGSTOP) fails a request with timed_out after the timeout",
          "[unit][redis]") {
    harvest::test::redis_server server;
    asio::io_context io;
    auto [second, took] = harvest::test::run_coroutine(io, ping_frozen(&server));
    REQUIRE_FALSE(second.has_value());
    CHECK(second.error() == make_error_code(harvest::redis::client_error::timed_out));
    CHECK(took >= std::chrono::milliseconds(250));
    CHECK(took < std::chrono::seconds(5));
    CHECK(server.cli("PING") == "PONG\n");  // resumed
}

TEST_CASE("through Sentinel: the primary is found, and found again after a failover",
          "[unit][redis]") {
    using harvest::test::redis_server;
    using harvest::test::redis_server_options;
    redis_server primary;
    redis_server replica(redis_server_options::replica(primary.port()));
    redis_server sentinel(redis_server_options::sentinel("harvest", primary.port()));
    int dead_port = 0;
    {
        redis_server gone;
        dead_port = gone.port();
    }
    // The first Sentinel listed is down: the next one is asked.
    const std::string url = "redis-sentinel://127.0.0.1:" + std::to_string(dead_port) +
                            ",127.0.0.1:" + std::to_string(sentinel.port()) + "/harvest";
    asio::io_context io;
    CHECK(harvest::test::run_coroutine(io, set_through_sentinel(url, "k", "before")).empty());
    CHECK(primary.cli("GET k") == "before\n");

    // Wait until the replica is in sync and Sentinel knows it, then kill the primary.
    const auto known = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < known &&
           (replica.cli("GET k") != "before\n" ||
            sentinel.cli("SENTINEL replicas harvest").find(std::to_string(replica.port())) ==
                std::string::npos)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    REQUIRE(replica.cli("GET k") == "before\n");
    primary.kill();
    const auto failed_over = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < failed_over &&
           sentinel.cli("SENTINEL get-master-addr-by-name harvest")
                   .find(std::to_string(replica.port())) == std::string::npos) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    INFO(sentinel.cli("SENTINEL get-master-addr-by-name harvest"));
    REQUIRE(replica.cli("ROLE").rfind("master", 0) == 0);
    CHECK(harvest::test::run_coroutine(io, set_through_sentinel(url, "k", "after")).empty());
    CHECK(replica.cli("GET k") == "after\n");
}
