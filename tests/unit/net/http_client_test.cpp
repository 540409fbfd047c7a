// The HTTP client against scripted origins on 127.0.0.1: framing, keep-alive, decoding,
// limits, redirects and every transport failure mapped to its fetch_error.

#include "engine/net/http_client.hpp"
#include "engine/crawl/options.hpp"
#include "engine/net/decode.hpp"
#include "tests/support/test_origin.hpp"

#include <brotli/encode.h>
#include <zlib.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <catch2/catch.hpp>

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using harvest::crawl::http_options;
using harvest::net::fetch_error;
using harvest::net::http_client;
using harvest::net::http_request;
using harvest::test::http_response_bytes;
using harvest::test::peer;
using harvest::test::received_request;
using harvest::test::run_fetch;
using harvest::test::serve_each;
using harvest::test::test_origin;

namespace {

std::string zlib_compress(std::string_view data, int window_bits) {
    z_stream zs{};
    REQUIRE(deflateInit2(&zs, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    std::string out(deflateBound(&zs, data.size()) + 64, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}

std::string gzip(std::string_view data) {
    return zlib_compress(data, 15 + 16);
}

std::string brotli(std::string_view data) {
    std::string out(BrotliEncoderMaxCompressedSize(data.size()) + 64, '\0');
    std::size_t size = out.size();
    REQUIRE(BrotliEncoderCompress(5, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, data.size(),
                                  reinterpret_cast<const std::uint8_t*>(data.data()), &size,
                                  reinterpret_cast<std::uint8_t*>(out.data())) == BROTLI_TRUE);
    out.resize(size);
    return out;
}

std::shared_ptr<http_options> make_options() {
    return std::make_shared<http_options>();
}

http_request get(std::string url) {
    http_request r;
    r.url = std::move(url);
    return r;
}

struct client_fixture {
    boost::asio::io_context ioc;
    http_client client{ioc.get_executor(), {"harvest-test/1", std::chrono::seconds(60), 8}};
};

// An origin that answers every request with `response` and keeps the last request it read.
class recording_origin {
  public:
    explicit recording_origin(std::string response)
        : origin_(serve_each([this, response = std::move(response)](const received_request& req) {
              std::lock_guard lock(mutex_);
              last_ = req;
              return response;
          })) {}
    std::string url(std::string_view path) const { return origin_.url(path); }
    std::uint16_t port() const { return origin_.port(); }
    received_request last() const {
        std::lock_guard lock(mutex_);
        return last_;
    }

  private:
    mutable std::mutex mutex_;
    received_request last_;
    test_origin origin_;  // declared last: stopped before what its handler writes goes away
};

}  // namespace

TEST_CASE("decode_body handles gzip, deflate (zlib and raw) and br", "[unit]") {
    const std::string text(100000, 'x');
    using harvest::net::content_coding;
    using harvest::net::decode_body;
    CHECK(decode_body(content_coding::gzip, gzip(text), 1 << 20).value() == text);
    CHECK(decode_body(content_coding::deflate, zlib_compress(text, 15), 1 << 20).value() == text);
    CHECK(decode_body(content_coding::deflate, zlib_compress(text, -15), 1 << 20).value() == text);
    CHECK(decode_body(content_coding::br, brotli(text), 1 << 20).value() == text);
    // Two gzip members concatenated are one body.
    CHECK(decode_body(content_coding::gzip, gzip("ab") + gzip("cd"), 100).value() == "abcd");
}

TEST_CASE("decode_body rejects corrupt, truncated and oversized data", "[unit]") {
    using harvest::net::content_coding;
    using harvest::net::decode_body;
    const std::string text(100000, 'y');
    const std::string gz = gzip(text);
    CHECK(decode_body(content_coding::gzip, "not gzip at all", 1 << 20).error() ==
          fetch_error::protocol);
    CHECK(decode_body(content_coding::gzip, gz.substr(0, gz.size() / 2), 1 << 20).error() ==
          fetch_error::protocol);
    CHECK(decode_body(content_coding::br, "\xff\xff\xff garbage", 1 << 20).error() ==
          fetch_error::protocol);
    CHECK(decode_body(content_coding::gzip, gz, 99999).error() == fetch_error::body_too_large);
    CHECK(decode_body(content_coding::br, brotli(text), 99999).error() ==
          fetch_error::body_too_large);
    // Exactly at the limit is fine, and the allocation stays within limit + padding.
    auto exact = decode_body(content_coding::gzip, gz, 100000);
    REQUIRE(exact);
    CHECK(exact->size() == 100000);
    CHECK(exact->capacity() <= 100000 + harvest::net::body_padding);
}

TEST_CASE("decode_content applies codings in reverse and leaves unknown ones", "[unit]") {
    using harvest::net::decode_content;
    CHECK(decode_content("gzip, br", brotli(gzip("hello")), 100).value() == "hello");
    CHECK(decode_content("compress", "raw", 100).value() == "raw");
    CHECK(decode_content("identity", "raw", 100).value() == "raw");
    // A coding turned off in the options is left alone.
    CHECK(decode_content("gzip", gzip("z"), 100, {false, true, true}).value() == gzip("z"));
}

TEST_CASE("200 with Content-Length, request assembly and response fields", "[unit]") {
    recording_origin origin(http_response_bytes(200, "hello", {{"X-Test", "yes"}}));
    client_fixture f;
    auto options = make_options();
    options->headers = {{"Accept-Language", "en-US"}, {"X-Both", "options"}};
    http_request req = get(origin.url("/path/a?q=1#frag"));
    req.method = "POST";
    req.headers = {{"X-Both", "request"}, {"Content-Type", "text/plain"}};
    req.body = "payload";
    auto r = run_fetch(f.client, f.ioc, req, options);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "hello");
    CHECK(r->body.capacity() >= r->body.size() + 64);
    CHECK(r->header("x-test") == "yes");
    CHECK(r->header("missing").empty());
    CHECK(r->wire_bytes == 5);
    CHECK(r->redirects == 0);
    CHECK(r->final_url == origin.url("/path/a?q=1#frag"));
    CHECK(r->elapsed > 0ns);
    const received_request seen = origin.last();
    CHECK(seen.method == "POST");
    CHECK(seen.target == "/path/a?q=1");
    CHECK(seen.header("Host") == "127.0.0.1:" + std::to_string(origin.port()));
    CHECK(seen.header("User-Agent") == "harvest-test/1");
    CHECK(seen.header("Accept-Encoding") == "gzip, deflate, br");
    CHECK(seen.header("Accept-Language") == "en-US");
    CHECK(seen.header("X-Both") == "request");
    CHECK(seen.header("Content-Length") == "7");
    CHECK(seen.body == "payload");
}

TEST_CASE("headers that could split the request, or that the client owns, are not sent", "[unit]") {
    recording_origin origin(http_response_bytes(200, ""));
    client_fixture f;
    auto options = make_options();
    http_request req = get(origin.url("/"));
    // A CR, LF or NUL at every offset of values and names up to 40 bytes long, from the
    // request and from the options alike.
    std::vector<std::pair<std::string, std::string>> good;
    for (std::size_t length = 1; length <= 40; ++length) {
        for (const char bad : {'\r', '\n', '\0'}) {
            for (std::size_t at = 0; at < length; ++at) {
                std::string value(length, 'v');
                value[at] = bad;
                const std::string name = "X-Bad-" + std::to_string(length) + "-" +
                                         std::to_string(static_cast<int>(bad)) + "-" +
                                         std::to_string(at);
                auto& headers = at % 2 == 0 ? req.headers : options->headers;
                headers.emplace_back(name, value);
                headers.emplace_back(value, "bad name");
            }
        }
        // Tabs, spaces and other bytes a value may hold are sent as they are.
        std::string value(length, 'g');
        value[length / 2] = '\t';
        value[length - 1] = length % 3 == 0 ? '~' : 'g';
        good.emplace_back("X-Good-" + std::to_string(length), value);
        (length % 2 == 0 ? req.headers : options->headers).push_back(good.back());
    }
    req.headers.emplace_back("X-Split\r\nX-Injected", "1");
    req.headers.emplace_back("X-Value", "1\r\nX-Injected: 1");
    options->headers.emplace_back("X-Value2", "1\nX-Injected: 1");
    for (const char* name : {"X Space", "X\tTab", "X:Colon", ""}) {
        req.headers.emplace_back(name, "1");
    }
    // The framing and Host are the client's: what a request says of them is not sent.
    req.headers.emplace_back("host", "evil.example");
    // Longer than any port, so the Host line cannot hold it by chance.
    req.headers.emplace_back("Content-Length", "987654321");
    options->headers.emplace_back("TRANSFER-ENCODING", "chunked");
    REQUIRE(run_fetch(f.client, f.ioc, req, options));
    const received_request seen = origin.last();
    INFO(seen.head);
    CHECK(seen.head.find("X-Bad") == std::string::npos);
    CHECK(seen.head.find("bad name") == std::string::npos);
    CHECK(seen.head.find("Injected") == std::string::npos);
    CHECK(seen.head.find("X-Value") == std::string::npos);
    CHECK(seen.head.find("X Space") == std::string::npos);
    CHECK(seen.head.find("Colon") == std::string::npos);
    CHECK(seen.head.find("Tab") == std::string::npos);
    CHECK(seen.head.find("evil") == std::string::npos);
    CHECK(seen.head.find("987654321") == std::string::npos);
    CHECK(seen.head.find("chunked") == std::string::npos);
    CHECK(seen.header("Host") == "127.0.0.1:" + std::to_string(origin.port()));
    for (const auto& [name, value] : good) {
        CHECK(seen.header(name) == value);
    }
}

TEST_CASE("request User-Agent wins and no Accept-Encoding when decoding is off", "[unit]") {
    recording_origin origin(http_response_bytes(200, ""));
    client_fixture f;
    auto options = make_options();
    options->gzip = options->deflate = options->br = false;
    http_request req = get(origin.url("/"));
    req.headers = {{"User-Agent", "mine"}};
    REQUIRE(run_fetch(f.client, f.ioc, req, options));
    const received_request seen = origin.last();
    CHECK(seen.header("User-Agent") == "mine");
    CHECK(seen.head.find("Accept-Encoding") == std::string::npos);
}

TEST_CASE("chunked and close-delimited bodies", "[unit]") {
    test_origin origin([](peer& p) {
        auto req = p.read_request();
        if (!req) {
            return;
        }
        if (req->target == "/chunked") {
            p.write(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
        } else {
            p.write("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end");
            p.close();
        }
    });
    client_fixture f;
    auto chunked = run_fetch(f.client, f.ioc, get(origin.url("/chunked")));
    REQUIRE(chunked);
    CHECK(chunked->body == "hello world");
    CHECK(chunked->wire_bytes == 11);
    auto eof = run_fetch(f.client, f.ioc, get(origin.url("/eof")));
    REQUIRE(eof);
    CHECK(eof->body == "until the end");
}

TEST_CASE("keep-alive: three sequential fetches share one connection", "[unit]") {
    test_origin origin(serve_each(
        [](const received_request& req) { return http_response_bytes(200, req.target); }));
    client_fixture f;
    for (int i = 0; i < 3; ++i) {
        auto r = run_fetch(f.client, f.ioc, get(origin.url("/n" + std::to_string(i))));
        REQUIRE(r);
        CHECK(r->body == "/n" + std::to_string(i));
    }
    CHECK(origin.connections() == 1);
    // close_idle drops the pooled connection: the next fetch opens a new one.
    f.client.close_idle();
    REQUIRE(run_fetch(f.client, f.ioc, get(origin.url("/again"))));
    CHECK(origin.connections() == 2);
}

TEST_CASE("Connection: close and HTTP/1.0 responses are not pooled", "[unit]") {
    test_origin origin(serve_each([](const received_request& req) {
        if (req.target == "/old") {
            return std::string("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
        return http_response_bytes(200, "ok", {{"Connection", "close"}});
    }));
    client_fixture f;
    REQUIRE(run_fetch(f.client, f.ioc, get(origin.url("/close"))));
    REQUIRE(run_fetch(f.client, f.ioc, get(origin.url("/old"))));
    REQUIRE(run_fetch(f.client, f.ioc, get(origin.url("/close"))));
    CHECK(origin.connections() == 3);
}

TEST_CASE("a pooled connection the server dropped is retried once on a fresh one", "[unit]") {
    test_origin origin([](peer& p) {
        if (p.index == 0) {
            // Answers one request, then takes the next and hangs up without a byte.
            auto first = p.read_request();
            if (!first || !p.write(http_response_bytes(200, "first"))) {
                return;
            }
            (void)p.read_request();
            p.close();
            return;
        }
        while (auto req = p.read_request()) {
            if (!p.write(http_response_bytes(200, "fresh"))) {
                return;
            }
        }
    });
    client_fixture f;
    auto first = run_fetch(f.client, f.ioc, get(origin.url("/")));
    REQUIRE(first);
    CHECK(first->body == "first");
    auto second = run_fetch(f.client, f.ioc, get(origin.url("/")));
    REQUIRE(second);
    CHECK(second->body == "fresh");
    CHECK(origin.connections() == 2);
}

TEST_CASE("gzip, deflate and br bodies are decoded; wire_bytes counts the coded body", "[unit]") {
    const std::string text = std::string(5000, 'a') + "end";
    test_origin origin(serve_each([&](const received_request& req) {
        if (req.target == "/gzip") {
            return http_response_bytes(200, gzip(text), {{"Content-Encoding", "gzip"}});
        }
        if (req.target == "/deflate") {
            return http_response_bytes(200, zlib_compress(text, 15),
                                       {{"Content-Encoding", "deflate"}});
        }
        if (req.target == "/raw-deflate") {
            return http_response_bytes(200, zlib_compress(text, -15),
                                       {{"Content-Encoding", "deflate"}});
        }
        if (req.target == "/br") {
            return http_response_bytes(200, brotli(text), {{"Content-Encoding", "br"}});
        }
        return http_response_bytes(200, "not gzip", {{"Content-Encoding", "gzip"}});
    }));
    client_fixture f;
    for (const char* path : {"/gzip", "/deflate", "/raw-deflate", "/br"}) {
        INFO(path);
        auto r = run_fetch(f.client, f.ioc, get(origin.url(path)));
        REQUIRE(r);
        CHECK(r->body == text);
        CHECK(r->wire_bytes < text.size());
        CHECK(r->body.capacity() >= r->body.size() + 64);
    }
    auto bad = run_fetch(f.client, f.ioc, get(origin.url("/bad")));
    REQUIRE(bad.has_error());
    CHECK(bad.error() == fetch_error::protocol);
}

TEST_CASE("max_body applies to raw and to decoded bodies", "[unit]") {
    const std::string bomb = gzip(std::string(10 << 20, '\0'));
    test_origin origin([&](peer& p) {
        auto req = p.read_request();
        if (!req) {
            return;
        }
        if (req->target == "/bomb") {
            p.write(http_response_bytes(200, bomb, {{"Content-Encoding", "gzip"}}));
        } else if (req->target == "/big") {
            p.write(http_response_bytes(200, std::string(2 << 20, 'b')));
        } else {
            // Chunked, so the limit is only known while reading.
            p.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            const std::string chunk = "100000\r\n" + std::string(0x100000, 'c') + "\r\n";
            for (int i = 0; i < 3 && !*p.stopping; ++i) {
                if (!p.write(chunk)) {
                    return;
                }
            }
            p.write("0\r\n\r\n");
        }
    });
    client_fixture f;
    auto options = make_options();
    options->max_body = 1 << 20;
    CHECK(bomb.size() < (1 << 20));
    for (const char* path : {"/bomb", "/big", "/chunked"}) {
        INFO(path);
        auto r = run_fetch(f.client, f.ioc, get(origin.url(path)), options);
        REQUIRE(r.has_error());
        CHECK(r.error() == fetch_error::body_too_large);
    }
}

TEST_CASE("redirects: relative, absolute, 303 to GET, loops and other schemes", "[unit]") {
    std::mutex mutex;
    std::vector<std::string> seen;  // "METHOD target body"
    std::uint16_t port = 0;
    test_origin origin(serve_each([&](const received_request& req) {
        {
            std::lock_guard lock(mutex);
            seen.push_back(req.method + " " + req.target + " " + req.body);
        }
        const std::string self = "http://127.0.0.1:" + std::to_string(port);
        if (req.target == "/r1") {
            return http_response_bytes(302, "", {{"Location", "next/r2?x=1"}});
        }
        if (req.target == "/next/r2?x=1") {
            return http_response_bytes(301, "", {{"Location", self + "/final"}});
        }
        if (req.target == "/loop") {
            return http_response_bytes(307, "", {{"Location", "/loop"}});
        }
        if (req.target == "/post") {
            return http_response_bytes(303, "see", {{"Location", "/see"}});
        }
        if (req.target == "/keep") {
            return http_response_bytes(307, "", {{"Location", "/final"}});
        }
        if (req.target == "/ftp") {
            return http_response_bytes(302, "", {{"Location", "ftp://127.0.0.1/file"}});
        }
        return http_response_bytes(200, "done " + req.method);
    }));
    port = origin.port();
    client_fixture f;

    auto chain = run_fetch(f.client, f.ioc, get(origin.url("/r1")));
    REQUIRE(chain);
    CHECK(chain->status == 200);
    CHECK(chain->body == "done GET");
    CHECK(chain->redirects == 2);
    CHECK(chain->final_url == origin.url("/final"));

    auto options = make_options();
    options->max_redirects = 3;
    auto loop = run_fetch(f.client, f.ioc, get(origin.url("/loop")), options);
    REQUIRE(loop.has_error());
    CHECK(loop.error() == fetch_error::too_many_redirects);

    http_request post = get(origin.url("/post"));
    post.method = "POST";
    post.body = "form=1";
    auto see = run_fetch(f.client, f.ioc, post);
    REQUIRE(see);
    CHECK(see->body == "done GET");
    CHECK(see->wire_bytes == 3 + 8);  // the 303's body counts too

    http_request put = get(origin.url("/keep"));
    put.method = "PUT";
    put.body = "data";
    auto kept = run_fetch(f.client, f.ioc, put);
    REQUIRE(kept);
    CHECK(kept->body == "done PUT");

    auto ftp = run_fetch(f.client, f.ioc, get(origin.url("/ftp")));
    REQUIRE(ftp.has_error());
    CHECK(ftp.error() == fetch_error::unsupported_scheme);

    std::lock_guard lock(mutex);
    CHECK(std::count(seen.begin(), seen.end(), "GET /loop ") == 4);  // first + 3 redirects
    CHECK(std::find(seen.begin(), seen.end(), "POST /post form=1") != seen.end());
    CHECK(std::find(seen.begin(), seen.end(), "GET /see ") != seen.end());
    CHECK(std::find(seen.begin(), seen.end(), "PUT /final data") != seen.end());
}

TEST_CASE("unsupported schemes and malformed URLs fail without I/O", "[unit]") {
    client_fixture f;
    auto ftp = run_fetch(f.client, f.ioc, get("ftp://127.0.0.1/x"));
    REQUIRE(ftp.has_error());
    CHECK(ftp.error() == fetch_error::unsupported_scheme);
    auto bad = run_fetch(f.client, f.ioc, get("http://"));
    REQUIRE(bad.has_error());
    CHECK(bad.error() == fetch_error::protocol);
    // A method that would split the request line is refused before connecting.
    http_request split = get("http://127.0.0.1:1/");
    split.method = "GET / HTTP/1.1\r\nX-Injected: 1\r\n\r\nGET";
    auto injected = run_fetch(f.client, f.ioc, split);
    REQUIRE(injected.has_error());
    CHECK(injected.error() == fetch_error::protocol);
}

TEST_CASE("connection refused maps to connect", "[unit]") {
    std::uint16_t port = 0;
    {
        boost::asio::io_context ioc;
        boost::asio::ip::tcp::acceptor acceptor(ioc,
                                                {boost::asio::ip::make_address("127.0.0.1"), 0});
        port = acceptor.local_endpoint().port();
    }
    client_fixture f;
    auto r = run_fetch(f.client, f.ioc, get("http://127.0.0.1:" + std::to_string(port) + "/"));
    REQUIRE(r.has_error());
    CHECK(r.error() == fetch_error::connect);
}

TEST_CASE("a server that never answers times out at response_headers", "[unit]") {
    test_origin origin([](peer& p) {
        (void)p.read_request();
        (void)p.read_request();  // blocks until the client gives up
    });
    client_fixture f;
    auto options = make_options();
    options->timeouts.response_headers = 300ms;
    const auto start = std::chrono::steady_clock::now();
    auto r = run_fetch(f.client, f.ioc, get(origin.url("/")), options);
    const auto took = std::chrono::steady_clock::now() - start;
    REQUIRE(r.has_error());
    CHECK(r.error() == fetch_error::timeout);
    CHECK(took >= 250ms);
    CHECK(took < 2s);
}

TEST_CASE("a slow drip is cut by idle_read and by the total deadline", "[unit]") {
    test_origin origin([](peer& p) {
        auto req = p.read_request();
        if (!req || !p.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")) {
            return;
        }
        const auto gap = req->target == "/slow" ? 500ms : 100ms;
        for (int i = 0; i < 100 && !*p.stopping; ++i) {
            std::this_thread::sleep_for(gap);
            if (!p.write("x")) {
                return;
            }
        }
    });
    client_fixture f;
    auto options = make_options();
    options->timeouts.idle_read = 250ms;

    // Each byte comes within idle_read, but the whole body not within the total.
    auto start = std::chrono::steady_clock::now();
    auto drip = run_fetch(f.client, f.ioc, get(origin.url("/drip")), options, 700ms);
    auto took = std::chrono::steady_clock::now() - start;
    REQUIRE(drip.has_error());
    CHECK(drip.error() == fetch_error::timeout);
    CHECK(took >= 600ms);
    CHECK(took < 2s);

    // A gap longer than idle_read.
    start = std::chrono::steady_clock::now();
    auto slow = run_fetch(f.client, f.ioc, get(origin.url("/slow")), options);
    took = std::chrono::steady_clock::now() - start;
    REQUIRE(slow.has_error());
    CHECK(slow.error() == fetch_error::timeout);
    CHECK(took < 2s);
}

TEST_CASE("resets, truncated bodies and oversized headers", "[unit]") {
    test_origin origin([](peer& p) {
        auto req = p.read_request();
        if (!req) {
            return;
        }
        if (req->target == "/rst") {
            p.reset();
        } else if (req->target == "/fin") {
            p.close();
        } else if (req->target == "/short") {
            p.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this");
            p.close();
        } else if (req->target == "/garbage") {
            p.write("SPDY/9 what\r\n\r\n");
            p.close();
        } else {
            std::string head = "HTTP/1.1 200 OK\r\n";
            for (int i = 0; head.size() < (1 << 20); ++i) {
                head += "X-Pad-" + std::to_string(i) + ": " + std::string(100, 'p') + "\r\n";
            }
            p.write(head + "Content-Length: 0\r\n\r\n");
        }
    });
    client_fixture f;
    const std::pair<const char*, fetch_error> cases[] = {
        {"/rst", fetch_error::reset},
        {"/fin", fetch_error::reset},
        {"/short", fetch_error::reset},
        {"/garbage", fetch_error::protocol},
        {"/huge-headers", fetch_error::protocol},
    };
    for (const auto& [path, expected] : cases) {
        INFO(path);
        auto r = run_fetch(f.client, f.ioc, get(origin.url(path)));
        REQUIRE(r.has_error());
        CHECK(r.error() == expected);
    }
}

TEST_CASE("an expired deadline fails before any I/O", "[unit]") {
    test_origin origin(
        serve_each([](const received_request&) { return http_response_bytes(200, "late"); }));
    client_fixture f;
    auto r = run_fetch(f.client, f.ioc, get(origin.url("/")), nullptr, -1ms);
    REQUIRE(r.has_error());
    CHECK(r.error() == fetch_error::timeout);
}

TEST_CASE("concurrent fetches from strands on two threads share the pool safely", "[unit]") {
    test_origin origin(serve_each(
        [](const received_request& req) { return http_response_bytes(200, req.target); }));
    boost::asio::io_context ioc;
    http_client client(ioc.get_executor(), {"harvest-test/1", std::chrono::seconds(60), 4});
    constexpr int workers = 12;
    constexpr int per_worker = 4;
    std::atomic<int> ok{0};
    std::atomic<int> failed{0};
    auto options = std::make_shared<const http_options>();
    for (int w = 0; w < workers; ++w) {
        boost::asio::co_spawn(
            boost::asio::make_strand(ioc),
            [](http_client& c, std::string base, int w, std::shared_ptr<const http_options> o,
               std::atomic<int>& good, std::atomic<int>& bad) -> boost::asio::awaitable<void> {
                for (int i = 0; i < per_worker; ++i) {
                    http_request r;
                    r.url = base + "/w" + std::to_string(w) + "/" + std::to_string(i);
                    auto res = co_await c.fetch(r, o, std::chrono::steady_clock::now() + 10s);
                    if (res && res->body == r.url.substr(base.size())) {
                        ++good;
                    } else {
                        ++bad;
                    }
                }
            }(client, origin.url(""), w, options, ok, failed),
            [&](std::exception_ptr e) {
                if (e) {
                    ++failed;
                }
            });
    }
    std::thread second([&] { ioc.run(); });
    ioc.run();
    second.join();
    CHECK(ok == workers * per_worker);
    CHECK(failed == 0);
    // Connections are reused across workers: never more than one per concurrent worker.
    CHECK(origin.connections() <= workers);
}

TEST_CASE("HEAD: no body is read despite Content-Length, and nothing is decoded", "[unit]") {
    test_origin origin(serve_each([](const received_request& req) {
        if (req.method == "HEAD") {
            return std::string(
                "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                "Content-Length: 1234\r\n\r\n");
        }
        return http_response_bytes(204, "");
    }));
    client_fixture f;
    http_request head = get(origin.url("/"));
    head.method = "HEAD";
    auto r = run_fetch(f.client, f.ioc, head);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body.empty());
    CHECK(r->header("Content-Length") == "1234");
    auto next = run_fetch(f.client, f.ioc, get(origin.url("/")));
    REQUIRE(next);
    CHECK(next->status == 204);
    CHECK(origin.connections() == 1);
}
