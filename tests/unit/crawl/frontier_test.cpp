#include "engine/crawl/frontier.hpp"
#include "tests/unit/crawl/frontier_support.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using steady = harvest::crawl::clock;
using harvest::crawl::crawl_options;
using harvest::crawl::crawl_request;
using harvest::crawl::frontier;

namespace {

using frontier_support::fail_attempt;

crawl_request get(std::string url) {
    crawl_request r;
    r.http.url = std::move(url);
    return r;
}

crawl_options unlimited_options() {
    crawl_options o;
    o.rate_limit.per_host = {0, 0};
    o.engine.obey_robots_txt = false;
    return o;
}

// Unlimited, with a breaker that opens after two failed calls, for `open_for`.
crawl_options breaker_after_two(std::chrono::milliseconds open_for) {
    auto o = unlimited_options();
    o.circuit_breaker.window = 2;
    o.circuit_breaker.min_calls = 2;
    o.circuit_breaker.min_open_for = open_for;
    o.circuit_breaker.open_for = open_for;
    return o;
}

// Takes the first two requests of the queue and fails both at `t0`: their host's breaker opens.
harvest::crawl::host_state* fail_first_two(frontier& f, steady::time_point t0) {
    harvest::crawl::host_state* host = nullptr;
    for (int i = 0; i < 2; ++i) {
        auto t = f.take(t0);
        REQUIRE(t);
        f.finish(*t->host);
        fail_attempt(*t, t0);
        host = t->host;
    }
    return host;
}

}  // namespace

TEST_CASE("frontier drops duplicate requests and refuses invalid URLs", "[unit]") {
    auto options = unlimited_options();
    frontier f(options);
    const auto now = steady::now();
    CHECK(f.admit(get("http://a.test/1"), now) == frontier::admit_result::queued);
    CHECK(f.admit(get("http://a.test/1"), now) == frontier::admit_result::duplicate);
    auto post = get("http://a.test/1");
    post.http.method = "POST";
    CHECK(f.admit(post, now) == frontier::admit_result::queued);
    CHECK(f.admit(get("not a url"), now) == frontier::admit_result::invalid_url);
    CHECK(f.ready_size() == 2);
}

TEST_CASE("frontier without dedup keeps repeated requests", "[unit]") {
    auto options = unlimited_options();
    options.engine.dedup = false;
    frontier f(options);
    const auto now = steady::now();
    CHECK(f.admit(get("http://a.test/1"), now) == frontier::admit_result::queued);
    CHECK(f.admit(get("http://a.test/1"), now) == frontier::admit_result::queued);
    CHECK(f.ready_size() == 2);
}

TEST_CASE("frontier enforces per-host concurrency and rotates between hosts", "[unit]") {
    auto options = unlimited_options();
    options.engine.per_host_concurrency = 2;
    frontier f(options);
    const auto now = steady::now();
    for (int i = 0; i < 5; ++i) {
        f.admit(get("http://a.test/" + std::to_string(i)), now);
        f.admit(get("http://b.test:8080/" + std::to_string(i)), now);
    }
    std::vector<std::string> labels;
    std::vector<harvest::crawl::host_state*> hosts;
    while (auto t = f.take(now)) {
        labels.push_back(t->host->label);
        hosts.push_back(t->host);
    }
    // Two per host, alternating, then both hosts are at their limit.
    CHECK(labels == std::vector<std::string>{"a.test", "b.test:8080", "a.test", "b.test:8080"});
    f.finish(*hosts[0]);
    auto next = f.take(now);
    REQUIRE(next);
    CHECK(next->host->label == "a.test");
    CHECK(next->request.http.url == "http://a.test/2");
}

TEST_CASE("same origin whatever the case or default port", "[unit]") {
    auto options = unlimited_options();
    frontier f(options);
    CHECK(f.host_for("http://A.test/x") == f.host_for("http://a.test:80/y"));
    CHECK(f.host_for("https://a.test/x") != f.host_for("http://a.test/x"));
    CHECK(f.host_for("https://a.test:8443/x")->label == "a.test:8443");
}

TEST_CASE("rate-limited host waits in the frontier until its next token", "[unit]") {
    crawl_options options = unlimited_options();
    options.rate_limit.per_host = {10, 1};  // one every 100 ms
    frontier f(options);
    const auto t0 = steady::now();
    f.admit(get("http://a.test/1"), t0);
    f.admit(get("http://a.test/2"), t0);
    auto first = f.take(t0);
    REQUIRE(first);
    f.finish(*first->host);
    CHECK_FALSE(f.take(t0));
    CHECK(f.next_wakeup() > t0);
    CHECK(f.next_wakeup() <= t0 + 100ms);
    CHECK(f.take(t0 + 100ms));
}

TEST_CASE("delayed requests come back when due", "[unit]") {
    auto options = unlimited_options();
    frontier f(options);
    const auto t0 = steady::now();
    f.admit(get("http://a.test/1"), t0);
    auto taken = f.take(t0);
    REQUIRE(taken);
    f.finish(*taken->host);
    taken->request.attempt = 1;
    f.delay(std::move(taken->request), *taken->host, t0 + 2s);
    CHECK(f.delayed_size() == 1);
    CHECK_FALSE(f.take(t0 + 1s));
    CHECK(f.next_wakeup() == t0 + 2s);
    auto again = f.take(t0 + 2s);
    REQUIRE(again);
    CHECK(again->request.attempt == 1);
    CHECK(f.empty());
}

