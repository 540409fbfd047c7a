// The HTTP/2 session's writer (engine/net/h2_session.cpp) over an in-memory connection that
// records what the client writes and never answers: requests started a few handler turns apart,
// as a crawl starts a finished stream's successor, leave in few writes (every write wakes the
// server), every request is written once whatever the spacing, and a lone request is written
// without any time passing.

#include "engine/net/h2_session.hpp"

#include <nghttp2/nghttp2.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace h2_session_test {

namespace net = harvest::net;
using namespace std::chrono_literals;

// What the client wrote, write by write. Reads wait until the connection is closed.
struct wire_log {
    std::vector<std::string> writes;
};

class recording_connection final : public net::detail::connection {
  public:
    recording_connection(const boost::asio::any_io_executor& executor,
                         std::shared_ptr<wire_log> log)
        : log_(std::move(log)), never_(executor) {}

    boost::asio::awaitable<net::detail::exchange_result> exchange(
        net::detail::wire_request /*request*/, net::detail::exchange_limits /*limits*/) override {
        net::detail::exchange_result out;
        out.ec = net::fetch_error::protocol;
        co_return out;
    }

    bool reusable() noexcept override { return false; }

    void close() noexcept override {
        closed_ = true;
        never_.cancel();
    }

    boost::asio::awaitable<std::pair<boost::system::error_code, std::size_t>> read_some(
        boost::asio::mutable_buffer /*buffer*/) override {
        never_.expires_at(net::detail::clock::time_point::max());
        if (!closed_) {
            auto [ec] =
                co_await never_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
            (void)ec;
        }
        co_return std::make_pair(boost::system::error_code(boost::asio::error::operation_aborted),
                                 std::size_t{0});
    }

    boost::asio::awaitable<boost::system::error_code> write_all(
        boost::asio::const_buffer buffer) override {
        if (closed_) {
            co_return boost::system::error_code(boost::asio::error::operation_aborted);
        }
        log_->writes.emplace_back(static_cast<const char*>(buffer.data()), buffer.size());
        co_return boost::system::error_code();
    }

  private:
    std::shared_ptr<wire_log> log_;
    boost::asio::steady_timer never_;
    bool closed_ = false;
};

constexpr std::string_view client_preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr std::uint8_t type_headers = 1;

struct frame_view {
    std::uint8_t type = 0;
    std::uint8_t flags = 0;
    std::uint32_t stream = 0;
    std::string_view payload;
};

// The frames of one write (the preface skipped where it starts it); the write must hold whole
// frames only.
std::vector<frame_view> frames_in(std::string_view bytes) {
    if (bytes.starts_with(client_preface)) {
        bytes.remove_prefix(client_preface.size());
    }
    std::vector<frame_view> frames;
    while (bytes.size() >= 9) {
        const auto byte = [&bytes](std::size_t i) { return static_cast<std::uint8_t>(bytes[i]); };
        const std::size_t length =
            (std::size_t{byte(0)} << 16) | (std::size_t{byte(1)} << 8) | std::size_t{byte(2)};
        REQUIRE(bytes.size() >= 9 + length);
        frames.push_back({byte(3), byte(4),
                          ((std::uint32_t{byte(5)} & 0x7f) << 24) | (std::uint32_t{byte(6)} << 16) |
                              (std::uint32_t{byte(7)} << 8) | std::uint32_t{byte(8)},
                          bytes.substr(9, length)});
        bytes.remove_prefix(9 + length);
    }
    REQUIRE(bytes.empty());
    return frames;
}

// The stream ids of the HEADERS frames in one write.
std::vector<std::uint32_t> headers_in(std::string_view bytes) {
    std::vector<std::uint32_t> ids;
    for (const frame_view& frame : frames_in(bytes)) {
        if (frame.type == type_headers) {
            ids.push_back(frame.stream);
        }
    }
    return ids;
}

// The fields of the first HEADERS frame written (END_HEADERS set: one frame), HPACK-decoded.
std::vector<std::pair<std::string, std::string>> first_request_fields(const wire_log& log) {
    std::string block;
    for (const std::string& bytes : log.writes) {
        for (const frame_view& frame : frames_in(bytes)) {
            if (block.empty() && frame.type == type_headers) {
                REQUIRE((frame.flags & 0x4) != 0);   // END_HEADERS
                REQUIRE((frame.flags & 0x28) == 0);  // no PADDED, no PRIORITY
                block = std::string(frame.payload);
            }
        }
    }
    REQUIRE(!block.empty());
    nghttp2_hd_inflater* inflater = nullptr;
    REQUIRE(nghttp2_hd_inflate_new(&inflater) == 0);
    std::vector<std::pair<std::string, std::string>> fields;
    auto* in = reinterpret_cast<std::uint8_t*>(block.data());
    std::size_t left = block.size();
    for (;;) {
        nghttp2_nv field{};
        int flags = 0;
        const auto used = nghttp2_hd_inflate_hd2(inflater, &field, &flags, in, left, 1);
        REQUIRE(used >= 0);
        in += used;
        left -= static_cast<std::size_t>(used);
        if ((flags & NGHTTP2_HD_INFLATE_EMIT) != 0) {
            fields.emplace_back(std::string(reinterpret_cast<char*>(field.name), field.namelen),
                                std::string(reinterpret_cast<char*>(field.value), field.valuelen));
        }
        if ((flags & NGHTTP2_HD_INFLATE_FINAL) != 0) {
            nghttp2_hd_inflate_end_headers(inflater);
            break;
        }
        REQUIRE((used > 0 || (flags & NGHTTP2_HD_INFLATE_EMIT) != 0));
    }
    nghttp2_hd_inflate_del(inflater);
    return fields;
}

