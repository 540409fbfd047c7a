// URL helpers (no I/O) and the DNS cache (localhost only: no DNS traffic leaves the machine).

#include "engine/net/url.hpp"
#include "engine/net/dns_cache.hpp"
#include "engine/net/fetch_error.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/url/parse.hpp>
#include <catch2/catch.hpp>

using harvest::net::fetch_error;
using harvest::net::parse_http_url;
using harvest::net::resolve_url;
using harvest::net::split_origin;

TEST_CASE("resolve_url follows RFC 3986 and drops fragments", "[unit]") {
    const std::string base = "http://a.example/b/c/d;p?q";
    const std::pair<const char*, const char*> cases[] = {
        {"g", "http://a.example/b/c/g"},
        {"./g", "http://a.example/b/c/g"},
        {"g/", "http://a.example/b/c/g/"},
        {"/g", "http://a.example/g"},
        {"//other.example/x", "http://other.example/x"},
        {"?y", "http://a.example/b/c/d;p?y"},
        {"g?y#s", "http://a.example/b/c/g?y"},
        {"../g", "http://a.example/b/g"},
        {"../../../g", "http://a.example/g"},
        {"https://secure.example:8443/z?k=v", "https://secure.example:8443/z?k=v"},
    };
    for (const auto& [ref, expected] : cases) {
        INFO(ref);
        auto r = resolve_url(base, ref);
        REQUIRE(r);
        CHECK(*r == expected);
    }
    CHECK(resolve_url("not a url", "g").error() == fetch_error::protocol);
    CHECK(resolve_url(base, "http://bad host/").error() == fetch_error::protocol);
}

TEST_CASE("parse_http_url splits what the client needs", "[unit]") {
    auto a = parse_http_url("HTTP://Example.COM/a/b?x=1#frag");
    REQUIRE(a.has_value());
    CHECK_FALSE(a->tls);
    CHECK(a->host == "example.com");
    CHECK(a->port == 80);
    CHECK(a->target == "/a/b?x=1");
    CHECK(a->host_header == "Example.COM");
    CHECK_FALSE(a->host_is_ip);

    auto b = parse_http_url("https://127.0.0.1:8443");
    REQUIRE(b.has_value());
    CHECK(b->tls);
    CHECK(b->port == 8443);
    CHECK(b->target == "/");
    CHECK(b->host_is_ip);
    CHECK(b->host_header == "127.0.0.1:8443");

    auto c = parse_http_url("http://[::1]:9/");
    REQUIRE(c.has_value());
    CHECK(c->host == "::1");
    CHECK(c->host_header == "[::1]:9");

    CHECK(parse_http_url("ftp://example.com/").error() == fetch_error::unsupported_scheme);
    CHECK(parse_http_url("mailto:a@b").error() == fetch_error::unsupported_scheme);
    CHECK(parse_http_url("http:///nohost").error() == fetch_error::protocol);
    CHECK(parse_http_url("http://h:99999/").error() == fetch_error::protocol);
    CHECK(parse_http_url("relative/path").error() == fetch_error::protocol);
}

TEST_CASE("split_origin names scheme, host and port the same on both paths", "[unit]") {
    // The fast path (plain http/https) and Boost.URL's (anything else) agree.
    for (const auto* url : {"HTTP://Ex.com/x", "http://Ex.com/x", "http://ex.com:80/x?q",
                            "http://user@Ex.com/x", "http://Ex.com/%7Ex"}) {
        INFO(url);
        const auto o = split_origin(url);
        REQUIRE(o);
        CHECK(o->key == "http://ex.com:80");
        CHECK(o->host == "ex.com");
        CHECK(o->host_port == "ex.com:80");
        CHECK(o->label == "ex.com");
    }
    const auto tls = split_origin("https://ex.com:8443/");
    REQUIRE(tls);
    CHECK(tls->key == "https://ex.com:8443");
    CHECK(tls->label == "ex.com:8443");
    CHECK(split_origin("https://ex.com/")->key == "https://ex.com:443");
    CHECK(split_origin("http://[::1]:8080/")->key == "http://[::1]:8080");
    CHECK(split_origin("HTTP://A.test/", /*key_only=*/true)->host.empty());
    CHECK_FALSE(split_origin("relative/path"));
    CHECK_FALSE(split_origin("http:///nohost"));
}

TEST_CASE("dns_cache resolves localhost once per TTL", "[unit]") {
    boost::asio::io_context ioc;
    harvest::net::dns_cache cache(ioc.get_executor(), std::chrono::seconds(60));
    std::vector<boost::system::result<harvest::net::endpoint_list>> results;
    auto resolve = [&](std::string host) {
        boost::asio::co_spawn(ioc, cache.resolve(std::move(host), 8080),
                              [&](std::exception_ptr, auto r) { results.push_back(r); });
        ioc.restart();
        ioc.run();
    };
    resolve("localhost");
    resolve("localhost");
    resolve("127.0.0.1");
    REQUIRE(results.size() == 3);
    for (const auto& r : results) {
        REQUIRE(r.has_value());
        REQUIRE_FALSE(r->empty());
        CHECK(r->front().port() == 8080);
    }
    CHECK(results[2]->front().address().to_string() == "127.0.0.1");
    CHECK(cache.hits() == 1);
    CHECK(cache.misses() == 2);

    harvest::net::dns_cache no_cache(ioc.get_executor(), std::chrono::seconds(0));
    boost::asio::co_spawn(ioc, no_cache.resolve("localhost", 1), [&](std::exception_ptr, auto) {});
    boost::asio::co_spawn(ioc, no_cache.resolve("localhost", 1), [&](std::exception_ptr, auto) {});
    ioc.restart();
    ioc.run();
    CHECK(no_cache.hits() == 0);
    CHECK(no_cache.misses() == 2);
}
