// TLS set-up: client contexts, and connect + handshake with SNI, peer and host verification.

#include "engine/net/detail/tunnel.hpp"
#include "engine/net/fetch_error.hpp"
#include "engine/net/tls_connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/stream_traits.hpp>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace harvest::net::detail {

namespace {

namespace beast = boost::beast;
namespace ssl = boost::asio::ssl;

bool is_verify_failure(const boost::system::error_code& ec, SSL* handle, bool verify) {
    if (!verify) {
        return false;  // with verify_none OpenSSL still records a result: ignore it
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
    // A missing system store is not fatal: a ca_file may be all that is needed.
    context->set_default_verify_paths(ec);
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
    std::string host, bool host_is_ip, endpoint_list endpoints, connect_limits limits,
    std::string alpn, const tunnel_request* tunnel) {
    using boost::asio::as_tuple;
    using boost::asio::use_awaitable;
    auto socket = co_await connect_tcp(std::move(executor), endpoints, limits, tunnel);
    if (!socket) {
        co_return socket.error();
    }
    // The TLS handshake and what follows run over a timed_socket.
    auto conn = std::make_unique<tls_connection>(std::move(*socket), std::move(context));
    auto& lowest = beast::get_lowest_layer(conn->stream());

    SSL* handle = conn->stream().native_handle();
    // SNI carries names only (RFC 6066); an IP literal is checked against the IP SANs.
    if (!host_is_ip && SSL_set_tlsext_host_name(handle, host.c_str()) != 1) {
        co_return fetch_error::tls_handshake;
    }
    if (!alpn.empty() &&
        SSL_set_alpn_protos(handle, reinterpret_cast<const unsigned char*>(alpn.data()),
                            static_cast<unsigned int>(alpn.size())) != 0) {
        co_return fetch_error::tls_handshake;
    }
    if (verify) {
        // OpenSSL checks the name during the handshake, so a mismatch fails it with
        // X509_V_ERR_HOSTNAME_MISMATCH / X509_V_ERR_IP_ADDRESS_MISMATCH.
        const int ok = host_is_ip
                           ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(handle), host.c_str())
                           : SSL_set1_host(handle, host.c_str());
        if (ok != 1) {
            co_return fetch_error::tls_verify;
        }
    }

    const auto step = clamp_timeout(limits.tls, limits.deadline);
    if (step.count() <= 0) {
        co_return fetch_error::timeout;
    }
    lowest.expires_after(step);
    auto [hs_ec] =
        co_await conn->stream().async_handshake(ssl::stream_base::client, as_tuple(use_awaitable));
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
