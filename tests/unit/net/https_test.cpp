// TLS: peer verification against a throwaway CA, host name checks, verify:false, and reuse of
// TLS connections. The server's own errors are captured apart from the client's result.

#include "engine/crawl/options.hpp"
#include "engine/net/http_client.hpp"
#include "tests/support/test_origin.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>

using harvest::crawl::http_options;
using harvest::net::fetch_error;
using harvest::net::http_client;
using harvest::net::http_request;
using harvest::test::http_response_bytes;
using harvest::test::pki;
using harvest::test::received_request;
using harvest::test::run_fetch;
using harvest::test::serve_each;
using harvest::test::test_origin;

namespace {

harvest::test::handler hello() {
    return serve_each([](const received_request& req) {
        return http_response_bytes(200, "secure " + req.header("Host"));
    });
}

http_request tls_request(std::string url) {
    http_request r;
    r.url = std::move(url);
    return r;
}

struct tls_client_fixture {
    boost::asio::io_context ioc;
    http_client client{ioc.get_executor(), {"harvest-test/1", std::chrono::seconds(60), 8}};
};

std::shared_ptr<http_options> tls_options(bool verify, std::string ca_file) {
    auto options = std::make_shared<http_options>();
    options->tls.verify = verify;
    options->tls.ca_file = std::move(ca_file);
    options->timeouts.tls = std::chrono::milliseconds(3000);
    return options;
}

}  // namespace

TEST_CASE("https: a certificate from an unknown CA fails verification", "[unit]") {
    test_origin origin(hello(), pki().localhost);
    tls_client_fixture f;
    auto r = run_fetch(f.client, f.ioc, tls_request(origin.url("/", "localhost")),
                       tls_options(true, ""));
    REQUIRE(r.has_error());
    CHECK(r.error() == fetch_error::tls_verify);
}

TEST_CASE("https: with the CA file the request succeeds, by name and by IP", "[unit]") {
    test_origin origin(hello(), pki().localhost);
    tls_client_fixture f;
    auto options = tls_options(true, pki().ca_file);
    auto by_name = run_fetch(f.client, f.ioc, tls_request(origin.url("/", "localhost")), options);
    REQUIRE(by_name);
    CHECK(by_name->status == 200);
    CHECK(by_name->body == "secure localhost:" + std::to_string(origin.port()));
    auto again = run_fetch(f.client, f.ioc, tls_request(origin.url("/", "localhost")), options);
    REQUIRE(again);
    CHECK(origin.connections() == 1);  // the TLS connection was pooled and reused
    auto by_ip = run_fetch(f.client, f.ioc, tls_request(origin.url("/")), options);
    REQUIRE(by_ip);
    CHECK(by_ip->status == 200);
    CHECK(origin.errors().empty());
}

TEST_CASE("https: a certificate for another host name fails verification", "[unit]") {
    test_origin origin(hello(), pki().wrong_host);
    tls_client_fixture f;
    auto r = run_fetch(f.client, f.ioc, tls_request(origin.url("/", "localhost")),
                       tls_options(true, pki().ca_file));
    REQUIRE(r.has_error());
    CHECK(r.error() == fetch_error::tls_verify);
    // The CA file is right: only the name is wrong. The server saw the handshake fail.
    CHECK(origin.connections() >= 1);
}

TEST_CASE("https: verify:false accepts any certificate", "[unit]") {
    test_origin origin(hello(), pki().wrong_host);
    tls_client_fixture f;
    auto r = run_fetch(f.client, f.ioc, tls_request(origin.url("/", "localhost")),
                       tls_options(false, ""));
    REQUIRE(r);
    CHECK(r->status == 200);
}

TEST_CASE("https: a missing CA file is a verification failure, not a crash", "[unit]") {
    tls_client_fixture f;
    auto r = run_fetch(f.client, f.ioc, tls_request("https://127.0.0.1:1/"),
                       tls_options(true, "/nonexistent/ca.pem"));
    REQUIRE(r.has_error());
    CHECK(r.error() == fetch_error::tls_verify);
}

