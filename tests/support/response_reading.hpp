#pragma once
// One HTTP response read from bytes in memory, two ways: by the client's reader
// (receive_response, engine/net/detail/exchange.hpp) and by Beast's own message parser with
// http::read, the reference the reader is checked against; and consecutive responses read by the
// client's reader over one connection. Shared by the reader's unit tests and the HTTP-response
// fuzz target. Header-only: the fuzz build links no test code.

#include "engine/core/text.hpp"
#include "engine/net/detail/exchange.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <algorithm>
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

// Reads one response per entry of `exchanges` over one connection and one buffer, as the
// client does on a kept-alive connection: each entry's bytes reach the stream only once the
// previous response was read, and the peer closes after the last. Stops after a failure or a
// response that leaves the connection unusable. Nothing when the reads did not finish within
// ten seconds (a reader waiting for bytes that never come).
inline boost::asio::awaitable<std::vector<read_outcome>> receive_each(
    memory_stream& stream, std::vector<std::string> exchanges,
    net::detail::exchange_limits limits) {
    boost::beast::flat_buffer buffer;
    std::vector<read_outcome> outcomes;
    for (std::size_t i = 0; i < exchanges.size(); ++i) {
        stream.inner().append(exchanges[i]);
        if (i + 1 == exchanges.size()) {
            stream.inner().close_remote();
        }
        auto r = co_await net::detail::receive_response(stream, buffer, false, limits);
        const bool go_on = !r.ec && r.keep_alive;
        outcomes.push_back(
            read_outcome{r.ec, r.status, std::move(r.headers), std::move(r.body), r.keep_alive});
        if (!go_on) {
            break;
        }
    }
    co_return outcomes;
}

inline std::optional<std::vector<read_outcome>> read_exchanges_with_client(
    std::vector<std::string> exchanges, std::size_t read_size, std::uint64_t max_body) {
    boost::asio::io_context ioc;
    memory_stream stream(ioc);
    if (read_size != 0) {
        stream.inner().read_size(read_size);
    }
    net::detail::exchange_limits limits;
    limits.response_headers = std::chrono::seconds(60);
    limits.idle_read = std::chrono::seconds(60);
    limits.deadline = net::detail::clock::now() + std::chrono::hours(1);
    limits.max_body = max_body;
    std::optional<std::vector<read_outcome>> out;
    boost::asio::co_spawn(ioc, receive_each(stream, std::move(exchanges), limits),
                          [&](std::exception_ptr error, std::vector<read_outcome> r) {
                              if (error) {
                                  std::rethrow_exception(error);
                              }
                              out.emplace(std::move(r));
                          });
    ioc.run_for(std::chrono::seconds(10));
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
    // Adjusted for the client's one leniency after a message: up to max_blank_bytes of CR/LF
    // left over are a stray CRLF, not a pipelined response (engine/net/detail/exchange.hpp).
    const auto* rest = static_cast<const char*>(buffer.data().data());
    const bool stray_crlf =
        buffer.size() <= net::detail::max_blank_bytes &&
        std::all_of(rest, rest + buffer.size(), [](char c) { return c == '\r' || c == '\n'; });
    out.keep_alive = parser.keep_alive() && stray_crlf;
    return out;
}

// The bytes Beast's parser reads as the client's reader reads `wire`, for the client's
// leniencies before a message that Beast lacks: up to max_blank_bytes of CR/LF before the status
// line dropped, and the SP before an empty reason supplied ("HTTP/1.1 301\r\n"). A wire whose
// header has more than one Transfer-Encoding line has no such equivalent (Beast fails them when
// an earlier one ends in chunked): see transfer_encoding_lines.
inline std::string beast_equivalent(std::string_view wire) {
    std::size_t skip = 0;
    while (skip < net::detail::max_blank_bytes && skip < wire.size() &&
           (wire[skip] == '\r' || wire[skip] == '\n')) {
        ++skip;
    }
    std::string out(wire.substr(skip));
    const auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (out.size() > 12 && out.compare(0, 5, "HTTP/") == 0 && digit(out[5]) && out[6] == '.' &&
        digit(out[7]) && out[8] == ' ' && digit(out[9]) && digit(out[10]) && digit(out[11]) &&
        out[12] == '\r') {
        out.insert(12, 1, ' ');
    }
    return out;
}

// How many field lines of the header (up to the first empty line) are named Transfer-Encoding.
inline std::size_t transfer_encoding_lines(std::string_view wire) {
    const auto end = wire.find("\r\n\r\n");
    const std::string_view header = wire.substr(0, end);
    std::size_t count = 0;
    for (std::size_t at = header.find("\r\n"); at != std::string_view::npos;
         at = header.find("\r\n", at + 2)) {
        // Not beast::iequals: Boost 1.81's reads one byte past the end of both views when they
        // differ only in letter case, and a view cut at the end of the wire has nothing there.
        if (core::iequals(header.substr(at + 2, 18), "Transfer-Encoding:")) {
            ++count;
        }
    }
    return count;
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
