// The webhook output's keys, and the delivery policies it takes from the crawl's own sections.

#include "config_test_util.hpp"

#include <catch2/catch.hpp>

using config_test::check_error;
using config_test::minimal;
using config_test::parse;
using harvest::pipelines::output_type;
using namespace std::chrono_literals;

TEST_CASE("webhook output: url, batch, batch_wait, in_flight", "[unit][config][webhook]") {
    const auto c = parse(minimal +
                         "outputs:\n"
                         "  - {type: webhook, url: \"http://127.0.0.1:9000/in\", batch: 50,\n"
                         "     batch_wait: 250ms, in_flight: 8}\n");
    REQUIRE(c.outputs.size() == 1);
    const auto& out = c.outputs[0];
    CHECK(out.type == output_type::webhook);
    CHECK(out.url == "http://127.0.0.1:9000/in");
    CHECK(out.batch == 50);
    CHECK(out.batch_wait == 250ms);
    CHECK(out.in_flight == 8);

    const auto defaults = parse(minimal + "outputs:\n  - {type: webhook, url: \"http://h/in\"}\n");
    CHECK(defaults.outputs[0].batch == 100);
    CHECK(defaults.outputs[0].batch_wait == 1s);
    CHECK(defaults.outputs[0].in_flight == 4);
}

TEST_CASE("webhook output: bad values name their place", "[unit][config][webhook]") {
    check_error(minimal + "outputs:\n  - {type: webhook, url: \"http://h/in\", in_flight: 0}\n", 5,
                52, "'outputs.0.in_flight'");
    check_error(minimal + "outputs:\n  - {type: webhook, url: \"http://h/in\", batch_wait: 0s}\n",
                5, 53, "'outputs.0.batch_wait'");
    check_error(minimal + "outputs:\n  - {type: webhook, url: \"http://h/in\", path: x}\n", 5, 41,
                "unknown key 'path'");
}

TEST_CASE("webhook delivery uses the crawl's policies, or its host's entry",
          "[unit][config][webhook]") {
    const std::string sections =
        "retry: {max_attempts: 6, backoff: {base: 100ms, max: 2s}}\n"
        "rate_limit: {per_second: 7, burst: 3}\n"
        "circuit_breaker: {window: 30, give_up_after: 90s}\n"
        "http: {timeouts: {total: 12s}}\n";
    const auto crawl_wide =
        parse(minimal + sections + "outputs:\n  - {type: webhook, url: \"http://hook:81/in\"}\n");
    const auto& d = crawl_wide.outputs[0].delivery;
    CHECK(d.retry.max_attempts == 6);
    CHECK(d.retry.backoff.base == 100ms);
    CHECK(d.rate.per_second == 7);
    CHECK(d.rate.burst == 3);
    CHECK(d.breaker.window == 30);
    CHECK(d.deadline == 90s);
    REQUIRE(d.http != nullptr);
    CHECK(d.http->timeouts.total == 12s);

    const auto per_host = parse(minimal + sections +
                                "hosts:\n"
                                "  \"hook:81\": {retry: {max_attempts: 2}, rate_limit: "
                                "{per_second: 1, burst: 1}}\n"
                                "outputs:\n  - {type: webhook, url: \"http://hook:81/in\"}\n");
    const auto& h = per_host.outputs[0].delivery;
    CHECK(h.retry.max_attempts == 2);
    CHECK(h.rate.per_second == 1);
    CHECK(h.breaker.window == 30);  // no override: the crawl's
}
