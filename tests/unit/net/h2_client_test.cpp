// The HTTP/2 path of the client (http.version "2", h2c with prior knowledge) against a scripted
// origin that writes raw frames: what a server's RST_STREAM, GOAWAY, oversized header block,
// oversized body or silence becomes, and many fetches multiplexed on one connection.

#include "engine/crawl/options.hpp"
#include "engine/net/http_client.hpp"
#include "tests/support/test_origin.hpp"

#include <nghttp2/nghttp2.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>

using namespace std::chrono_literals;
using harvest::crawl::http_options;
using harvest::crawl::http_version;
using harvest::net::fetch_error;
using harvest::net::http_client;
using harvest::net::http_request;
using harvest::test::peer;
using harvest::test::test_origin;

namespace {

constexpr std::uint8_t type_data = 0, type_headers = 1, type_rst = 3, type_settings = 4,
                       type_goaway = 7;
constexpr std::uint8_t flag_end_stream = 1, flag_ack = 1, flag_end_headers = 4;

std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                  std::string_view payload) {
    std::string out;
    const auto n = payload.size();
    out += static_cast<char>((n >> 16) & 0xff);
    out += static_cast<char>((n >> 8) & 0xff);
    out += static_cast<char>(n & 0xff);
    out += static_cast<char>(type);
    out += static_cast<char>(flags);
    for (int shift = 24; shift >= 0; shift -= 8) {
        out += static_cast<char>((stream >> shift) & 0xff);
    }
    out.append(payload);
    return out;
}

std::string u32(std::uint32_t v) {
    std::string out;
    for (int shift = 24; shift >= 0; shift -= 8) {
        out += static_cast<char>((v >> shift) & 0xff);
    }
    return out;
}

// An HPACK block (nghttp2's encoder) of `fields`.
std::string header_block(const std::vector<std::pair<std::string, std::string>>& fields) {
    nghttp2_hd_deflater* deflater = nullptr;
    REQUIRE(nghttp2_hd_deflate_new(&deflater, 4096) == 0);
    std::vector<nghttp2_nv> nva;
    for (const auto& [name, value] : fields) {
        nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                       reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                       value.size(), NGHTTP2_NV_FLAG_NONE});
    }
    std::string out(nghttp2_hd_deflate_bound(deflater, nva.data(), nva.size()), '\0');
    const auto n = nghttp2_hd_deflate_hd(deflater, reinterpret_cast<uint8_t*>(out.data()),
                                         out.size(), nva.data(), nva.size());
    nghttp2_hd_deflate_del(deflater);
    REQUIRE(n >= 0);
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::string response_headers(std::uint32_t stream, unsigned status, bool end_stream,
                             std::vector<std::pair<std::string, std::string>> extra = {}) {
    extra.insert(extra.begin(), {":status", std::to_string(status)});
    return frame(type_headers, flag_end_headers | (end_stream ? flag_end_stream : 0), stream,
                 header_block(extra));
}

// The server side of one connection: preface, SETTINGS, then the client's frames one by one.
struct h2_peer {
    explicit h2_peer(peer& p, std::string settings_payload = {}) : p(p) {
        ok = p.read_exact(24).has_value() &&
             p.write(frame(type_settings, 0, 0, settings_payload)) &&
             p.write(frame(type_settings, flag_ack, 0, ""));
    }

    struct received {
        std::uint8_t type = 0;
        std::uint8_t flags = 0;
        std::uint32_t stream = 0;
        std::string payload;
    };

    std::optional<received> next_frame() {
        auto head = p.read_exact(9);
        if (!head) {
            return std::nullopt;
        }
        const auto* b = reinterpret_cast<const unsigned char*>(head->data());
        received r;
        const std::size_t n = (std::size_t{b[0]} << 16) | (std::size_t{b[1]} << 8) | b[2];
        r.type = b[3];
        r.flags = b[4];
        r.stream = ((std::uint32_t{b[5]} & 0x7f) << 24) | (std::uint32_t{b[6]} << 16) |
                   (std::uint32_t{b[7]} << 8) | b[8];
        auto payload = p.read_exact(n);
        if (!payload) {
            return std::nullopt;
        }
        r.payload = std::move(*payload);
        return r;
    }

