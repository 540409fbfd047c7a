#pragma once
// One HTTP response read from bytes in memory, two ways: by the client's reader
// (receive_response, engine/net/detail/exchange.hpp) and by Beast's own message parser with
// http::read, the reference the reader is checked against. Shared by the reader's differential
// unit test and the HTTP-response fuzz target. Header-only: the fuzz build links no test code.

#include "engine/net/detail/exchange.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace harvest::test {

// A beast::test::stream with the timer calls receive_response makes on its lowest layer (a
// beast::tcp_stream in production); it is its own lowest layer. Nothing here ever times out:
// the bytes always end in EOF.
class memory_stream {
  public:
    using executor_type = boost::beast::test::stream::executor_type;

    explicit memory_stream(boost::asio::io_context& ioc) : inner_(ioc) {}

    executor_type get_executor() noexcept { return inner_.get_executor(); }
    boost::beast::test::stream& inner() { return inner_; }

    template <class MutableBufferSequence, class ReadHandler>
    auto async_read_some(const MutableBufferSequence& buffers, ReadHandler&& handler) {
        return inner_.async_read_some(buffers, std::forward<ReadHandler>(handler));
    }

    void expires_after(std::chrono::steady_clock::duration /*unused*/) {}
    void expires_never() {}

  private:
    boost::beast::test::stream inner_;
};

struct read_outcome {
    boost::system::error_code ec;  // a fetch_error, or empty
    unsigned status = 0;
    net::header_list headers;
    std::string body;
    bool keep_alive = false;
};

// `wire` and then EOF, taken `read_size` bytes per read (0: as many as the reader asks for).
inline void feed(boost::beast::test::stream& stream, std::string_view wire, std::size_t read_size) {
    stream.append(wire);
    if (read_size != 0) {
        stream.read_size(read_size);
    }
    stream.close_remote();
}

// The client's reader. Nothing when the read did not complete, which it must; an exception
// from the read path is rethrown.
inline std::optional<read_outcome> read_with_client(std::string_view wire, std::size_t read_size,
                                                    bool head, std::uint64_t max_body) {
    boost::asio::io_context ioc;
    memory_stream stream(ioc);
    feed(stream.inner(), wire, read_size);
    net::detail::exchange_limits limits;
    limits.response_headers = std::chrono::seconds(60);
    limits.idle_read = std::chrono::seconds(60);
    limits.deadline = net::detail::clock::now() + std::chrono::hours(1);
    limits.max_body = max_body;
    boost::beast::flat_buffer buffer;
    std::optional<read_outcome> out;
    boost::asio::co_spawn(ioc, net::detail::receive_response(stream, buffer, head, limits),
                          [&](std::exception_ptr error, net::detail::exchange_result r) {
                              if (error) {
                                  std::rethrow_exception(error);
                              }
                              out.emplace(read_outcome{r.ec, r.status, std::move(r.headers),
                                                       std::move(r.body), r.keep_alive});
                          });
    ioc.run();
    return out;
}

// The reference: Beast's message parser with the client's limits, by http::read.
inline read_outcome read_with_beast(std::string_view wire, std::size_t read_size, bool head,
                                    std::uint64_t max_body) {
    namespace http = boost::beast::http;
    boost::asio::io_context ioc;
    boost::beast::test::stream stream(ioc);
    feed(stream, wire, read_size);
    http::response_parser<http::string_body> parser;
    parser.header_limit(net::detail::header_limit);
    parser.body_limit(max_body);
    if (head) {
        parser.skip(true);
    }
    boost::beast::flat_buffer buffer;
    boost::beast::error_code ec;
    http::read(stream, buffer, parser, ec);
    read_outcome out;
    if (ec) {
        out.ec = net::detail::map_exchange_error(ec);
        return out;
    }
    const auto& message = parser.get();
    out.status = message.result_int();
    for (const auto& field : message) {
        out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    out.body = message.body();
    out.keep_alive = parser.keep_alive() && buffer.size() == 0;
    return out;
}

// Fields grouped by name (case-insensitively) in the order of first appearance, each group in
// its own order: what Beast's basic_fields iterates. The client's reader keeps the wire's order.
inline net::header_list grouped(const net::header_list& fields) {
    net::header_list out;
    std::vector<bool> taken(fields.size(), false);
    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (taken[i]) {
            continue;
        }
        for (std::size_t j = i; j < fields.size(); ++j) {
            if (!taken[j] && boost::beast::iequals(fields[i].first, fields[j].first)) {
                taken[j] = true;
                out.push_back(fields[j]);
            }
        }
    }
    return out;
}

// Whether the two readers agree: the same outcome (fetch_error kind), and on success the same
// status, fields (grouped), body and keep-alive.
inline bool same_reading(const read_outcome& ours, const read_outcome& beasts) {
    if (ours.ec != beasts.ec) {
        return false;
    }
    return ours.ec ||
           (ours.status == beasts.status && grouped(ours.headers) == grouped(beasts.headers) &&
            ours.body == beasts.body && ours.keep_alive == beasts.keep_alive);
}

}  // namespace harvest::test
