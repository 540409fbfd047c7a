#pragma once
// A scripted test origin on 127.0.0.1, port 0: blocking sockets, one thread per connection,
// plain or TLS. Each connection runs a handler that reads requests and writes raw bytes, so
// tests can produce any HTTP — including broken HTTP, resets and silence. Everything it starts
// it stops in its destructor (connections are shut down to unblock their threads).

#include "engine/crawl/options.hpp"
#include "engine/net/http_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/system/result.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace harvest::test {

struct received_request {
    std::string method;
    std::string target;
    std::string head;  // request line and headers, as received
    std::string body;
    // First header value with this name (case-insensitive), empty if absent.
    std::string header(std::string_view name) const;
};

class peer {
  public:
    virtual ~peer() = default;
    // The next request on this connection; nothing on EOF, error or shutdown.
    virtual std::optional<received_request> read_request() = 0;
    // Exactly `n` raw bytes (after what read_request left unread): for protocols other than
    // HTTP/1.1, such as HTTP/2 frames. Nothing on EOF, error or shutdown.
    virtual std::optional<std::string> read_exact(std::size_t n) = 0;
    // Writes all bytes; false if the client is gone.
    virtual bool write(std::string_view bytes) = 0;
    virtual void close() = 0;  // FIN
    virtual void reset() = 0;  // RST (SO_LINGER 0)
    int index = 0;             // 0 for the first connection the origin accepted
    const std::atomic<bool>* stopping = nullptr;
};

using handler = std::function<void(peer&)>;

struct tls_files {
    std::string cert_chain;  // PEM
    std::string key;         // PEM
};

class test_origin {
  public:
    explicit test_origin(handler h, std::optional<tls_files> tls = std::nullopt);
    ~test_origin();
    test_origin(const test_origin&) = delete;
    test_origin& operator=(const test_origin&) = delete;

    std::uint16_t port() const { return port_; }
    int connections() const { return accepted_.load(); }
    // Server-side failures (e.g. TLS handshakes the client aborted), kept apart from the
    // client's result (TOOLCHAIN.md pitfall).
    std::vector<std::string> errors() const;
    std::string url(std::string_view path, std::string_view host = "127.0.0.1") const;

  private:
    struct state;
    std::shared_ptr<state> state_;
    std::uint16_t port_ = 0;
    std::atomic<int> accepted_{0};
    std::thread acceptor_thread_;
};

// "HTTP/1.1 <status> X\r\n" + headers + Content-Length + body.
std::string http_response_bytes(unsigned status, std::string_view body,
                                const net::header_list& headers = {});

// A handler that answers every request on the connection with route(request) until EOF.
handler serve_each(std::function<std::string(const received_request&)> route);

// Runs one fetch to completion on `ioc` (the client's io_context).
boost::system::result<net::http_response> run_fetch(
    net::http_client& client, boost::asio::io_context& ioc, net::http_request request,
    std::shared_ptr<const crawl::http_options> options = nullptr,
    std::chrono::milliseconds total = std::chrono::milliseconds(10000));

// A throwaway CA, and leaf certificates signed by it (made once per process, with the openssl
// CLI, in a temporary directory removed at exit).
struct test_pki {
    std::string ca_file;   // the CA certificate
    tls_files localhost;   // SAN DNS:localhost, IP:127.0.0.1
    tls_files wrong_host;  // SAN DNS:wrong.example only
};
const test_pki& pki();

}  // namespace harvest::test

// Catch would find Boost's operator<< for result<T>, which needs one for http_response.
template <>
struct Catch::StringMaker<boost::system::result<harvest::net::http_response>> {
    static std::string convert(const boost::system::result<harvest::net::http_response>& r) {
        return r ? "status " + std::to_string(r->status) : "error " + r.error().message();
    }
};
