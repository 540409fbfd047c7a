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
#include <string>
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