TEST_CASE("a host whose breaker is open keeps its requests queued", "[unit]") {
    const auto options = breaker_after_two(30s);
    frontier f(options);
    const auto t0 = steady::now();
    for (int i = 0; i < 4; ++i) {
        f.admit(get("http://down.test/" + std::to_string(i)), t0);
    }
    f.admit(get("http://up.test/0"), t0);
    int up_taken = 0;
    for (int i = 0; i < 2; ++i) {
        auto t = f.take(t0);
        REQUIRE(t);
        if (t->host->label == "up.test") {
            ++up_taken;
            f.finish(*t->host);
            --i;
            continue;
        }
        f.finish(*t->host);
        fail_attempt(*t, t0);
    }
    CHECK(up_taken == 1);
    CHECK_FALSE(f.take(t0 + 1s));  // down.test is open: nothing to send
    CHECK(f.ready_size() == 2);
    CHECK(f.next_wakeup() <= t0 + 30s);
    CHECK(f.open_breakers(t0 + 1s) == 1);
    // Time alone never gives up: no probe was sent yet.
    const auto past = t0 + options.circuit_breaker.give_up_after + 1s;
    CHECK(f.expire_open_hosts(past).empty());
    // A probe fails: past give_up_after the waiting request is handed back to be failed.
    auto probe = f.take(t0 + 30s);
    REQUIRE(probe);
    CHECK(probe->permit.probe);
    f.finish(*probe->host);
    fail_attempt(*probe, t0 + 30s);
    auto expired = f.expire_open_hosts(past);
    CHECK(expired.size() == 1);
    CHECK(f.empty());
}

TEST_CASE("dedup uses the canonical URL", "[unit]") {
    auto options = unlimited_options();
    frontier f(options);
    const auto now = steady::now();
    CHECK(f.admit(get("http://a.test/x?b=2&a=1"), now) == frontier::admit_result::queued);
    CHECK(f.admit(get("http://A.test:80/x?a=1&b=2#top"), now) == frontier::admit_result::duplicate);
    CHECK(f.admit(get("http://a.test/y"), now) == frontier::admit_result::queued);
}

TEST_CASE("robots.txt is fetched first, then disallowed requests are refused", "[unit]") {
    crawl_options options;
    options.rate_limit.per_host = {0, 0};
    frontier f(options);
    const auto now = steady::now();
    f.admit(get("http://a.test/private/1"), now);
    f.admit(get("http://a.test/public/1"), now);
    CHECK_FALSE(f.take(now));  // nothing goes out before robots.txt is known
    auto fetches = f.take_robots_fetches();
    REQUIRE(fetches.size() == 1);
    CHECK(fetches[0]->label == "a.test");
    CHECK_FALSE(f.take(now));
    CHECK(f.take_robots_fetches().empty());  // asked for once
    f.set_robots(*fetches[0], harvest::core::robots_rules::parse(
                                  "User-agent: *\nDisallow: /private/\nCrawl-delay: 2\n"));
    auto taken = f.take(now);
    REQUIRE(taken);
    CHECK(taken->request.http.url == "http://a.test/public/1");
    auto refused = f.take_robots_refusals();
    REQUIRE(refused.size() == 1);
    CHECK(refused[0].request.http.url == "http://a.test/private/1");
    CHECK(taken->host->guard.bucket().rate() == Approx(0.5));  // Crawl-delay: 2
}

TEST_CASE("Crawl-delay holds from the first request: no burst of the configured bucket", "[unit]") {
    crawl_options options;
    options.engine.obey_robots_txt = true;
    options.rate_limit.per_host = {20, 20};
    frontier f(options);
    const auto now = steady::now();
    for (int i = 0; i < 4; ++i) {
        f.admit(get("http://a.test/p/" + std::to_string(i)), now);
    }
    CHECK_FALSE(f.take(now));
    auto fetches = f.take_robots_fetches();
    REQUIRE(fetches.size() == 1);
    f.set_robots(*fetches[0],
                 harvest::core::robots_rules::parse("User-agent: *\nCrawl-delay: 2\n"));
    auto first = f.take(now);
    REQUIRE(first);
    f.finish(*first->host);
    CHECK_FALSE(f.take(now));  // the burst of 20 would have sent all four
    CHECK(f.next_wakeup() == now + 2s);
    CHECK(f.take(now + 2s));
}