    // The stream id of the next request (its HEADERS frame); nothing once the client is gone.
    std::optional<std::uint32_t> next_request() {
        for (int i = 0; i < 1000; ++i) {  // bounded: SETTINGS, WINDOW_UPDATE, ... in between
            auto f = next_frame();
            if (!f) {
                return std::nullopt;
            }
            if (f->type == type_headers) {
                return f->stream;
            }
        }
        return std::nullopt;
    }

    void drain() {
        for (int i = 0; i < 10000 && next_frame(); ++i) {
        }
    }

    peer& p;
    bool ok = false;
};

std::shared_ptr<http_options> h2_options() {
    auto options = std::make_shared<http_options>();
    options->version = http_version::http2;
    options->timeouts.response_headers = 2000ms;
    options->timeouts.idle_read = 2000ms;
    return options;
}

// Runs the fetches to completion; then closes the client's idle sessions so the io_context
// runs out of work.
std::vector<boost::system::result<harvest::net::http_response>> run_fetches(
    http_client& client, boost::asio::io_context& ioc, std::vector<std::string> urls,
    std::shared_ptr<const http_options> options) {
    std::vector<boost::system::result<harvest::net::http_response>> out(urls.size(),
                                                                        fetch_error::cancelled);
    std::size_t left = urls.size();
    for (std::size_t i = 0; i < urls.size(); ++i) {
        http_request request;
        request.url = urls[i];
        boost::asio::co_spawn(
            ioc, client.fetch(std::move(request), options, std::chrono::steady_clock::now() + 10s),
            [&, i](std::exception_ptr e, boost::system::result<harvest::net::http_response> r) {
                REQUIRE_FALSE(e);
                out[i] = std::move(r);
                if (--left == 0) {
                    client.close_idle();
                }
            });
    }
    ioc.restart();
    ioc.run_for(20s);
    REQUIRE(left == 0);
    return out;
}

// The client's figures (client_stats), copied.
struct stats_seen {
    std::uint64_t http1 = 0, h2 = 0, goaway = 0, refused = 0, lost = 0;
    std::int64_t streams = 0;
};

stats_seen seen(const http_client& client) {
    const auto s = client.stats();
    return stats_seen{s->http1_connections.load(), s->h2_connections.load(),
                      s->h2_goaway_resends.load(), s->h2_refused_resends.load(),
                      s->h2_lost_resends.load(),   s->h2_streams.load()};
}

boost::system::result<harvest::net::http_response> fetch_one(
    test_origin& origin, std::shared_ptr<const http_options> options = h2_options(),
    std::string path = "/x", stats_seen* stats = nullptr) {
    boost::asio::io_context ioc;
    http_client client(ioc.get_executor(), {});
    auto out = run_fetches(client, ioc, {origin.url(path)}, std::move(options)).front();
    if (stats != nullptr) {
        *stats = seen(client);
    }
    return out;
}

}  // namespace

TEST_CASE("h2c: a response with headers and a body in several DATA frames", "[unit][h2]") {
    test_origin origin([](peer& p) {
        h2_peer s(p);
        auto id = s.next_request();
        if (!s.ok || !id) {
            return;
        }
        p.write(response_headers(*id, 200, false, {{"content-type", "text/plain"}}));
        p.write(frame(type_data, 0, *id, "hello, "));
        p.write(frame(type_data, flag_end_stream, *id, "world"));
        s.drain();
    });
    auto r = fetch_one(origin);
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->body == "hello, world");
    CHECK(r->header("Content-Type") == "text/plain");
    CHECK(r->protocol == "h2");
}

