#pragma once

// The /metrics endpoint: a small HTTP/1.1 server (Beast, coroutines) that Prometheus scrapes.
//
//   GET /metrics  200, Content-Type metrics::content_type, body = render()
//   GET /healthz  200 "ok\n"
//   other paths   404; other methods 405 (with Allow: GET)
//
// Keep-alive is honoured (Prometheus reuses its connection). Every connection has a read
// timeout and request size limits so that a stuck or hostile client cannot pin the server, and
// the number of open connections is capped.
//
// Threading: everything the server owns (acceptor, connections, bookkeeping) lives on one
// strand of the given executor, so the executor may be run by any number of threads.
// `render` runs on that strand, once per /metrics request: it must be thread-safe with respect
// to the rest of the program (registry::expose() is).
//
// Lifetime: call start() once, then co_await close() before the executor stops running; close()
// stops accepting, closes open connections and returns when the accept loop and every
// connection coroutine have finished. The coroutines keep the server's internal state alive,
// so destroying the object without close() is safe too (its connections are then closed
// asynchronously, whenever the executor next runs).
//
// Beast stays out of this header: the implementation lives in metrics_server.cpp.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace harvest::metrics {

namespace detail {
struct metrics_server_state;  // acceptor, connections, bookkeeping (metrics_server.cpp)
}  // namespace detail

struct metrics_server_limits {
    std::chrono::milliseconds read_timeout{std::chrono::seconds(10)};   // per request, idle incl.
    std::chrono::milliseconds write_timeout{std::chrono::seconds(10)};  // per response
    std::size_t header_limit = 8 * 1024;  // request line + headers, bytes
    std::size_t body_limit = 4 * 1024;    // request body, bytes (a scrape sends none)
    std::size_t max_connections = 64;     // beyond this, new connections are closed at once
};

class metrics_server {
  public:
    // `listen` is "host:port", "[v6]:port" or ":port" (all interfaces); host is an IP address
    // or "localhost"; port 0 picks a free port (read it back with port()). `render` produces
    // the body of GET /metrics.
    metrics_server(boost::asio::any_io_executor executor, std::string listen,
                   std::function<std::string()> render, metrics_server_limits limits = {});
    ~metrics_server();
    metrics_server(const metrics_server&) = delete;
    metrics_server& operator=(const metrics_server&) = delete;

    // Binds and listens now, then starts accepting on the executor. Throws std::system_error
    // whose what() names the address when it cannot (e.g. "cannot listen on 127.0.0.1:9464
    // for /metrics: Address already in use"), or when `listen` does not parse. Calling it
    // twice, or after close(), throws std::logic_error.
    void start();

    // The bound port (after start()); 0 before.
    [[nodiscard]] unsigned short port() const noexcept;
    // The address as given to the constructor.
    [[nodiscard]] const std::string& listen_address() const noexcept { return listen_; }

    // Stops accepting, closes every open connection, and completes when the accept loop and
    // all connection coroutines have ended. Idempotent; fine to call without start().
    [[nodiscard]] boost::asio::awaitable<void> close();

  private:
    std::string listen_;
    std::shared_ptr<detail::metrics_server_state> impl_;
};

}  // namespace harvest::metrics
