// The exchange over TLS: the request is written here; the response is read by the
// receive_response instantiation compiled in tls_receive.cpp (the heavier half).

#include "engine/net/detail/exchange.hpp"
#include "engine/net/tls_connection.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <openssl/ssl.h>

namespace harvest::net::detail {

extern template boost::asio::awaitable<exchange_result> receive_response<tls_stream>(
    tls_stream&, beast::flat_buffer&, bool, exchange_limits);

boost::asio::awaitable<exchange_result> tls_connection::exchange(wire_request request,
                                                                 exchange_limits limits) {
    co_return co_await run_exchange(stream_, buffer_, last_used_, request, limits);
}

bool tls_connection::reusable() noexcept {
    // Decrypted bytes already inside OpenSSL would be a response to nothing.
    return SSL_pending(stream_.native_handle()) == 0 &&
           socket_reusable(beast::get_lowest_layer(stream_), buffer_, last_used_);
}

void tls_connection::close() noexcept {
    // No close_notify: waiting for the peer's would cost a round trip for nothing.
    boost::system::error_code ignored;
    auto& socket = beast::get_lowest_layer(stream_).socket();
    socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
}

}  // namespace harvest::net::detail