TEST_CASE("h2c: RST_STREAM maps to the fetch error kinds", "[unit][h2]") {
    const auto [code, expected] = GENERATE(table<std::uint32_t, fetch_error>({
        {NGHTTP2_PROTOCOL_ERROR, fetch_error::protocol},
        {NGHTTP2_INTERNAL_ERROR, fetch_error::reset},
        {NGHTTP2_CANCEL, fetch_error::reset},
        {NGHTTP2_FLOW_CONTROL_ERROR, fetch_error::protocol},
    }));
    INFO("RST_STREAM error code " << code);
    test_origin origin([code = code](peer& p) {
        h2_peer s(p);
        auto id = s.next_request();
        if (!s.ok || !id) {
            return;
        }
        p.write(frame(type_rst, 0, *id, u32(code)));
        s.drain();
    });
    auto r = fetch_one(origin);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == expected);
}

TEST_CASE("h2c: REFUSED_STREAM and GOAWAY are sent again, not failed", "[unit][h2]") {
    SECTION("REFUSED_STREAM: again on the same connection") {
        test_origin origin([](peer& p) {
            h2_peer s(p);
            auto first = s.next_request();
            if (!s.ok || !first) {
                return;
            }
            p.write(frame(type_rst, 0, *first, u32(NGHTTP2_REFUSED_STREAM)));
            auto second = s.next_request();
            if (!second) {
                return;
            }
            p.write(response_headers(*second, 200, false));
            p.write(frame(type_data, flag_end_stream, *second, "second"));
            s.drain();
        });
        stats_seen stats;
        auto r = fetch_one(origin, h2_options(), "/x", &stats);
        REQUIRE(r.has_value());
        CHECK(r->body == "second");
        CHECK(origin.connections() == 1);
        CHECK(stats.h2 == 1);
        CHECK(stats.refused == 1);
        CHECK(stats.goaway == 0);
        CHECK(stats.streams == 0);
    }
    SECTION("GOAWAY with last_stream_id 0: again on a new connection") {
        test_origin origin([](peer& p) {
            h2_peer s(p);
            auto id = s.next_request();
            if (!s.ok || !id) {
                return;
            }
            if (p.index == 0) {
                p.write(frame(type_goaway, 0, 0, u32(0) + u32(NGHTTP2_NO_ERROR)));
                p.close();
                return;
            }
            p.write(response_headers(*id, 200, false));
            p.write(frame(type_data, flag_end_stream, *id, "fresh"));
            s.drain();
        });
        stats_seen stats;
        auto r = fetch_one(origin, h2_options(), "/x", &stats);
        REQUIRE(r.has_value());
        CHECK(r->body == "fresh");
        CHECK(origin.connections() == 2);
        CHECK(stats.h2 == 2);
        CHECK(stats.http1 == 0);
        CHECK(stats.goaway == 1);
        CHECK(stats.refused == 0);
        CHECK(stats.streams == 0);
    }
    SECTION("a server that refuses everything: reset after a bounded number of sends") {
        test_origin origin([](peer& p) {
            h2_peer s(p);
            for (int i = 0; i < 20 && s.ok; ++i) {
                auto id = s.next_request();
                if (!id) {
                    return;
                }
                p.write(frame(type_rst, 0, *id, u32(NGHTTP2_REFUSED_STREAM)));
            }
        });
        auto r = fetch_one(origin);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error() == fetch_error::reset);
    }
}

