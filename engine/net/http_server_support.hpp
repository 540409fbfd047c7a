#pragma once
// What Harvest's HTTP servers (the /metrics endpoint, the bulk API) share: the accept loop (when
// accepting ends, what an accept error does) and which failed request reads get an answer. Each
// server keeps its own admission (connection caps, per-IP limits), its own connection coroutine
// and its own answers' bodies.

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/write.hpp>

#include <chrono>
#include <optional>
#include <utility>

namespace harvest::net {

// The status to answer a request that could not be read, or none (then just close): headers
// past the limit 431, a body past it 413, a malformed request 400; a client that went away or
// stopped mid-request (end of stream, partial message, a timeout) gets nothing.
inline std::optional<boost::beast::http::status> status_for_read_error(
    const boost::system::error_code& ec) {
    namespace http = boost::beast::http;
    if (ec == http::error::header_limit) {
        return http::status::request_header_fields_too_large;
    }
    if (ec == http::error::body_limit) {
        return http::status::payload_too_large;
    }
    if (ec.category() == make_error_code(http::error::end_of_stream).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
        return http::status::bad_request;
    }
    return std::nullopt;
}

// Accepts on `acceptor` until `closing()` is true or the acceptor is closed (the server's
// close() closes it, which ends the pending accept), handing each accepted socket to
// `serve(socket)`. A socket accepted while closing is closed, not served. Any other accept
// error (out of file descriptors, ...) is logged as `server`'s and paused on for `error_pause`
// before accepting again: it may clear once connections close, and a persistent one must not
// spin a thread. Runs on the executor it is spawned on; `acceptor` must outlive it (the caller
// keeps its owner alive in `closing` or `serve`).
template <typename Closing, typename Serve>
boost::asio::awaitable<void> accept_loop(boost::asio::ip::tcp::acceptor& acceptor,
                                         std::chrono::milliseconds error_pause, const char* server,
                                         Closing closing, Serve serve) {
    namespace asio = boost::asio;
    asio::steady_timer pause(co_await asio::this_coro::executor);
    while (!closing()) {
        auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
        if (closing()) {
            boost::system::error_code ignored;
            socket.close(ignored);
            break;
        }
        if (ec) {
            if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) {
                break;
            }
            spdlog::warn("{}: accept failed: {}", server, ec.message());
            pause.expires_after(error_pause);
            co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
            continue;
        }
        serve(std::move(socket));
    }
}

// Writes `response` within `timeout`. True when the connection may read another request: the
// write went through and the response keeps the connection alive.
template <typename Response, typename Duration>
boost::asio::awaitable<bool> write_response(boost::beast::tcp_stream& stream, Response& response,
                                            Duration timeout) {
    namespace asio = boost::asio;
    stream.expires_after(timeout);
    auto [error, written] = co_await boost::beast::http::async_write(
        stream, response, asio::as_tuple(asio::use_awaitable));
    co_return !error && response.keep_alive();
}

// Ends a served connection: a FIN after what was written, then the socket closed.
inline void close_connection(boost::beast::tcp_stream& stream) {
    boost::system::error_code ignored;
    stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
    stream.socket().close(ignored);
}

}  // namespace harvest::net
