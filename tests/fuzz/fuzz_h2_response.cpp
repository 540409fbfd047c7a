// Fuzzes the HTTP/2 response path the client runs: the real h2_session (nghttp2 framing, the
// session's callbacks filling a stream's result, its limits) over an in-memory connection whose
// reads return the fuzz bytes as the server's side of the connection, a few bytes at a time,
// then EOF; what the client writes is dropped. One GET on stream 1. The exchange must end
// (the bytes end in EOF), and a success must respect max_body and carry a final status.
//
// Input: byte 0 = read size per read_some (1..64, or 64 for 0), the rest = the server's bytes
// (its SETTINGS first, then frames for stream 1, as tests/fuzz/corpus/h2_response shows).

#include "engine/net/h2_session.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace {

namespace net = harvest::net;
using namespace std::chrono_literals;

constexpr std::uint64_t max_body = 1 << 16;

class memory_connection final : public net::detail::connection {
  public:
    memory_connection(std::string_view bytes, std::size_t read_size)
        : bytes_(bytes), read_size_(read_size) {}

    boost::asio::awaitable<net::detail::exchange_result> exchange(
        net::detail::wire_request /*request*/, net::detail::exchange_limits /*limits*/) override {
        net::detail::exchange_result out;
        out.ec = net::fetch_error::protocol;  // an HTTP/2 connection carries no HTTP/1.1
        co_return out;
    }

    bool reusable() noexcept override { return false; }
    void close() noexcept override { closed_ = true; }

    boost::asio::awaitable<std::pair<boost::system::error_code, std::size_t>> read_some(
        boost::asio::mutable_buffer buffer) override {
        // A turn for the other coroutines between reads, as a socket would give.
        co_await boost::asio::post(co_await boost::asio::this_coro::executor,
                                   boost::asio::use_awaitable);
        if (closed_) {
            co_return std::make_pair(
                boost::system::error_code(boost::asio::error::operation_aborted), std::size_t{0});
        }
        if (at_ == bytes_.size()) {
            co_return std::make_pair(boost::system::error_code(boost::asio::error::eof),
                                     std::size_t{0});
        }
        const std::size_t n = std::min({read_size_, buffer.size(), bytes_.size() - at_});
        std::memcpy(buffer.data(), bytes_.data() + at_, n);
        at_ += n;
        co_return std::make_pair(boost::system::error_code(), n);
    }

    boost::asio::awaitable<boost::system::error_code> write_all(
        boost::asio::const_buffer /*buffer*/) override {
        if (closed_) {
            co_return boost::system::error_code(boost::asio::error::operation_aborted);
        }
        co_return boost::system::error_code();
    }

  private:
    std::string_view bytes_;
    std::size_t read_size_;
    std::size_t at_ = 0;
    bool closed_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::size_t read_size = (data[0] & 63) == 0 ? 64 : (data[0] & 63);
    const std::string_view wire(reinterpret_cast<const char*>(data + 1), size - 1);

    boost::asio::io_context ioc;
    auto session = net::detail::start_h2_session(
        ioc.get_executor(), std::make_unique<memory_connection>(wire, read_size),
        net::detail::h2_settings{});
    if (!session) {
        __builtin_trap();
    }
    net::detail::h2_request request{"GET", "http", "127.0.0.1", "/", {}, {}};
    net::detail::exchange_limits limits{2000ms, 2000ms, std::chrono::steady_clock::now() + 5s,
                                        max_body};
    std::optional<net::detail::h2_exchange_result> out;
    boost::asio::co_spawn(ioc, session->exchange(std::move(request), limits, false),
                          [&out](std::exception_ptr e, net::detail::h2_exchange_result r) {
                              if (e) {
                                  __builtin_trap();  // nothing on this path throws
                              }
                              out = std::move(r);
                          });
    // Bounded: the bytes end in EOF, which ends the session and its streams.
    ioc.run_for(10s);
    if (!out) {
        __builtin_trap();
    }
    const auto& result = out->result;
    if (!result.ec) {
        if (result.body.size() > max_body || result.status < 200 || result.status > 999) {
            __builtin_trap();
        }
    }
    return 0;
}
