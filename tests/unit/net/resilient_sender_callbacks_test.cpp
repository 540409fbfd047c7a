// The resilient sender's options for signed callbacks (the bulk service's webhooks): per-attempt
// hooks (a fresh signature, a report of each attempt), retry_every_failure (only a 2xx delivers,
// any other answer is retried up to max_attempts) and http.discard_oversized_body (a 2xx with a
// body over max_body keeps its status). Against scripted origins on 127.0.0.1.

#include "engine/crawl/options.hpp"
#include "engine/net/resilient_sender.hpp"
#include "tests/support/run_to_end.hpp"
#include "tests/support/test_origin.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using harvest::net::attempt_report;
using harvest::net::http_client;
using harvest::net::http_request;
using harvest::net::resilient_sender;
using harvest::net::send_hooks;
using harvest::net::send_result;
using harvest::net::sender_options;
using harvest::test::http_response_bytes;
using harvest::test::received_request;
using harvest::test::serve_each;
using harvest::test::test_origin;

namespace {

sender_options callback_options() {
    sender_options options;
    options.retry_every_failure = true;
    options.retry.max_attempts = 3;
    options.retry.backoff = {harvest::crawl::backoff_strategy::none, 5ms, 20ms};
    options.deadline = 10s;
    return options;
}

http_request keyed_post(std::string url) {
    http_request request;
    request.method = "POST";
    request.url = std::move(url);
    request.headers = {{"Idempotency-Key", "evt_1"}};
    request.body = "{}";
    return request;
}

send_result run_send(resilient_sender& sender, boost::asio::io_context& ioc, http_request request,
                     send_hooks hooks = {}) {
    return harvest::test::run_to_end(ioc, sender.send(std::move(request), std::move(hooks)));
}

}  // namespace

TEST_CASE("callbacks: 404 is retried like any non-2xx, each attempt prepared and reported",
          "[unit][net][sender]") {
    std::atomic<int> seen{0};
    std::vector<std::string> attempt_headers;
    std::mutex mutex;
    test_origin origin(serve_each([&](const received_request& request) {
        {
            std::lock_guard lock(mutex);
            attempt_headers.emplace_back(request.header("X-Attempt"));
        }
        return ++seen <= 2 ? http_response_bytes(404, "gone") : http_response_bytes(200, "ok");
    }));
    boost::asio::io_context ioc;
    http_client client(ioc.get_executor(), {});
    resilient_sender sender(client, callback_options(), 1);

    std::vector<attempt_report> reports;
    send_hooks hooks;
    hooks.before_attempt = [](http_request& r, unsigned attempt) {
        r.headers.emplace_back("X-Attempt", std::to_string(attempt));
    };
    hooks.after_attempt = [&](const attempt_report& r) { reports.push_back(r); };
    const auto result = run_send(sender, ioc, keyed_post(origin.url("/hook")), hooks);
    CHECK(result.delivered());
    CHECK(result.attempts == 3);
    CHECK(attempt_headers == std::vector<std::string>{"1", "2", "3"});
    REQUIRE(reports.size() == 3);
    CHECK(reports[0].status == 404u);
    CHECK(reports[0].retrying);
    CHECK(reports[1].retrying);
    CHECK(reports[2].status == 200u);
    CHECK_FALSE(reports[2].retrying);
}

TEST_CASE("callbacks: a 3xx is not delivered; max_attempts bounds the attempts",
          "[unit][net][sender]") {
    std::atomic<int> seen{0};
    test_origin origin(serve_each([&](const received_request&) {
        ++seen;
        return http_response_bytes(300, "choose");  // no Location: the client does not follow
    }));
    boost::asio::io_context ioc;
    http_client client(ioc.get_executor(), {});
    resilient_sender sender(client, callback_options(), 1);
    std::vector<attempt_report> reports;
    send_hooks hooks;
    hooks.after_attempt = [&](const attempt_report& r) { reports.push_back(r); };
    const auto result = run_send(sender, ioc, keyed_post(origin.url("/hook")), hooks);
    CHECK_FALSE(result.delivered());
    CHECK(result.attempts == 3);
    CHECK(seen == 3);
    REQUIRE(reports.size() == 3);
    CHECK_FALSE(reports[2].retrying);
}

TEST_CASE("callbacks: a 2xx with a body over max_body is delivered with discard_oversized_body",
          "[unit][net][sender]") {
    const std::string big(256 * 1024, 'z');
    test_origin origin(
        serve_each([&](const received_request&) { return http_response_bytes(200, big); }));
    boost::asio::io_context ioc;
    http_client client(ioc.get_executor(), {});

    auto http = std::make_shared<harvest::crawl::http_options>();
    http->max_body = 1024;
    auto options = callback_options();
    options.http = http;
    {
        resilient_sender sender(client, options, 1);
        const auto result = run_send(sender, ioc, keyed_post(origin.url("/hook")));
        CHECK_FALSE(result.delivered());  // body_too_large on every attempt
        CHECK(result.attempts == 3);
        CHECK(result.error == harvest::net::fetch_error::body_too_large);
    }
    http->discard_oversized_body = true;
    resilient_sender sender(client, options, 1);
    const auto result = run_send(sender, ioc, keyed_post(origin.url("/hook")));
    CHECK(result.delivered());
    CHECK(result.attempts == 1);
    CHECK(result.status == 200u);
    CHECK(result.response.body.empty());
}