TEST_CASE("h2c: limits - header list, max_body, response_headers timeout", "[unit][h2]") {
    SECTION("a header block over 64 KiB is a protocol error") {
        test_origin origin([](peer& p) {
            h2_peer s(p);
            auto id = s.next_request();
            if (!s.ok || !id) {
                return;
            }
            std::vector<std::pair<std::string, std::string>> fields;
            for (int i = 0; i < 40; ++i) {
                fields.emplace_back("x-filler-" + std::to_string(i),
                                    std::string(2000, 'a' + i % 26));
            }
            const std::string block = header_block([&] {
                auto all = fields;
                all.insert(all.begin(), {":status", "200"});
                return all;
            }());
            // Split into a HEADERS and CONTINUATION frames of at most 16 KiB.
            const std::size_t max_frame = 16384;
            for (std::size_t at = 0; at < block.size(); at += max_frame) {
                const bool first = at == 0;
                const bool last = at + max_frame >= block.size();
                p.write(frame(first ? type_headers : 9,
                              static_cast<std::uint8_t>((last ? flag_end_headers : 0) |
                                                        (first ? flag_end_stream : 0)),
                              *id, std::string_view(block).substr(at, max_frame)));
            }
            s.drain();
        });
        auto r = fetch_one(origin);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error() == fetch_error::protocol);
    }
    SECTION("a body over max_body resets the stream: body_too_large") {
        test_origin origin([](peer& p) {
            h2_peer s(p);
            auto id = s.next_request();
            if (!s.ok || !id) {
                return;
            }
            p.write(response_headers(*id, 200, false));
            for (int i = 0; i < 3; ++i) {
                p.write(frame(type_data, 0, *id, std::string(4000, 'b')));
            }
            s.drain();
        });
        auto options = h2_options();
        options->max_body = 10000;
        auto r = fetch_one(origin, options);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error() == fetch_error::body_too_large);
    }
    SECTION("no response headers in time: timeout") {
        test_origin origin([](peer& p) {
            h2_peer s(p);
            s.drain();
        });
        auto options = h2_options();
        options->timeouts.response_headers = 300ms;
        const auto start = std::chrono::steady_clock::now();
        auto r = fetch_one(origin, options);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error() == fetch_error::timeout);
        CHECK(std::chrono::steady_clock::now() - start < 3s);
    }
}

TEST_CASE("h2c: concurrent fetches share one connection, answered in random order", "[unit][h2]") {
    const auto seed = GENERATE(1u, 2u, 3u);
    test_origin origin([seed](peer& p) {
        h2_peer s(p, std::string("\x00\x03", 2) + u32(7));  // MAX_CONCURRENT_STREAMS 7
        if (!s.ok) {
            return;
        }
        std::mt19937 rng(seed);
        std::vector<std::uint32_t> open;
        // Bounded: 40 requests in all, answered once 1..7 are open.
        int answered = 0;
        int requested = 0;
        while (answered < 40) {
            if (requested < 40 && (open.empty() || (open.size() < 7 && rng() % 2 == 0))) {
                auto id = s.next_request();
                if (!id) {
                    return;
                }
                open.push_back(*id);
                ++requested;
                continue;
            }
            const std::size_t pick = rng() % open.size();
            const std::uint32_t id = open[pick];
            open.erase(open.begin() + static_cast<std::ptrdiff_t>(pick));
            p.write(response_headers(id, 200, false));
            p.write(frame(type_data, flag_end_stream, id, "stream " + std::to_string(id)));
            ++answered;
        }
        s.drain();
    });
    boost::asio::io_context ioc;
    http_client client(ioc.get_executor(), {});
    std::vector<std::string> urls;
    for (int i = 0; i < 40; ++i) {
        urls.push_back(origin.url("/item/" + std::to_string(i)));
    }
    auto results = run_fetches(client, ioc, urls, h2_options());
    std::set<std::string> bodies;
    for (const auto& r : results) {
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
        bodies.insert(r->body);
    }
    CHECK(bodies.size() == 40);  // each stream's own body, none mixed up
    CHECK(origin.connections() == 1);
}

