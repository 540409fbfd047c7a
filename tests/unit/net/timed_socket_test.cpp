// The connection's lazily kept deadline (engine/net/detail/timed_socket.hpp): a read that waits
// past it fails with beast::error::timeout, whether the deadline was set once, moved later while
// a wait was outstanding (a kept-alive connection's next request) or moved earlier; a cleared
// deadline leaves the io_context free to run out of work; a socket destroyed with its timer
// outstanding is no harm; and on two threads the timer's handler and the socket's user share
// it safely (TSan runs this file).

#include "engine/net/detail/timed_socket.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
using harvest::net::detail::timed_socket;
using std::chrono::milliseconds;
using clock_type = std::chrono::steady_clock;
using tcp = asio::ip::tcp;

// A connected pair on 127.0.0.1: the client end and the server end.
std::pair<tcp::socket, tcp::socket> connected_pair(asio::io_context& ioc) {
    tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    tcp::socket client(ioc);
    client.connect(acceptor.local_endpoint());
    tcp::socket server = acceptor.accept();
    return {std::move(client), std::move(server)};
}

struct read_result {
    boost::system::error_code ec;
    std::size_t n = 0;
    milliseconds took{};
};

// One read on `socket`, run to its end with the io_context.
asio::awaitable<read_result> read_once(timed_socket& socket) {
    std::array<char, 16> bytes{};
    const auto start = clock_type::now();
    auto [ec, n] =
        co_await socket.async_read_some(asio::buffer(bytes), asio::as_tuple(asio::use_awaitable));
    co_return read_result{ec, n,
                          std::chrono::duration_cast<milliseconds>(clock_type::now() - start)};
}

read_result run_read(asio::io_context& ioc, asio::awaitable<read_result> read) {
    std::optional<read_result> out;
    asio::co_spawn(ioc, std::move(read),
                   [&](const std::exception_ptr&, read_result r) { out = r; });
    ioc.restart();
    ioc.run_for(std::chrono::seconds(20));
    REQUIRE(out);
    return *out;
}

}  // namespace

TEST_CASE("a read waiting past the deadline fails as a timeout", "[unit][net][timed_socket]") {
    asio::io_context ioc;
    auto [client, server] = connected_pair(ioc);
    timed_socket socket(std::move(client));
    socket.expires_after(milliseconds(100));
    const auto r = run_read(ioc, read_once(socket));
    CHECK(r.ec == boost::beast::error::timeout);
    CHECK(r.took >= milliseconds(90));
    CHECK(r.took < milliseconds(5000));
    CHECK(socket.timed_out());
}

TEST_CASE("a deadline moved later while its wait is outstanding does not fire early",
          "[unit][net][timed_socket]") {
    asio::io_context ioc;
    auto [client, server] = connected_pair(ioc);
    timed_socket socket(std::move(client));
    // As a kept-alive connection does: each request moves the deadline on; the first wait fires
    // at 150 ms, finds the deadline later, and waits again.
    socket.expires_after(milliseconds(150));
    asio::steady_timer later(ioc, milliseconds(100));
    later.async_wait([&](boost::system::error_code) { socket.expires_after(milliseconds(400)); });
    asio::steady_timer reply(ioc, milliseconds(300));
    reply.async_wait(
        [&](boost::system::error_code) { asio::write(server, asio::buffer("hi", 2)); });
    auto read_then_clear = [&]() -> asio::awaitable<read_result> {
        auto r = co_await read_once(socket);
        socket.expires_never();  // as finish_response does once a response is in
        co_return r;
    };
    const auto r = run_read(ioc, read_then_clear());
    CHECK_FALSE(r.ec);
    CHECK(r.n == 2);
    CHECK(r.took >= milliseconds(250));
    CHECK_FALSE(socket.timed_out());
    // The socket serves the next read, under a deadline of its own.
    socket.expires_after(milliseconds(100));
    const auto again = run_read(ioc, read_once(socket));
    CHECK(again.ec == boost::beast::error::timeout);
    CHECK(again.took >= milliseconds(90));
}

