#pragma once
// One pooled HTTP/1.1 connection, plain or TLS, behind a small virtual interface so the client
// (pool, redirects, decoding) never instantiates Beast templates: the Beast code lives in
// connection_plain.cpp and connection_tls.cpp (compiled in parallel), sharing detail/exchange.hpp.
// Internal to the network layer.

#include "engine/net/dns_cache.hpp"
#include "engine/net/http_client.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace boost::asio::ssl {
class context;
}

namespace harvest::net::detail {

using clock = std::chrono::steady_clock;

// The request as it goes on the wire: serialized bytes in the caller's frame, which outlives
// the call.
struct wire_request {
    std::string_view bytes;
    bool head = false;  // a HEAD request: the response has no body whatever its headers say
};

// Serializes an HTTP/1.1 request: request line, Host, `headers` (already merged and checked
// for CR/LF), Content-Length when there is a body (or the method expects one), then the body.
std::string serialize_request(std::string_view method, std::string_view target,
                              std::string_view host_header, const header_list& headers,
                              std::string_view body);

// True when `method` is an HTTP token (RFC 9110 section 5.6.2), so it cannot split the
// request line.
bool is_valid_method(std::string_view method) noexcept;

struct exchange_limits {
    std::chrono::milliseconds response_headers{};
    std::chrono::milliseconds idle_read{};
    clock::time_point deadline;
    std::uint64_t max_body = 0;
};

struct exchange_result {
    // Declared so this is no aggregate: C++20 would make it constructible from an error_code,
    // which disables result<exchange_result>'s error constructor.
    exchange_result() = default;

    boost::system::error_code ec;  // a fetch_error, or empty
    // False when the peer sent nothing at all: on a reused connection such a failure means the
    // server had closed it while idle, and the request may be sent again on a fresh one.
    bool got_response_bytes = false;
    unsigned status = 0;
    header_list headers;
    std::string body;             // raw (still content-coded) body
    bool keep_alive = false;      // the connection may serve another request
    clock::time_point sent;       // when the request started going out
    clock::time_point last_byte;  // when the last body byte arrived
    bool h2 = false;              // came over HTTP/2
};

class connection {
  public:
    virtual ~connection() = default;
    // Sends one request and reads its whole response, applying every limit.
    virtual boost::asio::awaitable<exchange_result> exchange(wire_request request,
                                                             exchange_limits limits) = 0;
    // Still open, not closed by the peer and with no stray bytes waiting: fit for reuse.
    virtual bool reusable() noexcept = 0;
    virtual void close() noexcept = 0;

    // Raw byte I/O for a protocol framed elsewhere (HTTP/2, see h2_session.hpp). With no
    // timeout: the caller owns the timing. One read and one write may be outstanding at once,
    // both started from the same strand.
    virtual boost::asio::awaitable<std::pair<boost::system::error_code, std::size_t>> read_some(
        boost::asio::mutable_buffer buffer) = 0;
    virtual boost::asio::awaitable<boost::system::error_code> write_all(
        boost::asio::const_buffer buffer) = 0;
    // The protocol TLS ALPN selected ("h2", "http/1.1"); empty without TLS or ALPN.
    virtual std::string_view alpn() const noexcept { return {}; }
};

struct connect_limits {
    std::chrono::milliseconds connect{};
    std::chrono::milliseconds tls{};
    clock::time_point deadline;
};

struct tunnel_request;  // detail/tunnel.hpp

// Connects to the first endpoint that answers. Errors: connect, timeout.
// With `tunnel` (owned by the caller's frame, which awaits this), `endpoints` are the proxy's:
// its handshake runs first, and failing to reach the proxy is proxy_connect (see open_tunnel
// for the others).
boost::asio::awaitable<boost::system::result<std::unique_ptr<connection>>> connect_plain(
    boost::asio::any_io_executor executor, endpoint_list endpoints, connect_limits limits,
    const tunnel_request* tunnel);

// Connects and runs the TLS handshake with SNI (for names) and peer + host verification as
// configured in `context` / `verify`. `alpn` lists the protocols offered, in ALPN wire format
// (length-prefixed names, preferred first); empty offers none. Errors: connect, timeout,
// tls_verify, tls_handshake. With `tunnel`, as connect_plain: TLS to `host` then runs inside
// the tunnel.
boost::asio::awaitable<boost::system::result<std::unique_ptr<connection>>> connect_tls(
    boost::asio::any_io_executor executor, std::shared_ptr<boost::asio::ssl::context> context,
    bool verify, std::string host, bool host_is_ip, endpoint_list endpoints, connect_limits limits,
    std::string alpn, const tunnel_request* tunnel);

// A client TLS context: TLS 1.2+, and with `verify`, the system store plus `ca_file`.
// Errors: fetch_error::tls_verify when ca_file cannot be loaded (nothing could be verified).
boost::system::result<std::shared_ptr<boost::asio::ssl::context>> make_tls_context(
    bool verify, const std::string& ca_file);

// Time left before `deadline`, capped at `step`; zero or negative when the deadline has passed.
inline std::chrono::milliseconds clamp_timeout(std::chrono::milliseconds step,
                                               clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    return left < step ? left : step;
}

}  // namespace harvest::net::detail
