// http.cookies, http.referer, sessions, login and the follow rules' headers and meta.

#include "config_test_util.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>

using config_test::check_error;
using config_test::minimal;
using config_test::parse;

TEST_CASE("cookies, referer, sessions and login default to one plain session", "[unit][session]") {
    const auto config = parse(minimal);
    CHECK(config.crawl.http.cookies);
    CHECK(config.crawl.http.referer);
    CHECK(config.crawl.sessions.count == 1);
    CHECK(config.crawl.sessions.user_agents.empty());
    CHECK(config.crawl.sessions.retire_on == std::vector<unsigned>{403, 429});
    CHECK(config.crawl.login.empty());
}

TEST_CASE("sessions, login and follow headers and meta are read", "[unit][session]") {
    ::setenv("HARVEST_TEST_SHOP_PASSWORD", "s3cret&=", 1);
    const auto config = parse(minimal + R"(http: {cookies: false, referer: false}
hosts:
  "api.example.com": {http: {cookies: true}}
sessions:
  count: 3
  user_agents: [ua-a, ua-b]
  retire_on: [401]
login:
  - url: https://shop.example/login
    form: {user: me, password: "${HARVEST_TEST_SHOP_PASSWORD}"}
    headers: {X-Requested-With: harvest}
    expect_cookie: sid
  - url: https://shop.example/account
    method: GET
follow:
  - css: a.item
    headers: {X-Rule: items}
    meta: {category: shoes, empty: ~}
  - css: a.next
)");
    ::unsetenv("HARVEST_TEST_SHOP_PASSWORD");
    const auto& crawl = config.crawl;
    CHECK_FALSE(crawl.http.cookies);
    CHECK_FALSE(crawl.http.referer);
    REQUIRE(crawl.hosts.at("api.example.com").http.has_value());
    CHECK(crawl.hosts.at("api.example.com").http->cookies);
    CHECK(crawl.sessions.count == 3);
    CHECK(crawl.sessions.user_agents == std::vector<std::string>{"ua-a", "ua-b"});
    CHECK(crawl.sessions.retire_on == std::vector<unsigned>{401});
    REQUIRE(crawl.login.size() == 2);
    CHECK(crawl.login[0].method == "POST");
    CHECK(crawl.login[0].url == "https://shop.example/login");
    REQUIRE(crawl.login[0].form.size() == 2);
    CHECK(crawl.login[0].form[1].second == "s3cret&=");
    CHECK(crawl.login[0].headers.at(0).first == "X-Requested-With");
    CHECK(crawl.login[0].expect_cookie == "sid");
    CHECK(crawl.login[1].method == "GET");
    CHECK(crawl.login[1].form.empty());
    REQUIRE(config.follow.size() == 2);
    REQUIRE(config.follow[0].meta.size() == 2);
    CHECK(config.follow[0].meta[0] == std::pair<std::string, std::string>{"category", "shoes"});
    CHECK(config.follow[0].meta[1].second.empty());
    // The engine gets each rule's headers by its index.
    REQUIRE(crawl.follow_headers.size() == 2);
    CHECK(crawl.follow_headers[0] ==
          std::vector<std::pair<std::string, std::string>>{{"X-Rule", "items"}});
    CHECK(crawl.follow_headers[1].empty());
}

TEST_CASE("bad sessions and login settings name their place and what is right", "[unit][session]") {
    check_error(minimal + "sessions: {count: 0}\n", 4, 19, "sessions.count");
    check_error(minimal + "sessions: {count: 0}\n", 4, 19, "from 1 to 10000");
    check_error(minimal + "sessions: {user_agents: [\"\"]}\n", 4, 26, "not an empty one");
    check_error(minimal + "sessions: {retire_on: [999]}\n", 4, 24, "from 100 to 599");
    check_error(minimal + "sessions: {cont: 2}\n", 4, 12, "did you mean 'count'");
    check_error(minimal + "login:\n  - method: POST\n", 5, 5, "needs a url");
    check_error(minimal + "login:\n  - url: ftp://x/\n", 5, 10, "absolute http:// or https://");
    check_error(minimal + "login:\n  - {url: \"http://x/\", form: [a]}\n", 5, 30,
                "a map of form fields");
    check_error(minimal + "login:\n  - {url: \"http://x/\", method: post}\n", 5, 32,
                "HTTP method in capitals");
    check_error(minimal + "follow:\n  - {css: a, meta: [x]}\n", 5, 20, "a map of names to texts");
    check_error(minimal + "follow:\n  - {css: a, headers: {\"bad name\": x}}\n", 5, 24,
                "header name must be a token");
    check_error(minimal + "hosts:\n  \"x.example\": {http: {referer: false}}\n", 5, 24,
                "unknown key 'referer'");
}
