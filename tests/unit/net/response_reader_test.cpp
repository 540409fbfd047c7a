// The client's response reader (exchange_impl.hpp: Beast's basic_parser feeding an
// exchange_result, in a read loop of its own) against Beast's own message parser and
// http::read on the same bytes: 30,000 generated responses — content-length, chunked (with
// extensions and trailers), until-close and HTTP/1.0 bodies, HEAD, 1xx/204/304, oversize
// headers and bodies, junk, truncation anywhere, pipelined bytes after the message — each read
// whole and in 1..64-byte pieces. Both must agree on the outcome (the fetch_error it maps to;
// see the loop for the one split-dependent exception), and on success on the status, every
// field, the body and keep-alive.

#include "engine/net/exchange_impl.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace detail = harvest::net::detail;

// A beast::test::stream with the timer calls receive_response makes on its lowest layer (a
// beast::tcp_stream in production); it is its own lowest layer. Nothing here ever times out.
class memory_stream {
  public:
    using executor_type = beast::test::stream::executor_type;

    explicit memory_stream(boost::asio::io_context& ioc) : inner_(ioc) {}

    executor_type get_executor() noexcept { return inner_.get_executor(); }
    beast::test::stream& inner() { return inner_; }

    template <class MutableBufferSequence, class ReadHandler>
    auto async_read_some(const MutableBufferSequence& buffers, ReadHandler&& handler) {
        return inner_.async_read_some(buffers, std::forward<ReadHandler>(handler));
    }

    void expires_after(std::chrono::steady_clock::duration) {}
    void expires_never() {}

  private:
    beast::test::stream inner_;
};

constexpr std::uint64_t max_body = 4096;

struct outcome {
    boost::system::error_code ec;  // mapped to a fetch_error
    unsigned status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    bool keep_alive = false;
};

outcome read_with_client(std::string_view wire, std::size_t read_size, bool head) {
    boost::asio::io_context ioc;
    memory_stream stream(ioc);
    stream.inner().append(wire);
    if (read_size != 0) {
        stream.inner().read_size(read_size);
    }
    stream.inner().close_remote();
    detail::exchange_limits limits;
    limits.response_headers = std::chrono::seconds(60);
    limits.idle_read = std::chrono::seconds(60);
    limits.deadline = detail::clock::now() + std::chrono::hours(1);
    limits.max_body = max_body;
    beast::flat_buffer buffer;
    outcome out;
    boost::asio::co_spawn(ioc, detail::receive_response(stream, buffer, head, limits),
                          [&](std::exception_ptr error, detail::exchange_result r) {
                              REQUIRE_FALSE(error);
                              out.ec = r.ec;
                              out.status = r.status;
                              out.headers = std::move(r.headers);
                              out.body = std::move(r.body);
                              out.keep_alive = r.keep_alive;
                          });
    ioc.run();
    return out;
}

