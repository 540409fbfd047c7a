// wait_for_permit (engine/crawl/permit_wait.hpp): asks the guard again when it says, and gives
// up once the next try would be past the deadline. Driven by a scripted `ask` on a real
// io_context (the waits are tens of milliseconds).

#include "engine/crawl/permit_wait.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <vector>

using namespace harvest;
namespace asio = boost::asio;
using steady = resilience::clock;
using namespace std::chrono_literals;

namespace {

resilience::admission granted() {
    resilience::admission out;
    out.permit = resilience::breaker_permit{};
    return out;
}

resilience::admission refused(resilience::wait_reason why, steady::time_point not_before) {
    resilience::admission out;
    out.why = why;
    out.not_before = not_before;
    return out;
}

// Runs one wait to its end; `asked` gets the time of every question.
resilience::admission run(std::function<resilience::admission(steady::time_point)> ask,
                          steady::duration recheck, steady::time_point deadline) {
    asio::io_context io;
    auto done = asio::co_spawn(
        io, crawl::wait_for_permit(io.get_executor(), std::move(ask), recheck, deadline),
        asio::use_future);
    io.run_for(5s);  // bounded even if the wait were not
    REQUIRE(done.wait_for(0s) == std::future_status::ready);
    return done.get();
}

}  // namespace

TEST_CASE("wait_for_permit: an event wait is asked again every recheck until granted", "[unit]") {
    std::vector<steady::time_point> asked;
    const auto start = steady::now();
    const auto got = run(
        [&asked](steady::time_point now) {
            asked.push_back(now);
            return asked.size() < 3
                       ? refused(resilience::wait_reason::concurrency, steady::time_point::max())
                       : granted();
        },
        20ms, start + 2s);
    CHECK(got.permit.has_value());
    REQUIRE(asked.size() == 3);
    CHECK(asked[1] - asked[0] >= 20ms);
    CHECK(asked[2] - asked[1] >= 20ms);
}

TEST_CASE("wait_for_permit: sleeps until the guard's time and refuses before the deadline",
          "[unit]") {
    // Only what holds however slowly the machine runs: the times between questions are the
    // guard's, and the wait ends with the first question whose next try would be past the
    // deadline.
    std::vector<steady::time_point> asked;
    const auto start = steady::now();
    const auto deadline = start + 300ms;
    const auto got = run(
        [&asked](steady::time_point now) {
            asked.push_back(now);
            return refused(resilience::wait_reason::token, now + 50ms);
        },
        1ms, deadline);
    CHECK_FALSE(got.permit.has_value());
    CHECK(got.why == resilience::wait_reason::token);  // the last refusal's reason
    REQUIRE(!asked.empty());
    for (std::size_t i = 1; i < asked.size(); ++i) {
        CHECK(asked[i] - asked[i - 1] >= 50ms);
        CHECK(asked[i - 1] + 50ms < deadline);  // it slept only to a time before the deadline
    }
    CHECK(asked.back() + 50ms >= deadline);
}

TEST_CASE("wait_for_permit: a deadline already passed is one question, whatever the guard says",
          "[unit]") {
    int asked = 0;
    const auto got = run(
        [&asked](steady::time_point now) {
            ++asked;
            // A time already behind: the retry would be now, which is past the deadline.
            return refused(resilience::wait_reason::breaker, now - 1s);
        },
        20ms, steady::now() - 1ms);
    CHECK_FALSE(got.permit.has_value());
    CHECK(got.why == resilience::wait_reason::breaker);
    CHECK(asked == 1);
}
