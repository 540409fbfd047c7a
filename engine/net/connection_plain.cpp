// Plain-TCP connections: the TCP connect step (connect_tcp, TLS starts with it too), connect_plain,
// and the exchange template instantiated for timed_socket.

#include "engine/net/detail/exchange.hpp"
#include "engine/net/detail/tunnel.hpp"

#include <boost/asio/ip/tcp.hpp>

namespace harvest::net::detail {

namespace {

class plain_connection final : public connection {
  public:
    explicit plain_connection(boost::asio::ip::tcp::socket socket) : stream_(std::move(socket)) {}

    // run_exchange's own coroutine, not one around it: a frame fewer per request. It keeps
    // references to members only, which outlive the caller's co_await.
    boost::asio::awaitable<exchange_result> exchange(wire_request request,
                                                     exchange_limits limits) override {
        return run_exchange(stream_, buffer_, last_used_, request, limits);
    }

    bool reusable() noexcept override { return socket_reusable(stream_, buffer_, last_used_); }

    void close() noexcept override { stream_.close(); }

    boost::asio::awaitable<std::pair<boost::system::error_code, std::size_t>> read_some(
        boost::asio::mutable_buffer buffer) override {
        auto [ec, n] = co_await stream_.async_read_some(
            buffer, boost::asio::as_tuple(boost::asio::use_awaitable));
        co_return std::make_pair(ec, n);
    }

    boost::asio::awaitable<boost::system::error_code> write_all(
        boost::asio::const_buffer buffer) override {
        auto [ec, n] = co_await boost::asio::async_write(
            stream_, buffer, boost::asio::as_tuple(boost::asio::use_awaitable));
        (void)n;
        co_return ec;
    }

  private:
    timed_socket stream_;
    beast::flat_buffer buffer_;
    clock::time_point last_used_{};
};

}  // namespace

boost::asio::awaitable<boost::system::result<boost::asio::ip::tcp::socket>> connect_tcp(
    boost::asio::any_io_executor executor, const endpoint_list& endpoints, connect_limits limits,
    const tunnel_request* tunnel) {
    const auto step = clamp_timeout(limits.connect, limits.deadline);
    if (step.count() <= 0) {
        co_return fetch_error::timeout;
    }
    beast::tcp_stream stream(std::move(executor));
    stream.expires_after(step);
    auto [ec, endpoint] =
        co_await stream.async_connect(endpoints, boost::asio::as_tuple(boost::asio::use_awaitable));
    (void)endpoint;
    if (ec) {
        if (tunnel != nullptr) {
            co_return fetch_error::proxy_connect;
        }
        co_return ec == beast::error::timeout ? fetch_error::timeout : fetch_error::connect;
    }
    stream.expires_never();
    boost::system::error_code ignored;
    stream.socket().set_option(boost::asio::ip::tcp::no_delay(true), ignored);
    if (tunnel != nullptr) {
        if (const auto tunnel_ec = co_await open_tunnel(stream, *tunnel, limits)) {
            co_return tunnel_ec;
        }
    }
    co_return stream.release_socket();
}

boost::asio::awaitable<boost::system::result<std::unique_ptr<connection>>> connect_plain(
    boost::asio::any_io_executor executor, endpoint_list endpoints, connect_limits limits,
    const tunnel_request* tunnel) {
    auto socket = co_await connect_tcp(std::move(executor), endpoints, limits, tunnel);
    if (!socket) {
        co_return socket.error();
    }
    co_return std::unique_ptr<connection>(std::make_unique<plain_connection>(std::move(*socket)));
}

}  // namespace harvest::net::detail