outcome read_with_beast(std::string_view wire, std::size_t read_size, bool head) {
    boost::asio::io_context ioc;
    beast::test::stream stream(ioc);
    stream.append(wire);
    if (read_size != 0) {
        stream.read_size(read_size);
    }
    stream.close_remote();
    http::response_parser<http::string_body> parser;
    parser.header_limit(detail::header_limit);
    parser.body_limit(max_body);
    if (head) {
        parser.skip(true);
    }
    beast::flat_buffer buffer;
    beast::error_code ec;
    http::read(stream, buffer, parser, ec);
    outcome out;
    if (ec) {
        out.ec = detail::map_exchange_error(ec);
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
// its own order: what Beast's basic_fields iterates.
std::vector<std::pair<std::string, std::string>> grouped(
    std::vector<std::pair<std::string, std::string>> fields) {
    std::vector<std::pair<std::string, std::string>> out;
    std::vector<bool> taken(fields.size(), false);
    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (taken[i]) {
            continue;
        }
        for (std::size_t j = i; j < fields.size(); ++j) {
            if (!taken[j] && beast::iequals(fields[i].first, fields[j].first)) {
                taken[j] = true;
                out.push_back(fields[j]);
            }
        }
    }
    return out;
}

// One random response, well-formed or not.
std::string make_response(std::mt19937_64& rng, bool& head) {
    const auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    const auto some_text = [&](std::size_t n) {
        std::string text;
        for (std::size_t i = 0; i < n; ++i) {
            text.push_back(static_cast<char>('a' + pick(26)));
        }
        return text;
    };
    static const unsigned statuses[] = {200, 200, 200, 100, 204, 301, 304, 404, 429, 503, 999};
    head = pick(10) == 0;
    std::string wire = pick(8) == 0 ? "HTTP/1.0 " : "HTTP/1.1 ";
    wire += std::to_string(statuses[pick(std::size(statuses))]) + " OK\r\n";
    const std::size_t body_size = pick(20) == 0  ? max_body + 1 + pick(100)
                                  : pick(3) == 0 ? pick(3000)
                                                 : pick(80);
    const std::string body = some_text(body_size);
    enum { length, chunked, until_close } framing = static_cast<decltype(length)>(pick(3));
    const std::size_t fields = pick(6);
    for (std::size_t i = 0; i < fields; ++i) {
        wire += "X-" + some_text(1 + pick(6)) + ": " + some_text(pick(12)) + "\r\n";
    }
    if (pick(15) == 0) {
        wire += "X-Huge: " + std::string(detail::header_limit, 'h') + "\r\n";
    }
    if (pick(4) == 0) {
        wire += pick(2) == 0 ? "Connection: close\r\n" : "Connection: keep-alive\r\n";
    }
    if (framing == length) {
        const std::size_t claimed = pick(10) == 0 ? body.size() + pick(5) : body.size();
        wire += "Content-Length: " + std::to_string(claimed) + "\r\n";
        if (pick(30) == 0) {
            wire += "Content-Length: " + std::to_string(claimed + 1) + "\r\n";  // conflict
        }
    } else if (framing == chunked) {
        wire += "Transfer-Encoding: chunked\r\n";
    }
    wire += pick(40) == 0 ? "\n" : "\r\n";
    if (framing == chunked) {
        std::size_t at = 0;
        while (at < body.size()) {
            const std::size_t n = std::min(body.size() - at, 1 + pick(700));
            char hex[32];
            std::snprintf(hex, sizeof hex, "%zx", n);
            wire += hex;
            if (pick(6) == 0) {
                wire += ";ext=" + some_text(3);
            }
            wire += "\r\n" + body.substr(at, n) + "\r\n";
            at += n;
        }
        wire += "0\r\n";
        if (pick(5) == 0) {
            wire += "X-Trailer: " + some_text(4) + "\r\n";
        }
        wire += "\r\n";
    } else {
        wire += body;
    }
    if (pick(8) == 0) {
        wire += "HTTP/1.1 200 OK\r\n";  // a pipelined byte stream after the message
    }
    if (pick(6) == 0) {
        wire.resize(pick(wire.size() + 1));  // cut anywhere
    }
    if (pick(12) == 0 && !wire.empty()) {
        wire[pick(wire.size())] = static_cast<char>(pick(256));  // one stray byte
    }
    return wire;
}

}  // namespace

TEST_CASE("the response reader agrees with Beast's message parser on 30,000 responses",
          "[unit][net][response_reader]") {
    std::mt19937_64 rng(20261129);
    std::size_t succeeded = 0;
    std::size_t failed = 0;
    std::size_t split_dependent = 0;
    for (int i = 0; i < 30000; ++i) {
        bool head = false;
        const std::string wire = make_response(rng, head);
        const std::size_t read_size = i % 3 == 0 ? 0 : 1 + rng() % 64;
        const outcome ours = read_with_client(wire, read_size, head);
        const outcome beasts = read_with_beast(wire, read_size, head);
        INFO("case " << i << ", read size " << read_size << ", head " << head << ":\n" << wire);
        if (read_size != 0) {
            REQUIRE(ours.ec == beasts.ec);
        } else {
            // Reads as large as the buffer split differently (the client reserves 4 KiB where
            // Beast starts with 512 bytes), and Beast's parser checks the characters of an
            // unfinished field line only in the first put() that sees it: a malformed header
            // cut short is then `protocol` for one and `reset` for the other. Failing is common.
            REQUIRE(static_cast<bool>(ours.ec) == static_cast<bool>(beasts.ec));
            if (ours.ec != beasts.ec) {
                ++split_dependent;
            }
        }
        if (ours.ec) {
            ++failed;
            continue;
        }
        ++succeeded;
        REQUIRE(ours.status == beasts.status);
        // The reader keeps the wire's order; Beast's fields move a repeated name up behind its
        // first occurrence. Same-named fields keep their order either way.
        REQUIRE(grouped(ours.headers) == grouped(beasts.headers));
        REQUIRE(ours.body == beasts.body);
        REQUIRE(ours.keep_alive == beasts.keep_alive);
    }
    // Both kinds of outcome are exercised, not only one.
    CHECK(succeeded > 10000);
    CHECK(failed > 3000);
    CHECK(split_dependent < 100);
}
