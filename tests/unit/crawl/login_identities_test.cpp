// A login step's request and verdict (engine/crawl/login.hpp), and the sessions' identities
// (engine/crawl/identities.hpp): what each session reads, and when a replacement happens.

#include "engine/crawl/identities.hpp"
#include "engine/crawl/login.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

using namespace harvest;

TEST_CASE("login: form encoding, headers the step does not set, and the verdict",
          "[unit][cookies]") {
    CHECK(crawl::form_encode({{"user", "me too"}, {"p&w", "a=b/é"}}) ==
          "user=me+too&p%26w=a%3Db%2F%C3%A9");
    CHECK(crawl::form_encode({}).empty());

    crawl::login_step step;
    step.url = "http://127.0.0.1:9/login";
    step.form = {{"user", "me"}};
    crawl::identity who;
    who.jar = std::make_shared<core::cookie_jar>();
    who.user_agent = "agent-zero";
    auto request = crawl::login_request(step, who);
    CHECK(request.method == "POST");
    CHECK(request.body == "user=me");
    CHECK(request.headers ==
          net::header_list{{"User-Agent", "agent-zero"},
                           {"Content-Type", "application/x-www-form-urlencoded"}});
    // The step's own headers win, whatever their case.
    step.headers = {{"user-agent", "mine"}, {"content-type", "text/plain"}};
    request = crawl::login_request(step, who);
    CHECK(request.headers == step.headers);

    step.expect_cookie = "sid";
    net::http_response ok;
    ok.status = 200;
    const boost::system::result<net::http_response> answered = ok;
    CHECK(crawl::login_verdict(step, 0, answered, who) ==
          "login.0 (POST http://127.0.0.1:9/login): no cookie sid was set");
    net::http_response refused;
    refused.status = 403;
    const boost::system::result<net::http_response> forbidden = refused;
    CHECK(crawl::login_verdict(step, 2, forbidden, who) ==
          "login.2 (POST http://127.0.0.1:9/login): status 403");
    step.expect_cookie.clear();
    CHECK(crawl::login_verdict(step, 0, answered, who).empty());
}

TEST_CASE("identities: the initial identity until a replacement, which needs the jar in use",
          "[unit][cookies]") {
    crawl::session_options options;
    options.count = 3;
    options.user_agents = {"a", "b"};
    crawl::identity_store store(options);
    REQUIRE(store.size() == 3);
    crawl::identity scratch;
    const auto& first = store.of(2, scratch);
    CHECK(&first != &scratch);  // never replaced: the initial identity, no copy
    CHECK(first.user_agent == "a");
    CHECK(store.of(5, scratch).jar == first.jar);  // taken modulo the count
    const auto old_jar = first.jar;

    // A replacement only when the jar is still the one the caller saw.
    CHECK_FALSE(store.replace_if(2, std::make_shared<core::cookie_jar>(), store.fresh(2)));
    CHECK(store.holds(2, old_jar));
    CHECK(store.replace_if(2, old_jar, store.fresh(2)));
    CHECK_FALSE(store.holds(2, old_jar));
    const auto& now = store.of(2, scratch);
    CHECK(&now == &scratch);
    CHECK(now.jar != old_jar);
    CHECK(now.user_agent == "a");
    CHECK(store.current(2).jar == now.jar);
    // A second replacement with the retired jar does nothing (it happened already).
    CHECK_FALSE(store.replace_if(2, old_jar, store.fresh(2)));

    // Randomized: of() always returns what current() holds, whatever was replaced.
    std::mt19937 rng(3);
    for (int i = 0; i < 300; ++i) {
        const auto session = static_cast<std::uint32_t>(rng() % 3);
        if (rng() % 3 == 0) {
            (void)store.replace_if(session, store.current(session).jar, store.fresh(session));
        }
        CHECK(store.of(session, scratch).jar == store.current(session).jar);
    }
}
