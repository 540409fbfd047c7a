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

// What one client can hold (docs/bulk-api.md "Listener limits"). The defences against a
// client that opens connections and sends its headers slowly (slowloris): a deadline for the
// headers, a cap per client address, and connections kept in reserve — once open connections
// reach max_connections - reserved_connections, each new connection closes the one that has
// waited longest for its request (headers or body), as nginx reuses idle keep-alive connections
// when it runs short. A connection being served (its request read) is never closed for room.
struct api_server_limits {
    std::size_t header_limit = 16 * 1024;
    std::size_t body_limit = 8u << 20;  // beyond: 413 with a JSON error
    // Request line and headers, from the connection's start or the previous answer's end.
    std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
    std::chrono::milliseconds read_timeout{
        std::chrono::seconds(30)};  // the body, once headers came
    std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
    std::size_t max_connections = 1024;
    std::size_t max_connections_per_ip = 64;
    std::size_t reserved_connections = 64;

    // The service config's max_body and `listener:` section.
    static api_server_limits from(const config::service_config& config);
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
