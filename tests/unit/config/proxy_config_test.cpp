// `proxies:`, `proxies_file:`, `proxy_rotation:`, `proxy_ban:` and `proxy_rate_limit:`
// (docs/config.md, "Proxies").

#include "config_test_util.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>
#include <filesystem>
#include <fstream>

using config_test::check_error;
using config_test::minimal;
using config_test::parse;
using harvest::core::proxy_scheme;
using harvest::crawl::proxy_rotation;

TEST_CASE("proxies: URLs, rotation, ban and rate are read", "[unit][proxy]") {
    const auto config = parse(minimal +
                              "proxies:\n"
                              "  - http://127.0.0.1:3128\n"
                              "  - socks5h://alice:s%40cret@proxy.example:1080\n"
                              "proxy_rotation: sticky_per_session\n"
                              "proxy_ban: {status: [403], body: \"captcha\", bench_for: 2m}\n"
                              "proxy_rate_limit: {per_second: 5, burst: 2}\n");
    const auto& proxy = config.crawl.proxy;
    REQUIRE(proxy.list.size() == 2);
    CHECK(proxy.list[0].scheme == proxy_scheme::http);
    CHECK(proxy.list[1].scheme == proxy_scheme::socks5h);
    CHECK(proxy.list[1].password == "s@cret");
    CHECK(proxy.rotation == proxy_rotation::sticky_per_session);
    CHECK(proxy.ban_status == std::vector<unsigned>{403});
    CHECK(proxy.ban_body == "captcha");
    CHECK(proxy.bench_for == std::chrono::minutes(2));
    CHECK(proxy.rate.per_second == 5);
    CHECK(proxy.rate.burst == 2);

    const auto defaults = parse(minimal);
    CHECK(defaults.crawl.proxy.list.empty());
    CHECK(defaults.crawl.proxy.rotation == proxy_rotation::round_robin);
    CHECK(defaults.crawl.proxy.ban_status == std::vector<unsigned>{403, 429});
}

TEST_CASE("proxies: a malformed proxy URL is an error at its place, without the password",
          "[unit][proxy]") {
    check_error(minimal + "proxies:\n  - http://127.0.0.1:3128\n  - https://u:hunter2@h:443\n", 6,
                5, "'proxies.1' is not a valid proxy URL: https:// proxies are not supported");
    check_error(minimal + "proxies:\n  - socks5://h\n", 5, 5, "the proxy needs a port");
    check_error(minimal + "proxies: http://h:1\n", 4, 10, "'proxies' must be a list");
    check_error(minimal + "proxy_rotation: round-robin\n", 4, 17, "did you mean 'round_robin'?");
    check_error(minimal + "proxy_ban: {status: [99]}\n", 4, 22, "'proxy_ban.status.0'");
    check_error(minimal + "proxy_ban: {body: \"(\"}\n", 4, 19,
                "'proxy_ban.body' must be a valid regular expression");
    check_error(minimal + "proxy_ban: {bench: 5m}\n", 4, 13, "unknown key 'bench'");
    try {
        parse(minimal + "proxies:\n  - http://u:hunter2@bad host:80\n");
        FAIL("no error");
    } catch (const harvest::config::config_error& e) {
        CHECK(std::string(e.what()).find("hunter2") == std::string::npos);
    }
}

TEST_CASE("proxies_file: one URL a line, comments, errors at the file's line and column",
          "[unit][proxy]") {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("harvest-proxies-file-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto file = dir / "proxies.txt";
    std::ofstream(file) << "# our proxies\n\nhttp://127.0.0.1:3128  # the first\n"
                           "   socks5://127.0.0.1:1080\n";
    const auto config =
        parse(minimal + "proxies: [\"http://127.0.0.1:9\"]\nproxies_file: " + file.string() + "\n");
    REQUIRE(config.crawl.proxy.list.size() == 3);
    CHECK(config.crawl.proxy.list[0].port == 9);  // proxies: first
    CHECK(config.crawl.proxy.list[1].port == 3128);
    CHECK(config.crawl.proxy.list[2].scheme == proxy_scheme::socks5);

    std::ofstream(file) << "http://127.0.0.1:3128\n\n  ftp://h:21\n";
    try {
        parse(minimal + "proxies_file: " + file.string() + "\n");
        FAIL("no error");
    } catch (const harvest::config::config_error& e) {
        const std::string what = e.what();
        INFO(what);
        CHECK(what.rfind(file.string() + ":3:3: ", 0) == 0);
        CHECK(what.find("unsupported proxy scheme 'ftp'") != std::string::npos);
    }
    check_error(minimal + "proxies_file: " + (dir / "missing.txt").string() + "\n", 4, 15,
                "'proxies_file' cannot be read");
    std::filesystem::remove_all(dir);
}
