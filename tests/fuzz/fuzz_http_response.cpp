// Fuzzes the HTTP/1.1 response path the client runs: the real receive_response template of
// engine/net/exchange_impl.hpp (Beast's basic_parser with the client's header_limit and
// body_limit, status line, headers, chunked and content-length bodies, read piece by piece)
// over an in-memory stream fed the fuzz bytes, then decode_content on the Content-Encoding it
// got. With a fixed read size it also reads the bytes with Beast's own http::read and message
// parser, and traps when the two disagree on success, status, body or keep-alive.
//
// Input: byte 0 = read size per read_some (1..64, or unlimited for 0) and the HEAD flag,
// the rest = the bytes the server sends, then EOF.

#include "engine/net/connection.hpp"
#include "engine/net/decode.hpp"
#include "engine/net/exchange_impl.hpp"

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
#include <string>
#include <string_view>
#include <utility>

namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = harvest::net;

// A beast::test::stream with the timer interface receive_response uses on its lowest layer
// (a beast::tcp_stream in production). No next_layer(), so it is its own lowest layer.
class fuzz_stream {
  public:
    using executor_type = beast::test::stream::executor_type;

    explicit fuzz_stream(boost::asio::io_context& ioc) : inner_(ioc) {}

    executor_type get_executor() noexcept { return inner_.get_executor(); }
    beast::test::stream& inner() { return inner_; }

    template <class MutableBufferSequence, class ReadHandler>
    auto async_read_some(const MutableBufferSequence& buffers, ReadHandler&& handler) {
        return inner_.async_read_some(buffers, std::forward<ReadHandler>(handler));
    }
    template <class ConstBufferSequence, class WriteHandler>
    auto async_write_some(const ConstBufferSequence& buffers, WriteHandler&& handler) {
        return inner_.async_write_some(buffers, std::forward<WriteHandler>(handler));
    }

    // Timeouts cannot fire on an in-memory stream that always has data or EOF.
    void expires_after(std::chrono::steady_clock::duration) {}
    void expires_never() {}

  private:
    beast::test::stream inner_;
};

constexpr std::uint64_t max_body = 1 << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::size_t read_size = data[0] & 63;
    const bool head = (data[0] & 64) != 0;
    const std::string_view wire(reinterpret_cast<const char*>(data + 1), size - 1);

    boost::asio::io_context ioc;
    fuzz_stream stream(ioc);
    stream.inner().append(wire);
    if (read_size != 0) {
        stream.inner().read_size(read_size);
    }
    stream.inner().close_remote();  // EOF after the bytes: no read waits forever

    net::detail::exchange_limits limits;
    limits.response_headers = std::chrono::seconds(60);
    limits.idle_read = std::chrono::seconds(60);
    limits.deadline = net::detail::clock::now() + std::chrono::hours(1);
    limits.max_body = max_body;

    beast::flat_buffer buffer;
    net::detail::exchange_result result;
    bool finished = false;
    boost::asio::co_spawn(
        ioc, net::detail::receive_response(stream, buffer, head, limits),
        [&](std::exception_ptr error, net::detail::exchange_result r) {
            if (error) {
                std::rethrow_exception(error);  // nothing in the read path should throw
            }
            result = std::move(r);
            finished = true;
        });
    ioc.run();
    if (!finished) {
        __builtin_trap();  // the read must complete: the stream ends in EOF
    }
    if (read_size != 0) {
        // The reference: Beast's message parser, fed in the same pieces.
        boost::asio::io_context ref_ioc;
        beast::test::stream ref_stream(ref_ioc);
        ref_stream.append(wire);
        ref_stream.read_size(read_size);
        ref_stream.close_remote();
        http::response_parser<http::string_body> parser;
        parser.header_limit(net::detail::header_limit);
        parser.body_limit(max_body);
        if (head) {
            parser.skip(true);
        }
        beast::flat_buffer ref_buffer;
        beast::error_code ref_ec;
        http::read(ref_stream, ref_buffer, parser, ref_ec);
        if (static_cast<bool>(result.ec) != static_cast<bool>(ref_ec) ||
            (ref_ec && net::detail::map_exchange_error(ref_ec) != result.ec)) {
            __builtin_trap();
        }
        if (!ref_ec &&
            (parser.get().result_int() != result.status || parser.get().body() != result.body ||
             (parser.keep_alive() && ref_buffer.size() == 0) != result.keep_alive)) {
            __builtin_trap();
        }
    }
    if (result.ec) {
        return 0;
    }
    if (result.body.size() > max_body) {
        __builtin_trap();
    }
    std::string_view encoding;
    for (const auto& [name, value] : result.headers) {
        if (beast::iequals(name, "content-encoding")) {
            encoding = value;
        }
    }
    const auto decoded = net::decode_content(encoding, std::move(result.body), max_body);
    if (decoded && decoded->size() > max_body) {
        __builtin_trap();
    }
    return 0;
}
