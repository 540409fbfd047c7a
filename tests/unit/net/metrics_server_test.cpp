// The /metrics endpoint against a plain POSIX client on 127.0.0.1: routes, keep-alive, limits,
// the read timeout, close() with clients still connected, and "port in use" at start().

#include "engine/metrics/http/metrics_server.hpp"
#include "engine/metrics/exposition.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using harvest::metrics::metrics_server;
using harvest::metrics::metrics_server_limits;
using namespace std::chrono_literals;

namespace {

// An io_context run by two threads (the server must be fine with that: it uses a strand).
struct running_io {
    asio::io_context io{2};
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    std::vector<std::thread> threads;

    running_io() {
        for (int i = 0; i < 2; ++i) {
            threads.emplace_back([this] { io.run(); });
        }
    }
    ~running_io() {
        work.reset();
        io.stop();
        for (auto& t : threads) {
            t.join();
        }
    }
};

// Runs server.close() on the io and waits for it, at most 5 s. Returns how long it took.
std::chrono::milliseconds close_server(running_io& rt, metrics_server& server) {
    const auto begin = std::chrono::steady_clock::now();
    auto done = asio::co_spawn(rt.io, server.close(), asio::use_future);
    REQUIRE(done.wait_for(5s) == std::future_status::ready);
    done.get();
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 begin);
}

struct response {
    int status = 0;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;
};

std::string lower(std::string s) {
    for (auto& c : s) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return s;
}

// A blocking socket with 3 s timeouts, so that a misbehaving server fails the test instead of
// hanging it.
class client {
  public:
    explicit client(unsigned short port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        REQUIRE(fd_ >= 0);
        timeval tv{3, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    }
    ~client() { ::close(fd_); }
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    void send_raw(const std::string& bytes) {
        REQUIRE(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
                static_cast<ssize_t>(bytes.size()));
    }

    response request(const std::string& method, const std::string& target, bool keep_alive = true) {
        send_raw(method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                 (keep_alive ? "" : "Connection: close\r\n") + "\r\n");
        auto res = read_response();
        REQUIRE(res.has_value());
        return *res;
    }

    // One response (Content-Length framed), or nullopt when the connection ended first.
    std::optional<response> read_response() {
        std::size_t header_end = std::string::npos;
        while ((header_end = pending_.find("\r\n\r\n")) == std::string::npos) {
            if (!fill()) {
                return std::nullopt;
            }
        }
        response res;
        const std::string head = pending_.substr(0, header_end);
        pending_.erase(0, header_end + 4);
        std::size_t line_end = head.find("\r\n");
        const std::string status_line = head.substr(0, line_end);
        REQUIRE(status_line.rfind("HTTP/1.1 ", 0) == 0);
        res.status = std::atoi(status_line.c_str() + 9);
        while (line_end != std::string::npos) {
            const std::size_t start = line_end + 2;
            line_end = head.find("\r\n", start);
            const std::string line = head.substr(start, line_end - start);
            const auto colon = line.find(':');
            REQUIRE(colon != std::string::npos);
            std::string value = line.substr(colon + 1);
            value.erase(0, value.find_first_not_of(' '));
            res.headers[lower(line.substr(0, colon))] = value;
        }
        REQUIRE(res.headers.count("content-length") == 1);
        const auto length = static_cast<std::size_t>(std::stoul(res.headers["content-length"]));
        while (pending_.size() < length) {
            if (!fill()) {
                return std::nullopt;
            }
        }
        res.body = pending_.substr(0, length);
        pending_.erase(0, length);
        return res;
    }

    // True when the peer closed (EOF or reset) within the socket's timeout.
    bool wait_closed() {
        for (int i = 0; i < 1000; ++i) {
            char buffer[512];
            const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                return true;
            }
            if (n < 0) {
                return false;  // timed out: still open
            }
        }
        return false;
    }

  private:
    bool fill() {
        char buffer[4096];
        const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
        if (n <= 0) {
            return false;
        }
        pending_.append(buffer, static_cast<std::size_t>(n));
        return true;
    }

    int fd_;
    std::string pending_;
};

const std::string sample_body =
    "# HELP harvest_up A test gauge.\n# TYPE harvest_up gauge\nharvest_up 1\n";

}  // namespace

TEST_CASE("metrics_server serves /metrics and /healthz, 404 and 405", "[unit][metrics_server]") {
    running_io rt;
    std::atomic<int> renders{0};
    metrics_server server(rt.io.get_executor(), "127.0.0.1:0", [&renders] {
        ++renders;
        return sample_body;
    });
    CHECK(server.port() == 0);
    server.start();
    REQUIRE(server.port() != 0);

    client c(server.port());
    const auto metrics = c.request("GET", "/metrics");
    CHECK(metrics.status == 200);
    CHECK(metrics.headers.at("content-type") == std::string(harvest::metrics::content_type));
    CHECK(metrics.body == sample_body);
    CHECK(renders == 1);

    const auto with_query = c.request("GET", "/metrics?name[]=x");
    CHECK(with_query.status == 200);
    CHECK(renders == 2);

    const auto health = c.request("GET", "/healthz");
    CHECK(health.status == 200);
    CHECK(health.body == "ok\n");

    CHECK(c.request("GET", "/").status == 404);
    CHECK(c.request("GET", "/metrics/x").status == 404);
    const auto post = c.request("POST", "/metrics");
    CHECK(post.status == 405);
    CHECK(post.headers.at("allow") == "GET");
    CHECK(c.request("DELETE", "/healthz").status == 405);
    CHECK(renders == 2);  // neither 404 nor 405 rendered anything

    CHECK(close_server(rt, server) < 2s);
}

