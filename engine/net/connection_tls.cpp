// The exchange over TLS: the request is written here; the response is read by the
// receive_response instantiation compiled in tls_receive.cpp (the heavier half).

#include "engine/net/detail/exchange.hpp"
#include "engine/net/tls_connection.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <openssl/ssl.h>

namespace harvest::net::detail {

extern template boost::asio::awaitable<exchange_result> receive_response<tls_stream>(
    tls_stream&, beast::flat_buffer&, bool, exchange_limits);

// run_exchange's own coroutine, not one around it (see plain_connection::exchange).
boost::asio::awaitable<exchange_result> tls_connection::exchange(wire_request request,
                                                                 exchange_limits limits) {
    return run_exchange(stream_, buffer_, last_used_, request, limits);
}

bool tls_connection::reusable() noexcept {
    // Decrypted bytes already inside OpenSSL would be a response to nothing.
    return SSL_pending(stream_.native_handle()) == 0 &&
           socket_reusable(beast::get_lowest_layer(stream_), buffer_, last_used_);
}

void tls_connection::close() noexcept {
    // No close_notify: waiting for the peer's would cost a round trip for nothing.
    beast::get_lowest_layer(stream_).close();
}

}  // namespace harvest::net::detail

namespace harvest::net::detail {

boost::asio::awaitable<std::pair<boost::system::error_code, std::size_t>> tls_connection::read_some(
    boost::asio::mutable_buffer buffer) {
    auto [ec, n] =
        co_await stream_.async_read_some(buffer, boost::asio::as_tuple(boost::asio::use_awaitable));
    co_return std::make_pair(ec, n);
}

boost::asio::awaitable<boost::system::error_code> tls_connection::write_all(
    boost::asio::const_buffer buffer) {
    auto [ec, n] = co_await boost::asio::async_write(
        stream_, buffer, boost::asio::as_tuple(boost::asio::use_awaitable));
    (void)n;
    co_return ec;
}

std::string_view tls_connection::alpn() const noexcept {
    const unsigned char* name = nullptr;
    unsigned int size = 0;
    // native_handle() is not const in Asio; the SSL object is only read here.
    SSL_get0_alpn_selected(const_cast<tls_stream&>(stream_).native_handle(), &name, &size);
    return name == nullptr ? std::string_view{}
                           : std::string_view(reinterpret_cast<const char*>(name), size);
}

}  // namespace harvest::net::detail
