// TLS connections: context creation, connect + handshake (SNI, peer and host verification) and
// the exchange template instantiated for beast::ssl_stream<beast::tcp_stream>.

#include "engine/net/exchange_impl.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace harvest::net::detail {

namespace {

namespace ssl = boost::asio::ssl;

class tls_connection final : public connection {
public:
    tls_connection(boost::asio::any_io_executor executor, std::shared_ptr<ssl::context> context)
        : context_(std::move(context)), stream_(std::move(executor), *context_) {}

    boost::asio::awaitable<exchange_result> exchange(wire_request request,
                                                     exchange_limits limits) override {
        co_return co_await run_exchange(stream_, buffer_, request, limits);
    }

    bool reusable() noexcept override {
        // Decrypted bytes already inside OpenSSL would be a response to nothing.
        return SSL_pending(stream_.native_handle()) == 0 &&
               socket_reusable(beast::get_lowest_layer(stream_), buffer_);
    }

    void close() noexcept override {
        // No close_notify: waiting for the peer's would cost a round trip for nothing.
        boost::system::error_code ignored;
        auto& socket = beast::get_lowest_layer(stream_).socket();
        socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
        socket.close(ignored);
    }

    beast::ssl_stream<beast::tcp_stream>& stream() noexcept { return stream_; }

private:
    std::shared_ptr<ssl::context> context_;  // must outlive the stream
    beast::ssl_stream<beast::tcp_stream> stream_;
    beast::flat_buffer buffer_;
};

bool is_verify_failure(const boost::system::error_code& ec, SSL* handle, bool verify) {
    if (!verify) {
        return false;
    }
    if (SSL_get_verify_result(handle) != X509_V_OK) {
        return true;
    }
    return ec.category() == boost::asio::error::get_ssl_category() &&
           ERR_GET_REASON(static_cast<unsigned long>(ec.value())) ==
               SSL_R_CERTIFICATE_VERIFY_FAILED;
}

}  // namespace

boost::system::result<std::shared_ptr<ssl::context>> make_tls_context(bool verify,
                                                                      const std::string& ca_file) {
    auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
    context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1);
    if (!verify) {
        context->set_verify_mode(ssl::verify_none);
        return context;
    }
    boost::system::error_code ec;
    context->set_verify_mode(ssl::verify_peer, ec);
    context->set_default_verify_paths(ec);
    // A missing system store is not fatal when a ca_file is given.
    if (!ca_file.empty()) {
        context->load_verify_file(ca_file, ec);
        if (ec) {
            return fetch_error::tls_verify;  // nothing could be verified against it
        }
    }
    return context;
}

boost::asio::awaitable<boost::system::result<std::unique_ptr<connection>>> connect_tls(
    boost::asio::any_io_executor executor, std::shared_ptr<ssl::context> context, bool verify,
    std::string host, bool host_is_ip, endpoint_list endpoints, connect_limits limits) {
    using boost::asio::as_tuple;
    using boost::asio::use_awaitable;
    auto step = clamp_timeout(limits.connect, limits.deadline);
    if (step.count() <= 0) {
        co_return fetch_error::timeout;
    }
    auto conn = std::make_unique<tls_connection>(std::move(executor), std::move(context));
    auto& lowest = beast::get_lowest_layer(conn->stream());
    lowest.expires_after(step);
    auto [ec, endpoint] = co_await lowest.async_connect(endpoints, as_tuple(use_awaitable));
    (void)endpoint;
    if (ec) {
        co_return ec == beast::error::timeout ? fetch_error::timeout : fetch_error::connect;
    }
    boost::system::error_code ignored;
    lowest.socket().set_option(boost::asio::ip::tcp::no_delay(true), ignored);

    SSL* handle = conn->stream().native_handle();
    // SNI carries names only (RFC 6066); an IP literal is checked against the IP SANs.
    if (!host_is_ip && SSL_set_tlsext_host_name(handle, host.c_str()) != 1) {
        co_return fetch_error::tls_handshake;
    }
    if (verify) {
        const int ok = host_is_ip
                           ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(handle), host.c_str())
                           : SSL_set1_host(handle, host.c_str());
        if (ok != 1) {
            co_return fetch_error::tls_verify;
        }
    }

    step = clamp_timeout(limits.tls, limits.deadline);
    if (step.count() <= 0) {
        co_return fetch_error::timeout;
    }
    lowest.expires_after(step);
    auto [hs_ec] = co_await conn->stream().async_handshake(ssl::stream_base::client,
                                                           as_tuple(use_awaitable));
    if (hs_ec) {
        if (hs_ec == beast::error::timeout) {
            co_return fetch_error::timeout;
        }
        co_return is_verify_failure(hs_ec, handle, verify) ? fetch_error::tls_verify
                                                           : fetch_error::tls_handshake;
    }
    lowest.expires_never();
    co_return std::unique_ptr<connection>(std::move(conn));
}

}  // namespace harvest::net::detail