TEST_CASE("metrics_server keeps the connection alive across requests", "[unit][metrics_server]") {
    running_io rt;
    std::atomic<int> renders{0};
    metrics_server server(rt.io.get_executor(), "127.0.0.1:0", [&renders] {
        return "harvest_scrapes " + std::to_string(++renders) + "\n";
    });
    server.start();
    client c(server.port());
    for (int i = 1; i <= 3; ++i) {
        const auto res = c.request("GET", "/metrics");
        CHECK(res.status == 200);
        CHECK(res.body == "harvest_scrapes " + std::to_string(i) + "\n");
        CHECK(lower(res.headers.count("connection") ? res.headers.at("connection") : "") !=
              "close");
    }
    // Connection: close is honoured: the answer says so and the server hangs up.
    const auto last = c.request("GET", "/healthz", false);
    CHECK(last.status == 200);
    CHECK(lower(last.headers.at("connection")) == "close");
    CHECK(c.wait_closed());
    close_server(rt, server);
}

TEST_CASE("metrics_server close() ends connected clients promptly", "[unit][metrics_server]") {
    running_io rt;
    metrics_server server(rt.io.get_executor(), "127.0.0.1:0", [] { return sample_body; });
    server.start();
    const auto port = server.port();
    client idle(port);     // connected, sent nothing: the server sits in a read (10 s timeout)
    client served(port);   // one request answered, then idle on keep-alive
    client partial(port);  // half a request
    CHECK(served.request("GET", "/metrics").status == 200);
    partial.send_raw("GET /metr");
    std::this_thread::sleep_for(100ms);

    CHECK(close_server(rt, server) < 1s);
    CHECK(idle.wait_closed());
    CHECK(served.wait_closed());
    CHECK(partial.wait_closed());

    // No longer accepting; a second close() is a no-op.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0);
    ::close(fd);
    CHECK(close_server(rt, server) < 1s);
}

TEST_CASE("metrics_server drops a silent client after the read timeout and bounds requests",
          "[unit][metrics_server]") {
    running_io rt;
    metrics_server_limits limits;
    limits.read_timeout = 300ms;
    limits.header_limit = 1024;
    metrics_server server(
        rt.io.get_executor(), "127.0.0.1:0", [] { return sample_body; }, limits);
    server.start();

    client silent(server.port());
    const auto begin = std::chrono::steady_clock::now();
    CHECK(silent.wait_closed());
    const auto waited = std::chrono::steady_clock::now() - begin;
    CHECK(waited >= 200ms);
    CHECK(waited < 2s);

    client big(server.port());
    big.send_raw("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + std::string(4000, 'a') +
                 "\r\n\r\n");
    const auto res = big.read_response();
    REQUIRE(res.has_value());
    CHECK(res->status == 431);
    CHECK(big.wait_closed());

    client garbage(server.port());
    garbage.send_raw("NOT HTTP AT ALL\r\n\r\n");
    const auto bad = garbage.read_response();
    REQUIRE(bad.has_value());
    CHECK(bad->status == 400);

    // The server is still fine after all that.
    client good(server.port());
    CHECK(good.request("GET", "/metrics").status == 200);
    close_server(rt, server);
}

TEST_CASE("metrics_server::start reports a busy port with its address", "[unit][metrics_server]") {
    running_io rt;
    metrics_server first(rt.io.get_executor(), "127.0.0.1:0", [] { return sample_body; });
    first.start();
    const std::string address = "127.0.0.1:" + std::to_string(first.port());

    metrics_server second(rt.io.get_executor(), address, [] { return sample_body; });
    try {
        second.start();
        FAIL("start() on a busy port did not throw");
    } catch (const std::system_error& e) {
        CHECK(e.code() == std::errc::address_in_use);
        CHECK_THAT(e.what(), Catch::Contains(address));
    }
    CHECK(close_server(rt, second) < 1s);  // closing a server that never started is fine

    for (const char* bad :
         {"nonsense", "127.0.0.1:99999", "127.0.0.1:", "example.com:9464", "[::1:9464"}) {
        metrics_server invalid(rt.io.get_executor(), bad, [] { return sample_body; });
        CHECK_THROWS_AS(invalid.start(), std::system_error);
    }
    // The first server is unaffected.
    client c(first.port());
    CHECK(c.request("GET", "/healthz").status == 200);
    close_server(rt, first);
}

TEST_CASE("metrics_server answers 500 when rendering throws", "[unit][metrics_server]") {
    running_io rt;
    metrics_server server(rt.io.get_executor(), "localhost:0",
                          []() -> std::string { throw std::runtime_error("broken"); });
    server.start();
    client c(server.port());
    CHECK(c.request("GET", "/metrics").status == 500);
    CHECK(c.request("GET", "/healthz").status == 200);
    close_server(rt, server);
}
