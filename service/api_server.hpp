#pragma once
// The bulk API's HTTP/1.1 server (Beast, coroutines): reads a request with header and body
// limits and timeouts, hands it to a handler (api::handle) and writes the answer. Beast stays
// out of this header.
//
// Threading: runs on the executor given; the handler is called there. The service runs one
// thread, so the handler needs no locking.

#include "service/api.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace harvest::service {

struct api_server_limits {
    std::size_t header_limit = 16 * 1024;
    std::size_t body_limit = 8u << 20;  // beyond: 413 with a JSON error
    std::chrono::milliseconds read_timeout{std::chrono::seconds(30)};
    std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
    std::size_t max_connections = 1024;
};

class api_server {
  public:
    using handler_type = std::function<api_response(const api_request&)>;

    // `listen`: "host:port" or "[v6]:port" with an IP address; port 0 picks a free one.
    api_server(boost::asio::any_io_executor executor, std::string listen, handler_type handler,
               api_server_limits limits);
    ~api_server();
    api_server(const api_server&) = delete;
    api_server& operator=(const api_server&) = delete;

    // Binds and listens now (throws std::system_error naming the address), then accepts.
    void start();
    unsigned short port() const noexcept;
    // Stops accepting and closes open connections.
    void close();

  private:
    struct state;
    std::shared_ptr<state> state_;
};

}  // namespace harvest::service