TEST_CASE("h2c: requests that time out while queued for a stream are released at once",
          "[unit][h2]") {
    // The server allows one stream and holds the first request; the others wait in nghttp2's
    // queue for that stream and time out there. Each leaves the session when it returns, not
    // when the first stream ends (it may never end in time).
    const int queued = GENERATE(1, 4);
    std::atomic<bool> answer{false};
    test_origin origin([&answer](peer& p) {
        h2_peer s(p, std::string("\x00\x03", 2) + u32(1));  // MAX_CONCURRENT_STREAMS 1
        auto id = s.next_request();
        if (!s.ok || !id) {
            return;
        }
        // Bounded: 5 s at most, until the client has seen the queued requests time out.
        for (int i = 0; i < 500 && !answer.load(); ++i) {
            std::this_thread::sleep_for(10ms);
        }
        p.write(response_headers(*id, 200, false));
        p.write(frame(type_data, flag_end_stream, *id, "held"));
        s.drain();
    });
    boost::asio::io_context ioc;
    http_client client(ioc.get_executor(), {});
    auto slow = h2_options();
    slow->timeouts.response_headers = 8s;
    auto quick = h2_options();
    quick->timeouts.response_headers = 200ms;
    const auto deadline = std::chrono::steady_clock::now() + 10s;

    bool held_done = false;
    std::optional<boost::system::result<harvest::net::http_response>> held;
    http_request first;
    first.url = origin.url("/held");
    boost::asio::co_spawn(ioc, client.fetch(std::move(first), slow, deadline),
                          [&](std::exception_ptr e, auto r) {
                              REQUIRE_FALSE(e);
                              held = std::move(r);
                              held_done = true;
                              client.close_idle();
                          });
    // The others once the first is on its stream (its session made and the stream counted).
    std::vector<boost::system::error_code> errors;
    std::vector<std::int64_t> streams_after;
    boost::asio::steady_timer later(ioc);
    std::function<void()> start_queued = [&] {
        if (client.stats()->h2_streams.load() < 1 && std::chrono::steady_clock::now() < deadline) {
            later.expires_after(5ms);
            later.async_wait([&](auto) { start_queued(); });
            return;
        }
        for (int i = 0; i < queued; ++i) {
            http_request request;
            request.url = origin.url("/queued/" + std::to_string(i));
            boost::asio::co_spawn(
                ioc, client.fetch(std::move(request), quick, deadline),
                [&](std::exception_ptr e, auto r) {
                    REQUIRE_FALSE(e);
                    errors.push_back(r.has_value() ? boost::system::error_code{} : r.error());
                    streams_after.push_back(client.stats()->h2_streams.load());
                    if (errors.size() == static_cast<std::size_t>(queued)) {
                        answer = true;
                    }
                });
        }
    };
    start_queued();
    ioc.run_for(15s);
    answer = true;
    REQUIRE(held_done);
    REQUIRE(held->has_value());
    CHECK((*held)->body == "held");
    REQUIRE(errors.size() == static_cast<std::size_t>(queued));
    for (std::size_t i = 0; i < errors.size(); ++i) {
        CHECK(errors[i] == fetch_error::timeout);
        // The held stream and the queued requests not returned yet, never one that has.
        CHECK(streams_after[i] >= 1);
        CHECK(streams_after[i] <= 1 + queued - static_cast<std::int64_t>(i + 1));
    }
    CHECK(streams_after.back() == 1);  // only the held stream is left
    CHECK(client.stats()->h2_streams.load() == 0);
    CHECK(origin.connections() == 1);
}

TEST_CASE("h2c: a request that times out on an open stream has left the session when it returns",
          "[unit][h2]") {
    // The stream is open (its HEADERS went out) and the server never answers. The request
    // returns at its timeout with the stream forgotten, not once the RST_STREAM is written.
    test_origin origin([](peer& p) {
        h2_peer s(p);
        s.drain();
    });
    boost::asio::io_context ioc;
    http_client client(ioc.get_executor(), {});
    auto options = h2_options();
    options->timeouts.response_headers = 200ms;
    http_request request;
    request.url = origin.url("/never");
    std::optional<boost::system::result<harvest::net::http_response>> out;
    std::int64_t streams_at_return = -1;
    boost::asio::co_spawn(
        ioc, client.fetch(std::move(request), options, std::chrono::steady_clock::now() + 10s),
        [&](std::exception_ptr e, auto r) {
            REQUIRE_FALSE(e);
            out = std::move(r);
            streams_at_return = client.stats()->h2_streams.load();
            client.close_idle();
        });
    ioc.run_for(10s);
    REQUIRE(out.has_value());
    REQUIRE_FALSE(out->has_value());
    CHECK(out->error() == fetch_error::timeout);
    CHECK(streams_at_return == 0);
    CHECK(client.stats()->h2_streams.load() == 0);
}
