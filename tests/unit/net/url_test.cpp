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

TEST_CASE("parse_http_url refuses a host that would name another one", "[unit]") {
    // Each would otherwise reach DNS, the egress hook or a Host header as something it is not.
    for (const auto* url : {
             "http://prefix.[::1]/",                   // text before the brackets
             "http://[::1].suffix/",                   // text after them
             "http://[::1]evil.com/",                  //
             "http://[1:2:3:4:5:6:7]/",                // seven groups
             "http://[1::2::3]/",                      // two "::"
             "http://[::1%25eth0]/",                   // zone identifier
             "http://[v6a.ip]/",                       // IPvFuture: nothing to connect to
             "http://evil.com%2F.example.com/",        // decodes to '/'
             "http://evil.com%5C.example.com/",        // '\'
             "http://evil.com%00.example.com/",        // NUL would cut the name for the resolver
             "http://evil.com%EF%BC%BC.example.com/",  // full-width '\' (U+FF3C)
             "https://example%EF%BC%83.com/",          // full-width '#' (U+FF03)
             "http://evil%E2%92%88com/",               // U+2488 "1."
             "http://a%20b.example/",                  // space
             "http://a%25b.example/",                  // a '%' left after decoding
             "http://%80.example/",                    // not UTF-8
             "http://192.168.0.256/",                  // ends in a number: an invalid IPv4
             "http://192.168.0.0.0/",                  //
             "http://1.2.3.4.5/",                      //
             "http://example.123/",                    //
         }) {
        INFO(url);
        const auto parts = parse_http_url(url);
        CHECK_FALSE(parts.has_value());
        if (!parts) {
            CHECK(parts.error() == fetch_error::protocol);
        }
        CHECK_FALSE(split_origin(url).has_value());
    }
    // Raw full-width characters are not a URI at all.
    CHECK(parse_http_url("https://example\xEF\xBC\x83.com/").error() == fetch_error::protocol);
    CHECK(parse_http_url("https://evil.com\xEF\xBC\xBC.example.com/").error() ==
          fetch_error::protocol);
}

TEST_CASE("parse_http_url reads an escaped or numeric host as the core does", "[unit]") {
    auto escaped = parse_http_url("http://ex%61mple.COM:8080/p");
    REQUIRE(escaped.has_value());
    CHECK(escaped->host == "example.com");
    CHECK(escaped->host_header == "example.com:8080");
    CHECK(split_origin("http://ex%61mple.COM:8080/p")->key == "http://example.com:8080");

    auto idn = parse_http_url("http://b%C3%BCcher.de/");
    REQUIRE(idn.has_value());
    CHECK(idn->host == "xn--bcher-kva.de");
    CHECK(idn->host_header == "xn--bcher-kva.de");

    // Valid IPv4 spellings and names with digits stay what they were.
    auto quad = parse_http_url("http://192.168.0.1/");
    REQUIRE(quad.has_value());
    CHECK(quad->host_is_ip);
    CHECK(parse_http_url("http://0x7f.1/").has_value());
    CHECK(parse_http_url("http://a.1b/").has_value());
    CHECK(parse_http_url("http://123.example/").has_value());
    auto v6 = parse_http_url("http://[::ffff:192.0.2.1]:81/");
    REQUIRE(v6.has_value());
    CHECK(v6->host_is_ip);
    CHECK(v6->port == 81);
}
