// http_client through proxies, against the in-process test origin acting as an HTTP forward
// proxy: the absolute-form request line and Proxy-Authorization it receives, 407 as
// proxy_auth, an unreachable proxy as proxy_connect, and the egress hook asked for the proxy's
// address (and the target's when harvest resolves it, socks5). The refused addresses here
// (10.0.0.1) are only ever asked about. Real proxies: tests/integration/test_proxies.cpp.

#include "tests/support/test_origin.hpp"

#include "engine/core/proxy_url.hpp"
#include "engine/net/http_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

using harvest::core::parse_proxy_url;
using harvest::core::proxy_url;
using harvest::net::client_options;
using harvest::net::fetch_error;
using harvest::net::http_client;
using harvest::net::http_request;
using harvest::net::http_response;
using harvest::test::http_response_bytes;
using harvest::test::received_request;
using harvest::test::serve_each;
using harvest::test::test_origin;

boost::system::result<http_response> fetch_via(http_client& client, boost::asio::io_context& ioc,
                                               std::string url, const std::string& proxy) {
    auto parsed = parse_proxy_url(proxy);
    REQUIRE(parsed);
    auto through = std::make_shared<const proxy_url>(*parsed);
    http_request request;
    request.url = std::move(url);
    std::optional<boost::system::result<http_response>> out;
    boost::asio::co_spawn(
        ioc,
        client.fetch(std::move(request), nullptr,
                     std::chrono::steady_clock::now() + std::chrono::seconds(10), through, nullptr),
        [&](std::exception_ptr, boost::system::result<http_response> r) { out = std::move(r); });
    ioc.restart();
    ioc.run();
    REQUIRE(out);
    return std::move(*out);
}

}  // namespace

TEST_CASE(
    "proxy client: absolute form and Proxy-Authorization to an http:// proxy; 407 is "
    "proxy_auth",
    "[unit][proxy]") {
    std::vector<received_request> seen;
    test_origin proxy(serve_each([&seen](const received_request& req) {
        seen.push_back(req);
        if (req.header("Proxy-Authorization").empty()) {
            return http_response_bytes(407, "", {{"Proxy-Authenticate", "Basic realm=\"p\""}});
        }
        return http_response_bytes(200, "via proxy");
    }));
    boost::asio::io_context ioc;
    http_client client(ioc.get_executor(), client_options{});
    const std::string at = "127.0.0.1:" + std::to_string(proxy.port());

    auto ok =
        fetch_via(client, ioc, "http://shop.example:8080/p?q=1", "http://alice:s%40cret@" + at);
    REQUIRE(ok.has_value());
    CHECK(ok->body == "via proxy");
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].target == "http://shop.example:8080/p?q=1");
    CHECK(seen[0].header("Host") == "shop.example:8080");
    CHECK(seen[0].header("Proxy-Authorization") == "Basic YWxpY2U6c0BjcmV0");  // alice:s@cret

    auto refused = fetch_via(client, ioc, "http://shop.example/p", "http://" + at);
    REQUIRE(refused.has_error());
    CHECK(refused.error() == fetch_error::proxy_auth);
}

TEST_CASE("proxy client: an unreachable proxy is proxy_connect, in every mode", "[unit][proxy]") {
    int dead_port = 0;
    {
        test_origin closed(
            serve_each([](const received_request&) { return http_response_bytes(200, ""); }));
        dead_port = closed.port();
    }  // closed: nothing listens there now
    boost::asio::io_context ioc;
    http_client client(ioc.get_executor(), client_options{});
    const std::string at = "127.0.0.1:" + std::to_string(dead_port);
    for (const std::string& proxy : {"http://" + at, "socks5://" + at, "socks5h://" + at}) {
        for (const std::string url : {"http://127.0.0.1:9/x", "https://127.0.0.1:9/x"}) {
            INFO(proxy << " " << url);
            auto r = fetch_via(client, ioc, url, proxy);
            REQUIRE(r.has_error());
            CHECK(r.error() == fetch_error::proxy_connect);
        }
    }
}

TEST_CASE("proxy client: the egress hook judges the proxy, and the target under socks5 only",
          "[unit][proxy]") {
    std::vector<std::string> asked;
    boost::asio::io_context ioc;
    client_options options;
    options.allow_endpoint = [&asked](const boost::asio::ip::address& address, unsigned short) {
        asked.push_back(address.to_string());
        return address.is_loopback();
    };
    http_client client(ioc.get_executor(), options);

    // The proxy itself is refused: nothing is sent.
    auto to_private = fetch_via(client, ioc, "http://127.0.0.1:9/x", "http://10.0.0.1:3128");
    REQUIRE(to_private.has_error());
    CHECK(to_private.error() == fetch_error::egress_denied);
    CHECK(asked == std::vector<std::string>{"10.0.0.1"});

    // socks5: harvest resolves the target, so the hook refuses 10.0.0.1 before any connect.
    asked.clear();
    auto target = fetch_via(client, ioc, "http://10.0.0.1:80/x", "socks5://127.0.0.1:9");
    REQUIRE(target.has_error());
    CHECK(target.error() == fetch_error::egress_denied);
    CHECK(asked == std::vector<std::string>{"10.0.0.1"});

    // socks5h: the proxy resolves the target; only the proxy's address is asked (and nothing
    // listens on port 9, so the attempt ends there).
    asked.clear();
    auto remote = fetch_via(client, ioc, "http://10.0.0.1:80/x", "socks5h://127.0.0.1:9");
    REQUIRE(remote.has_error());
    CHECK(remote.error() == fetch_error::proxy_connect);
    CHECK(asked == std::vector<std::string>{"127.0.0.1"});
}
