// What the /metrics endpoint and the bulk API share: which failed reads get an answer, and the
// accept loop (serves what it accepts, ends when closing or when the acceptor is closed).

#include "engine/net/http_server_support.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <vector>

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using harvest::net::status_for_read_error;

TEST_CASE("status_for_read_error: 431, 413 and 400 get an answer, a client gone gets none",
          "[unit][http_server]") {
    CHECK(status_for_read_error(http::error::header_limit) ==
          http::status::request_header_fields_too_large);
    CHECK(status_for_read_error(http::error::body_limit) == http::status::payload_too_large);
    for (const auto malformed :
         {http::error::bad_method, http::error::bad_version, http::error::bad_field,
          http::error::bad_chunk, http::error::bad_content_length}) {
        CHECK(status_for_read_error(malformed) == http::status::bad_request);
    }
    CHECK_FALSE(status_for_read_error(http::error::end_of_stream).has_value());
    CHECK_FALSE(status_for_read_error(http::error::partial_message).has_value());
    CHECK_FALSE(status_for_read_error(asio::error::timed_out).has_value());
    CHECK_FALSE(status_for_read_error(asio::error::connection_reset).has_value());
    CHECK_FALSE(status_for_read_error(boost::system::error_code{}).has_value());
}

TEST_CASE("accept_loop serves each connection and ends when the acceptor is closed",
          "[unit][http_server]") {
    asio::io_context io;
    struct server_state {
        explicit server_state(asio::io_context& context)
            : acceptor(context, tcp::endpoint(asio::ip::address_v4::loopback(), 0)) {}
        tcp::acceptor acceptor;
        bool closing = false;
        std::vector<tcp::socket> served;
        bool ended = false;
    };
    auto state = std::make_shared<server_state>(io);
    const auto endpoint = state->acceptor.local_endpoint();
    const auto closing = [state] { return state->closing; };
    const auto serve = [state](tcp::socket socket) {
        state->served.push_back(std::move(socket));
        if (state->served.size() == 3) {
            // The owner's close(): what ends the pending accept.
            state->closing = true;
            state->acceptor.close();
        }
    };
    asio::co_spawn(
        io,
        [](std::shared_ptr<server_state> s, decltype(closing) c,
           decltype(serve) v) -> asio::awaitable<void> {
            co_await harvest::net::accept_loop(s->acceptor, std::chrono::milliseconds(10), "test",
                                               c, v);
            s->ended = true;
        }(state, closing, serve),
        asio::detached);
    std::vector<tcp::socket> clients;
    for (int i = 0; i < 3; ++i) {
        clients.emplace_back(io);
        clients.back().connect(endpoint);
    }
    io.run_for(std::chrono::seconds(5));
    CHECK(state->served.size() == 3);
    CHECK(state->ended);
}
