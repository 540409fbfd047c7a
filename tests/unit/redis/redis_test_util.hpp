#pragma once
// Runs a coroutine to completion on a fresh io_context (optionally with several threads, so the
// client's strand is exercised from more than one thread) and returns its value.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace harvest::test {

template <typename T>
T run_coroutine(boost::asio::io_context& io, boost::asio::awaitable<T> body, int threads = 1) {
    auto future = boost::asio::co_spawn(io, std::move(body), boost::asio::use_future);
    std::vector<std::thread> extra;
    for (int i = 1; i < threads; ++i) {
        extra.emplace_back([&io] { io.run(); });
    }
    io.run();
    for (auto& t : extra) {
        t.join();
    }
    io.restart();
    return future.get();
}

// Drives `io` until the coroutine is done (at most 30 s): for connections whose reader
// coroutines never finish, so that io.run() would not return.
template <typename T>
T sync(boost::asio::io_context& io, boost::asio::awaitable<T> body) {
    using namespace std::chrono_literals;
    auto future = boost::asio::co_spawn(io, std::move(body), boost::asio::use_future);
    auto give_up = std::chrono::steady_clock::now() + 30s;
    while (future.wait_for(0s) != std::future_status::ready) {
        if (std::chrono::steady_clock::now() > give_up) {
            throw std::runtime_error("test coroutine did not finish in 30 s");
        }
        io.run_one_for(100ms);
    }
    return future.get();
}

}  // namespace harvest::test
