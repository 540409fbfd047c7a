#pragma once
// Runs one coroutine on an io_context until the context has no work left, for tests that drive
// a client or sender from plain code.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>
#include <optional>
#include <stdexcept>
#include <utility>

namespace harvest::test {

// The value `task` returned; what it threw is thrown again here. The context is restarted
// first, so it may have run before.
template <typename T>
T run_to_end(boost::asio::io_context& ioc, boost::asio::awaitable<T> task) {
    std::optional<T> out;
    std::exception_ptr failure;
    boost::asio::co_spawn(ioc, std::move(task), [&](std::exception_ptr e, T value) {
        failure = e;
        out.emplace(std::move(value));
    });
    ioc.restart();
    ioc.run();
    if (failure) {
        std::rethrow_exception(failure);
    }
    if (!out) {
        throw std::runtime_error("the coroutine did not complete");
    }
    return std::move(*out);
}

}  // namespace harvest::test