TEST_CASE("a half-open probe goes to a request that never failed when the host has one", "[unit]") {
    auto options = unlimited_options();
    options.circuit_breaker.window = 2;
    options.circuit_breaker.min_calls = 2;
    options.circuit_breaker.min_open_for = 5s;
    frontier f(options);
    const auto t0 = steady::now();
    f.admit(get("http://h.test/bad-0"), t0);
    f.admit(get("http://h.test/bad-1"), t0);
    f.admit(get("http://h.test/good"), t0);
    for (int i = 0; i < 2; ++i) {
        auto t = f.take(t0);
        REQUIRE(t);
        f.finish(*t->host);
        fail_attempt(*t, t0);
        // Its retry (the crawler counts the attempt) is due at once.
        ++t->request.attempt;
        f.delay(std::move(t->request), *t->host, t0);
    }
    REQUIRE(f.take(t0 + 1s) == std::nullopt);  // open
    auto probe = f.take(t0 + 5s);
    REQUIRE(probe);
    CHECK(probe->permit.probe);
    CHECK(probe->request.http.url == "http://h.test/good");
}

// With only retries queued (the end of a host's crawl, or a resumed one), the probe goes to a
// retry that failed the fewest times: the bad URLs, tried more often, queued first, must not
// keep the breaker open until give_up_after fails the good retries behind them (scenario 42492).
TEST_CASE("a half-open probe among retries only goes to one that failed the fewest times",
          "[unit]") {
    auto options = breaker_after_two(5s);
    options.retry.budget_min_per_second = 1e6;  // every retry queued at once
    frontier f(options);
    const auto t0 = steady::now();
    f.admit(get("http://h.test/opener-0"), t0);
    f.admit(get("http://h.test/opener-1"), t0);
    auto* host = fail_first_two(f, t0);
    REQUIRE(f.take(t0 + 1s) == std::nullopt);  // open
    const auto retry = [&](const std::string& path, unsigned attempt) {
        auto request = get("http://h.test/" + path);
        request.attempt = attempt;
        request.breaker_failure_counted = true;
        f.delay(std::move(request), *host, t0);
    };
    for (int i = 0; i < 60; ++i) {
        retry("bad/" + std::to_string(i), 3);
    }
    for (int i = 0; i < 20; ++i) {
        retry("good/" + std::to_string(i), 1);
    }
    auto now = t0 + 5s;
    for (int opening = 0; opening < 8; ++opening) {
        auto probe = f.take(now);
        REQUIRE(probe);
        CHECK(probe->permit.probe);
        INFO("opening " << opening << ": " << probe->request.http.url);
        CHECK(probe->request.attempt == 1);
        CHECK(probe->request.http.url.find("/good/") != std::string::npos);
        // It failed after all: open again, and the next probe too goes to a good one.
        f.finish(*probe->host);
        bool failed_before = true;
        harvest::resilience::attempt_outcome outcome;
        outcome.status = 500;
        probe->host->guard.record(probe->permit, outcome, failed_before, now);
        ++probe->request.attempt;
        f.delay(std::move(probe->request), *probe->host, now);
        now += 5s;
    }
}

// A resumed crawl queues its requests with attempt 0, the failed ones marked: those are not
// never-tried requests, the probe skips them while a fresh one is queued.
TEST_CASE("a half-open probe of a resumed crawl skips the requests that failed before the stop",
          "[unit]") {
    const auto options = breaker_after_two(5s);
    frontier f(options);
    std::vector<harvest::crawl::crawl_request> pending;
    for (int i = 0; i < 60; ++i) {
        auto request = get("http://h.test/failed-before/" + std::to_string(i));
        request.breaker_failure_counted = true;
        pending.push_back(std::move(request));
    }
    for (int i = 0; i < 20; ++i) {
        pending.push_back(get("http://h.test/fresh/" + std::to_string(i)));
    }
    f.restore({}, std::move(pending));
    const auto t0 = steady::now();
    fail_first_two(f, t0);
    REQUIRE(f.take(t0 + 1s) == std::nullopt);  // open
    auto now = t0 + 5s;
    for (int opening = 0; opening < 8; ++opening) {
        auto probe = f.take(now);
        REQUIRE(probe);
        CHECK(probe->permit.probe);
        CHECK_FALSE(probe->request.breaker_failure_counted);
        CHECK(probe->request.http.url.find("/fresh/") != std::string::npos);
        f.finish(*probe->host);
        fail_attempt(*probe, now);
        now += 5s;
    }
}

TEST_CASE("an unavailable robots.txt holds the host's requests until it is asked again", "[unit]") {
    crawl_options options;
    options.rate_limit.per_host = {0, 0};
    frontier f(options);
    const auto now = steady::now();
    f.admit(get("http://a.test/1"), now);
    CHECK_FALSE(f.take(now));
    auto fetches = f.take_robots_fetches();
    REQUIRE(fetches.size() == 1);
    f.retry_robots(*fetches[0], now + 2s);  // a 503: try again in 2 s
    CHECK_FALSE(f.take(now + 1s));
    CHECK(f.take_robots_fetches().empty());
    CHECK(f.next_wakeup() <= now + 2s);
    CHECK_FALSE(f.take(now + 2s));
    REQUIRE(f.take_robots_fetches().size() == 1);  // asked again, request still waiting
    CHECK(fetches[0]->robots_attempts == 1);
    f.set_robots(*fetches[0], harvest::core::robots_rules::allow_all());
    CHECK(f.take(now + 2s));
}
