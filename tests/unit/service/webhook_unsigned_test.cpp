// A webhook is never sent unsigned (issue 17, item 6): with no webhook secret configured,
// deliver_webhook gives up without connecting, even for a job stored with a callback_url before
// the secret was removed from the service's config.

#include "config/service_config.hpp"
#include "engine/net/http_client.hpp"
#include "service/webhook.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <optional>
#include <random>
#include <string>

using namespace harvest;

TEST_CASE("webhook: without a secret nothing is sent and the delivery fails", "[unit][service]") {
    // A listener that never accepts: a connection attempt would show as a pending connection.
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listener >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener, 8) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
    const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/hook";

    boost::asio::io_context io;
    net::http_client client(io.get_executor(), {});
    config::webhook_settings settings;  // secret empty
    settings.max_attempts = 2;
    settings.backoff_base = std::chrono::milliseconds(1);
    settings.backoff_max = std::chrono::milliseconds(2);
    settings.timeout = std::chrono::milliseconds(500);
    std::mt19937_64 rng(1);
    unsigned attempts = 0;
    std::optional<service::delivery_outcome> outcome;
    boost::asio::co_spawn(
        io,
        service::deliver_webhook(client, {url, "evt_1", R"({"job_id":"job_1"})", "job_1"}, settings,
                                 rng, [&](unsigned, unsigned, bool) { ++attempts; }),
        [&](std::exception_ptr, service::delivery_outcome o) { outcome = o; });
    io.run_for(std::chrono::seconds(5));
    REQUIRE(outcome);
    CHECK(*outcome == service::delivery_outcome::failed);
    CHECK(attempts == 0);
    pollfd p{listener, POLLIN, 0};
    CHECK(::poll(&p, 1, 100) == 0);  // no connection was made
    ::close(listener);
}