TEST_CASE("https: a plain-HTTP server fails the handshake", "[unit]") {
    test_origin origin([](harvest::test::peer& p) {
        // Answers at once: the ClientHello never ends with the blank line a request would.
        p.write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    });
    tls_client_fixture f;
    auto url = "https://127.0.0.1:" + std::to_string(origin.port()) + "/";
    auto r = run_fetch(f.client, f.ioc, tls_request(url), tls_options(true, pki().ca_file));
    REQUIRE(r.has_error());
    CHECK(r.error() == fetch_error::tls_handshake);
}

// Over TLS the client's deadlines are kept by the connection's timed_socket under OpenSSL's
// reads and writes: each wait that runs past its timeout ends as fetch_error::timeout, in about
// that time, and a connection that timed out is never used again.
TEST_CASE("https: a server silent in the handshake times out at timeouts.tls", "[unit]") {
    test_origin origin([](harvest::test::peer& p) {
        // Plain TCP: the ClientHello is never answered.
        for (int i = 0; i < 300 && !*p.stopping; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    });
    tls_client_fixture f;
    auto options = tls_options(true, pki().ca_file);
    options->timeouts.tls = std::chrono::milliseconds(300);
    const auto url = "https://127.0.0.1:" + std::to_string(origin.port()) + "/";
    const auto start = std::chrono::steady_clock::now();
    auto r = run_fetch(f.client, f.ioc, tls_request(url), options);
    const auto took = std::chrono::steady_clock::now() - start;
    REQUIRE(r.has_error());
    CHECK(r.error() == fetch_error::timeout);
    CHECK(took >= std::chrono::milliseconds(250));
    CHECK(took < std::chrono::seconds(2));
}

TEST_CASE("https: a silent server and a stalled body time out; the next fetch connects anew",
          "[unit]") {
    test_origin origin(
        [](harvest::test::peer& p) {
            while (auto req = p.read_request()) {
                if (req->target == "/silent") {
                    (void)p.read_request();  // blocks until the client gives up
                    return;
                }
                if (req->target == "/stall") {
                    if (!p.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst bytes")) {
                        return;
                    }
                    (void)p.read_request();
                    return;
                }
                if (!p.write(http_response_bytes(200, "fine"))) {
                    return;
                }
            }
        },
        pki().localhost);
    tls_client_fixture f;
    auto options = tls_options(true, pki().ca_file);
    options->timeouts.response_headers = std::chrono::milliseconds(300);
    options->timeouts.idle_read = std::chrono::milliseconds(300);

    REQUIRE(run_fetch(f.client, f.ioc, tls_request(origin.url("/ok")), options));
    auto start = std::chrono::steady_clock::now();
    auto silent = run_fetch(f.client, f.ioc, tls_request(origin.url("/silent")), options);
    auto took = std::chrono::steady_clock::now() - start;
    REQUIRE(silent.has_error());
    CHECK(silent.error() == fetch_error::timeout);
    CHECK(took >= std::chrono::milliseconds(250));
    CHECK(took < std::chrono::seconds(2));
    CHECK(origin.connections() == 1);  // the first connection served both

    start = std::chrono::steady_clock::now();
    auto stalled = run_fetch(f.client, f.ioc, tls_request(origin.url("/stall")), options);
    took = std::chrono::steady_clock::now() - start;
    REQUIRE(stalled.has_error());
    CHECK(stalled.error() == fetch_error::timeout);
    CHECK(took >= std::chrono::milliseconds(250));
    CHECK(took < std::chrono::seconds(2));
    CHECK(origin.connections() == 2);

    auto after = run_fetch(f.client, f.ioc, tls_request(origin.url("/ok")), options);
    REQUIRE(after);
    CHECK(after->body == "fine");
    CHECK(origin.connections() == 3);  // neither timed-out connection came back to the pool
}
