#pragma once
// Through a proxy to the target: the CONNECT request of an HTTP proxy (RFC 9110 section 9.3.6,
// with Proxy-Authorization: Basic) and the SOCKS5 handshake (RFC 1928, user/pass RFC 1929),
// run on a TCP stream already connected to the proxy. After it succeeds the stream is a pipe
// to the target: TLS or plain HTTP goes on it as if it were connected directly.
// Internal to the network layer: connection_plain.cpp and tls_connect.cpp use it, through
// connect_tcp.

#include "engine/net/connection.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <optional>
#include <string>

namespace harvest::net::detail {

struct tunnel_request {
    enum class kind { http_connect, socks5 };
    kind type = kind::http_connect;
    std::string host;  // the target's name (CONNECT, socks5h) or IP literal
    unsigned short port = 0;
    // socks5 (harvest resolves): the target's address, sent instead of its name.
    std::optional<boost::asio::ip::address> address;
    std::string user;  // empty = no credentials
    std::string password;
};

// Runs the handshake within `limits` (the connect step's timeout, clamped to the deadline).
// Errors: proxy_auth (CONNECT answered 407 or 401; SOCKS5 credentials refused or required),
// proxy_tunnel (any other refusal, a malformed answer, the proxy closing or not answering in time).
boost::asio::awaitable<boost::system::error_code> open_tunnel(boost::beast::tcp_stream& stream,
                                                              const tunnel_request& tunnel,
                                                              connect_limits limits);

// The TCP step every connection starts with: connect to the first endpoint that answers within
// `limits` (the connect step's timeout, clamped to the deadline), set TCP_NODELAY, and open
// `tunnel` when one is given. Errors: timeout and connect; through a proxy, proxy_connect and
// open_tunnel's. Connecting keeps Beast's stream, whose timer runs on this coroutine's executor
// while the socket's address changes; the connection then reads and writes through a
// timed_socket built from the socket returned.
boost::asio::awaitable<boost::system::result<boost::asio::ip::tcp::socket>> connect_tcp(
    boost::asio::any_io_executor executor, const endpoint_list& endpoints, connect_limits limits,
    const tunnel_request* tunnel);

// "Basic base64(user:password)" (RFC 7617).
std::string basic_credentials(const std::string& user, const std::string& password);

}  // namespace harvest::net::detail