struct session_under_test {
    boost::asio::io_context io;
    std::shared_ptr<wire_log> log = std::make_shared<wire_log>();
    std::shared_ptr<net::detail::h2_session> session;
    int finished = 0;

    session_under_test() {
        session = net::detail::start_h2_session(
            io.get_executor(), std::make_unique<recording_connection>(io.get_executor(), log),
            net::detail::h2_settings{});
        REQUIRE(session);
        io.poll();  // the preface and SETTINGS
        io.restart();
    }

    // Starts one GET, which waits (nothing answers) until the session is closed.
    void start(const std::string& path, const net::header_list* headers = nullptr) {
        boost::asio::co_spawn(io, run(path, headers), boost::asio::detached);
    }

    boost::asio::awaitable<void> run(std::string path, const net::header_list* headers) {
        net::detail::h2_request request{"GET", "http", "shop.test", path, headers, {}};
        const net::detail::exchange_limits limits{60s, 60s, net::detail::clock::now() + 60s,
                                                  1 << 20};
        auto out = co_await session->exchange(std::move(request), limits, false);
        CHECK(out.result.ec == net::fetch_error::cancelled);
        ++finished;
    }

    // (writes that carried HEADERS, the stream ids written), in order.
    std::pair<std::size_t, std::vector<std::uint32_t>> written() const {
        std::size_t writes = 0;
        std::vector<std::uint32_t> ids;
        for (const auto& bytes : log->writes) {
            const auto found = headers_in(bytes);
            writes += found.empty() ? 0 : 1;
            ids.insert(ids.end(), found.begin(), found.end());
        }
        return {writes, ids};
    }

    void close_and_finish(int started) {
        session->close();
        io.restart();
        io.run_for(5s);  // bounded: closing ends the reader, the writer and every stream
        CHECK(finished == started);
    }
};

// Starts `gaps.size()` requests, the i-th after gaps[i] handler turns of the driver.
boost::asio::awaitable<void> start_spaced(session_under_test& test, std::vector<int> gaps) {
    for (std::size_t i = 0; i < gaps.size(); ++i) {
        for (int turn = 0; turn < gaps[i]; ++turn) {
            co_await boost::asio::post(test.io, boost::asio::use_awaitable);
        }
        test.start("/p/" + std::to_string(i));
    }
}

}  // namespace h2_session_test

using h2_session_test::session_under_test;
using h2_session_test::start_spaced;

TEST_CASE("h2 session: requests started a few turns apart leave in one write", "[unit][h2]") {
    session_under_test test;
    // 32 requests, each 3 handler turns after the last: a finished stream's successor comes a
    // few turns later. Written at the first signal, most of them went out one per write.
    boost::asio::co_spawn(test.io, start_spaced(test, std::vector<int>(32, 3)),
                          boost::asio::detached);
    test.io.poll();
    const auto [writes, ids] = test.written();
    CHECK(ids.size() == 32);
    CHECK(writes <= 2);
    test.close_and_finish(32);
}

TEST_CASE("h2 session: a lone request is written without waiting for time to pass", "[unit][h2]") {
    session_under_test test;
    test.start("/only");
    test.io.poll();  // ready handlers only: no timer may be needed for the write
    const auto [writes, ids] = test.written();
    CHECK(writes == 1);
    CHECK(ids == std::vector<std::uint32_t>{1});
    test.close_and_finish(1);
}

TEST_CASE("h2 session: every request is written once, whatever the spacing", "[unit][h2]") {
    std::mt19937 random(20261207);
    for (int round = 0; round < 40; ++round) {
        session_under_test test;
        // At most 100: nghttp2 holds back streams beyond that until the server's SETTINGS.
        const int count = std::uniform_int_distribution<int>(1, 100)(random);
        std::vector<int> gaps(static_cast<std::size_t>(count));
        std::uniform_int_distribution<int> gap(0, round % 2 == 0 ? 12 : 200);
        for (int& g : gaps) {
            g = gap(random);
        }
        boost::asio::co_spawn(test.io, start_spaced(test, gaps), boost::asio::detached);
        test.io.poll();
        const auto [writes, ids] = test.written();
        INFO("round " << round << ", " << count << " requests, " << writes << " writes");
        REQUIRE(ids.size() == static_cast<std::size_t>(count));
        const std::set<std::uint32_t> distinct(ids.begin(), ids.end());
        CHECK(distinct.size() == ids.size());
        CHECK(writes >= 1);
        CHECK(writes <= static_cast<std::size_t>(count));
        test.close_and_finish(count);
    }
}

TEST_CASE(
    "h2 session: request field names go out in lower case, connection-specific ones not at all",
    "[unit][h2]") {
    session_under_test test;
    const harvest::net::header_list headers{
        {"User-Agent", "Harvest/1"},  {"X-Shop-Token", "AbC"},     {"ACCEPT", "application/json"},
        {"Connection", "keep-alive"}, {"Keep-Alive", "timeout=5"}, {"Transfer-Encoding", "chunked"},
        {"Upgrade", "h2c"},           {"TE", "trailers"},          {"Host", "elsewhere.test"},
        {"Content-Length", "0"}};
    test.start("/p/1?x=Y", &headers);
    test.io.poll();
    const std::vector<std::pair<std::string, std::string>> expected{{":method", "GET"},
                                                                    {":scheme", "http"},
                                                                    {":authority", "shop.test"},
                                                                    {":path", "/p/1?x=Y"},
                                                                    {"user-agent", "Harvest/1"},
                                                                    {"x-shop-token", "AbC"},
                                                                    {"accept", "application/json"}};
    CHECK(h2_session_test::first_request_fields(*test.log) == expected);
    test.close_and_finish(1);
}
