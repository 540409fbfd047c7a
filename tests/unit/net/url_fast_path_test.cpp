// parse_http_url's plain-URL shortcut (split_simple_http_url) gives what Boost.URL gives, and
// leaves everything else to it.

#include "engine/net/fetch_error.hpp"
#include "engine/net/url.hpp"

#include <boost/url/parse.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <string>

using namespace harvest::net;

namespace {

std::string lowered(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// The pieces as Boost.URL reads them (the general path of parse_http_url).
url_parts with_boost(std::string_view url) {
    const auto parsed = boost::urls::parse_absolute_uri(url);
    REQUIRE(parsed);
    const boost::urls::url_view& u = *parsed;
    url_parts parts;
    parts.tls = u.scheme() == "https";
    parts.port = u.has_port() ? static_cast<std::uint16_t>(u.port_number())
                              : static_cast<std::uint16_t>(parts.tls ? 443 : 80);
    if (u.host_type() == boost::urls::host_type::ipv4) {
        parts.host = u.host_ipv4_address().to_string();
        parts.host_is_ip = true;
    } else {
        REQUIRE(u.host_type() == boost::urls::host_type::name);
        parts.host = lowered(u.host_name());
    }
    parts.host_header = u.encoded_host_and_port();
    parts.target = u.encoded_path().empty() ? "/" : std::string(u.encoded_path());
    if (u.has_query()) {
        parts.target += '?';
        parts.target += u.encoded_query();
    }
    return parts;
}

}  // namespace

TEST_CASE("parse_http_url: plain URLs read as Boost.URL reads them", "[unit][net][url]") {
    const char* urls[] = {
        "http://127.0.0.1:8080/api/products/B0016UGI1Q.json",
        "https://shop.example/p/1?page=2&sort=price",
        "http://Shop.Example/",
        "http://shop.example",
        "http://shop.example?x=1",
        "http://shop.example:080/a",
        "https://a-b.c_d~e.example:65535/x/y;p=1/z:@!$&'()*+,=",
        "http://h/?a=b?c=/d",
        "http://1.2.3.4/",
        "http://255.255.255.255:1/",
        "http://1.2.3.45/",
        "http://a.1b/",  // the last label starts with a digit but is no number: a name
    };
    for (const char* url : urls) {
        CAPTURE(url);
        REQUIRE(split_simple_http_url(url).has_value());
        const auto fast = parse_http_url(url);
        REQUIRE(fast.has_value());
        const url_parts slow = with_boost(url);
        CHECK(fast->tls == slow.tls);
        CHECK(fast->port == slow.port);
        CHECK(fast->host == slow.host);
        CHECK(fast->host_is_ip == slow.host_is_ip);
        CHECK(fast->host_header == slow.host_header);
        CHECK(fast->target == slow.target);
    }
}

TEST_CASE("split_simple_http_url leaves the rest to the general parser", "[unit][net][url]") {
    const char* urls[] = {
        "HTTP://h/",        "ftp://h/",     "http://u@h/",      "http://u:p@h/",
        "http://[::1]:80/", "http://h/%41", "http://h/#top",    "http://h:/",
        "http://h:123456/", "http://h/a b", "http:/h/",         "http://",
        "http://h\\x/",     "http://h/é",   "http://h/x?q=%20", "http://h/x\"",
    };
    for (const char* url : urls) {
        CAPTURE(url);
        CHECK_FALSE(split_simple_http_url(url).has_value());
    }
    // Hosts that only start with an IPv4address: Boost.URL 1.81 reads them its own way.
    CHECK_FALSE(split_simple_http_url("http://1.2.3.4.5/").has_value());
    CHECK_FALSE(split_simple_http_url("http://1.2.3.4./").has_value());
    CHECK_FALSE(split_simple_http_url("http://1.2.3.45x.example/").has_value());
    // Names ending in a number that are not an RFC 3986 IPv4address: the general path reads them
    // as WHATWG does, refusing the invalid ones and keeping the valid ones as written.
    for (const char* url : {"http://1.2.3.256/", "http://01.2.3.4/", "http://1.2.3/",
                            "http://1234.1.1.1/", "http://example.1/"}) {
        CAPTURE(url);
        CHECK_FALSE(split_simple_http_url(url).has_value());
    }
    CHECK(parse_http_url("http://1.2.3.256/").error() == fetch_error::protocol);
    CHECK(parse_http_url("http://1234.1.1.1/").error() == fetch_error::protocol);
    CHECK(parse_http_url("http://example.1/").error() == fetch_error::protocol);
    CHECK(parse_http_url("http://01.2.3.4/")->host == "01.2.3.4");
    CHECK(parse_http_url("http://1.2.3/")->host == "1.2.3");
    // And the general parser still decides those as before.
    CHECK(parse_http_url("ftp://h/").error() == fetch_error::unsupported_scheme);
    CHECK(parse_http_url("http://h/%41")->target == "/%41");
    CHECK(parse_http_url("http://h/x#top")->target == "/x");
    CHECK(parse_http_url("http://[::1]:8080/")->host == "::1");
    CHECK(parse_http_url("http://h:/")->port == 80);
}

TEST_CASE("parse_http_url: plain URLs with a bad port fail as before", "[unit][net][url]") {
    CHECK(parse_http_url("http://h:0/").error() == fetch_error::protocol);
    CHECK(parse_http_url("http://h:65536/").error() == fetch_error::protocol);
    CHECK(parse_http_url("http://h:99999/").error() == fetch_error::protocol);
}
