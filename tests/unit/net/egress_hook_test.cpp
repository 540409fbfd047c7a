// client_options::allow_endpoint: the bulk service's SSRF guard hook. Every resolved address
// is asked before connecting, redirect hops included; a refused one is never connected to.
// The refused targets here (10.0.0.1, ::ffff:169.254.169.254) are only ever asked about.

#include "tests/support/test_origin.hpp"

#include "engine/net/http_client.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <mutex>
#include <vector>

using harvest::net::client_options;
using harvest::net::fetch_error;
using harvest::net::http_client;
using harvest::net::http_request;
using harvest::test::http_response_bytes;
using harvest::test::received_request;
using harvest::test::run_fetch;
using harvest::test::serve_each;
using harvest::test::test_origin;

TEST_CASE("egress hook: refused addresses fail with egress_denied and redirects are checked too",
          "[unit]") {
    test_origin origin(serve_each([](const received_request& req) {
        if (req.target == "/to-private") {
            return http_response_bytes(302, "", {{"Location", "http://10.0.0.1/x"}});
        }
        if (req.target == "/to-metadata") {
            return http_response_bytes(
                302, "", {{"Location", "http://[::ffff:169.254.169.254]/latest/meta-data/"}});
        }
        return http_response_bytes(200, "fine");
    }));
    const auto allowed_port = origin.port();
    std::vector<std::string> asked;
    boost::asio::io_context ioc;
    client_options options;
    options.allow_endpoint = [&](const boost::asio::ip::address& address, unsigned short port) {
        asked.push_back(address.to_string() + " " + std::to_string(port));
        return address.is_loopback() && port == allowed_port;
    };
    http_client client(ioc.get_executor(), options);
    auto get = [](std::string url) {
        http_request r;
        r.url = std::move(url);
        return r;
    };

    auto ok = run_fetch(client, ioc, get(origin.url("/plain")));
    REQUIRE(ok);
    CHECK(ok->body == "fine");

    auto direct = run_fetch(client, ioc, get("http://10.0.0.1:8080/x"));
    REQUIRE(direct.has_error());
    CHECK(direct.error() == fetch_error::egress_denied);

    auto redirected = run_fetch(client, ioc, get(origin.url("/to-private")));
    REQUIRE(redirected.has_error());
    CHECK(redirected.error() == fetch_error::egress_denied);

    auto metadata = run_fetch(client, ioc, get(origin.url("/to-metadata")));
    REQUIRE(metadata.has_error());
    CHECK(metadata.error() == fetch_error::egress_denied);

    // A loopback name on another port: the name resolves, the address is refused.
    auto other_port = run_fetch(client, ioc, get("http://localhost:9/x"));
    REQUIRE(other_port.has_error());
    CHECK(other_port.error() == fetch_error::egress_denied);

    CHECK(std::find(asked.begin(), asked.end(), "10.0.0.1 8080") != asked.end());
    CHECK(std::find(asked.begin(), asked.end(), "10.0.0.1 80") != asked.end());
    CHECK(std::find(asked.begin(), asked.end(), "::ffff:169.254.169.254 80") != asked.end());
    CHECK(harvest::net::to_string(fetch_error::egress_denied) == "egress_denied");
}
