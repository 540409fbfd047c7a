#pragma once
// Runs a coroutine to completion on a fresh io_context (optionally with several threads, so the
// client's strand is exercised from more than one thread) and returns its value.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

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

}  // namespace harvest::test
