#pragma once
// The TLS connection type, shared by connection_tls.cpp (send + exchange), tls_receive.cpp
// (reading a response over TLS, the heaviest instantiation) and tls_connect.cpp (connect +
// handshake): three translation units so they compile in parallel.
// Internal to the network layer; include only from those two files.

#include "engine/net/connection.hpp"
#include "engine/net/detail/timed_socket.hpp"

#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace harvest::net::detail {

using tls_stream = boost::beast::ssl_stream<timed_socket>;

class tls_connection final : public connection {
  public:
    // `socket` is connected (to the origin, or through a proxy's tunnel to it).
    tls_connection(boost::asio::ip::tcp::socket socket,
                   std::shared_ptr<boost::asio::ssl::context> context)
        : context_(std::move(context)), stream_(std::move(socket), *context_) {}

    boost::asio::awaitable<exchange_result> exchange(wire_request request,
                                                     exchange_limits limits) override;
    bool reusable() noexcept override;
    void close() noexcept override;
    boost::asio::awaitable<std::pair<boost::system::error_code, std::size_t>> read_some(
        boost::asio::mutable_buffer buffer) override;
    boost::asio::awaitable<boost::system::error_code> write_all(
        boost::asio::const_buffer buffer) override;
    std::string_view alpn() const noexcept override;

    tls_stream& stream() noexcept { return stream_; }

  private:
    std::shared_ptr<boost::asio::ssl::context> context_;  // must outlive the stream
    tls_stream stream_;
    boost::beast::flat_buffer buffer_;
    clock::time_point last_used_{};
};

}  // namespace harvest::net::detail
