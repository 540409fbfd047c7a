// The proxy URL reader of `proxies:` (engine/core/proxy_url.hpp).

#include "engine/core/proxy_url.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <sstream>
#include <string>

using harvest::core::parse_proxy_url;
using harvest::core::proxy_scheme;

TEST_CASE("proxy_url: the three schemes, credentials and IPv6", "[unit][proxy]") {
    auto http = parse_proxy_url("http://127.0.0.1:3128");
    REQUIRE(http);
    CHECK(http->scheme == proxy_scheme::http);
    CHECK(http->host == "127.0.0.1");
    CHECK(http->port == 3128);
    CHECK_FALSE(http->has_credentials());
    CHECK(http->label() == "127.0.0.1:3128");

    auto socks = parse_proxy_url("SOCKS5H://alice:s%40cret:x@proxy.example:1080/");
    REQUIRE(socks);
    CHECK(socks->scheme == proxy_scheme::socks5h);
    CHECK(socks->user == "alice");
    CHECK(socks->password == "s@cret:x");  // only the first ':' splits user from password
    CHECK(socks->host == "proxy.example");
    CHECK(socks->label() == "proxy.example:1080");  // never the credentials

    auto v6 = parse_proxy_url("socks5://[::1]:1080");
    REQUIRE(v6);
    CHECK(v6->scheme == proxy_scheme::socks5);
    CHECK(v6->host == "::1");
    CHECK(v6->label() == "[::1]:1080");

    auto user_only = parse_proxy_url("http://bob@h:8080");
    REQUIRE(user_only);
    CHECK(user_only->user == "bob");
    CHECK(user_only->password.empty());
}

TEST_CASE("proxy_url: bad input is refused with a reason, never echoing a password",
          "[unit][proxy]") {
    struct bad {
        const char* text;
        const char* says;
    };
    for (const auto& [text, says] : {
             bad{"127.0.0.1:3128", "no scheme"},
             bad{"https://h:443", "https:// proxies are not supported"},
             bad{"ftp://h:21", "unsupported proxy scheme 'ftp'"},
             bad{"http://h", "needs a port"},
             bad{"http://h:", "port must be a number"},
             bad{"http://h:0", "port must be a number"},
             bad{"http://h:65536", "port must be a number"},
             bad{"http://h:80x", "port must be a number"},
             bad{"http://h:80/path", "no path, query or fragment"},
             bad{"http://h:80?q", "no path, query or fragment"},
             bad{"http://:80", "not a host name"},
             bad{"http://user:hunter2@bad host:80", "not a host name"},
             bad{"http://:pw@h:80", "user name is empty"},
             bad{"http://u:p%zz@h:80", "percent-escape"},
             bad{"http://u:p%0d%0a@h:80", "control character"},
             bad{"http://u:p%4@h:80", "percent-escape"},
             bad{"socks5://[::1:1080", "unclosed '['"},
             bad{"socks5://[zz]:1080", "not an IPv6 address"},
             bad{"socks5://[::1]", "needs a port"},
             bad{"", "no scheme"},
         }) {
        INFO(text);
        std::string why;
        CHECK_FALSE(parse_proxy_url(text, &why));
        CHECK(why.find(says) != std::string::npos);
        CHECK(why.find("hunter2") == std::string::npos);
    }
    const std::string long_user(256, 'u');
    std::string why;
    CHECK_FALSE(parse_proxy_url("socks5://" + long_user + ":p@h:1080", &why));
    CHECK(why.find("255 bytes") != std::string::npos);
}

TEST_CASE("proxy_url: random bytes never crash, and what parses is usable", "[unit][proxy]") {
    std::mt19937 rng(20);
    const std::string alphabet = "hts5ocpk:/@[]%.0123456789aAfF-_ \r\n?#";
    std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
    std::uniform_int_distribution<int> length(0, 40);
    const std::string prefixes[] = {"", "http://", "socks5://", "socks5h://", "http://u:p@"};
    for (int i = 0; i < 20000; ++i) {
        std::string text = prefixes[static_cast<std::size_t>(i) % 5];
        for (int n = length(rng); n > 0; --n) {
            text.push_back(alphabet[pick(rng)]);
        }
        std::string why;
        const auto url = parse_proxy_url(text, &why);
        if (!url) {
            CHECK_FALSE(why.empty());
            continue;
        }
        CHECK_FALSE(url->host.empty());
        CHECK(url->port != 0);
        CHECK(url->host.find_first_of("\r\n@/ ") == std::string::npos);
        CHECK(url->user.find_first_of("\r\n") == std::string::npos);
        CHECK(url->password.find_first_of("\r\n") == std::string::npos);
    }
}

TEST_CASE("read_proxy_lines: comments, blank lines, and the first bad line's place",
          "[unit][proxy]") {
    std::vector<harvest::core::proxy_url> out;
    std::istringstream good(
        "# the pool\n\nhttp://127.0.0.1:3128  # a comment\r\n"
        "\t socks5h://u:p@[::1]:1080\n   \n");
    CHECK_FALSE(harvest::core::read_proxy_lines(good, out).has_value());
    REQUIRE(out.size() == 2);
    CHECK(out[0].port == 3128);
    CHECK(out[1].scheme == proxy_scheme::socks5h);
    CHECK(out[1].host == "::1");

    out.clear();
    std::istringstream bad("http://127.0.0.1:1\n\n  https://s3cret@127.0.0.1:2\nhttp://x:3\n");
    const auto error = harvest::core::read_proxy_lines(bad, out);
    REQUIRE(error.has_value());
    CHECK(error->line == 3);
    CHECK(error->column == 3);
    CHECK(error->why.find("s3cret") == std::string::npos);
    CHECK(out.size() == 1);  // what came before the bad line; nothing after it

    // Random bytes: no crash, and an error always points into the text.
    std::mt19937 rng(5);
    for (int i = 0; i < 500; ++i) {
        std::string text;
        const int n = static_cast<int>(rng() % 120);
        for (int j = 0; j < n; ++j) {
            text.push_back(static_cast<char>(rng() % 4 == 0 ? '\n' : rng() % 256));
        }
        std::istringstream in(text);
        std::vector<harvest::core::proxy_url> read;
        if (const auto e = harvest::core::read_proxy_lines(in, read)) {
            CHECK(e->line >= 1);
            CHECK(e->column >= 1);
        }
    }
}