TEST_CASE("a deadline moved earlier fires at the earlier time", "[unit][net][timed_socket]") {
    asio::io_context ioc;
    auto [client, server] = connected_pair(ioc);
    timed_socket socket(std::move(client));
    socket.expires_after(std::chrono::seconds(30));
    socket.expires_after(milliseconds(100));
    const auto r = run_read(ioc, read_once(socket));
    CHECK(r.ec == boost::beast::error::timeout);
    CHECK(r.took < milliseconds(5000));
}

TEST_CASE("a cleared deadline lets the io_context run out of work", "[unit][net][timed_socket]") {
    asio::io_context ioc;
    auto [client, server] = connected_pair(ioc);
    timed_socket socket(std::move(client));
    socket.expires_after(std::chrono::seconds(30));
    asio::write(server, asio::buffer("ok", 2));
    auto read_then_clear = [&]() -> asio::awaitable<read_result> {
        auto r = co_await read_once(socket);
        socket.expires_never();
        co_return r;
    };
    // Then the socket sits as an idle pooled connection does: no wait may be left outstanding,
    // or run() would block until it fired.
    const auto start = clock_type::now();
    const auto r = run_read(ioc, read_then_clear());
    REQUIRE_FALSE(r.ec);
    CHECK(clock_type::now() - start < std::chrono::seconds(5));
    // Cleared means cleared: a read with no deadline waits for its bytes, however long.
    asio::steady_timer reply(ioc, milliseconds(200));
    reply.async_wait(
        [&](boost::system::error_code) { asio::write(server, asio::buffer("late", 4)); });
    const auto late = run_read(ioc, read_once(socket));
    CHECK_FALSE(late.ec);
    CHECK(late.n == 4);
}

TEST_CASE("a socket destroyed with its timer outstanding is no harm", "[unit][net][timed_socket]") {
    asio::io_context ioc;
    auto [client, server] = connected_pair(ioc);
    {
        timed_socket socket(std::move(client));
        socket.expires_after(std::chrono::seconds(30));
    }
    const auto start = clock_type::now();
    ioc.restart();
    ioc.run_for(std::chrono::seconds(10));
    CHECK(clock_type::now() - start < std::chrono::seconds(5));
}

TEST_CASE("on two threads, deadlines that pass and deadlines that move are both kept",
          "[unit][net][timed_socket][concurrency]") {
    asio::io_context ioc(2);
    constexpr int pairs = 16;
    std::vector<std::unique_ptr<timed_socket>> sockets;
    std::vector<tcp::socket> servers;
    for (int i = 0; i < pairs; ++i) {
        auto [client, server] = connected_pair(ioc);
        sockets.push_back(std::make_unique<timed_socket>(std::move(client)));
        servers.push_back(std::move(server));
    }
    // Even sockets get their bytes in time, many reads each with a fresh short deadline; odd
    // ones get nothing and must time out.
    std::vector<int> answered(pairs, 0);
    std::vector<int> timed_out(pairs, 0);  // not vector<bool>: its elements share words
    for (int i = 0; i < pairs; ++i) {
        asio::co_spawn(
            asio::make_strand(ioc),
            [&, i]() -> asio::awaitable<void> {
                auto& socket = *sockets[static_cast<std::size_t>(i)];
                for (int round = 0; round < 20; ++round) {
                    socket.expires_after(milliseconds(300));
                    if (i % 2 == 0) {
                        asio::write(servers[static_cast<std::size_t>(i)], asio::buffer("x", 1));
                    }
                    std::array<char, 4> bytes{};
                    auto [ec, n] = co_await socket.async_read_some(
                        asio::buffer(bytes), asio::as_tuple(asio::use_awaitable));
                    socket.expires_never();
                    if (ec) {
                        timed_out[static_cast<std::size_t>(i)] =
                            ec == boost::beast::error::timeout ? 1 : 0;
                        co_return;
                    }
                    ++answered[static_cast<std::size_t>(i)];
                }
            },
            asio::detached);
    }
    std::thread second([&] { ioc.run_for(std::chrono::seconds(20)); });
    ioc.run_for(std::chrono::seconds(20));
    second.join();
    for (int i = 0; i < pairs; ++i) {
        INFO("socket " << i);
        if (i % 2 == 0) {
            CHECK(answered[static_cast<std::size_t>(i)] == 20);
        } else {
            CHECK(answered[static_cast<std::size_t>(i)] == 0);
            CHECK(timed_out[static_cast<std::size_t>(i)] == 1);
        }
    }
}
