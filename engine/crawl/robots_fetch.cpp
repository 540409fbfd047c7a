#include "engine/crawl/robots_fetch.hpp"

#include "engine/net/fetch_outcome.hpp"

namespace harvest::crawl {

boost::asio::awaitable<robots_answer> fetch_robots_txt(net::http_client& client,
                                                       const host_state& host, crawl_stats& stats) {
    stats.requests.fetch_add(1, std::memory_order_relaxed);
    const auto deadline = clock::now() + host.http->timeouts.total;
    // A named request, not a temporary in the co_await expression: GCC 12 destroys such
    // temporaries twice (a known coroutine bug).
    net::http_request request{"GET", host.origin + "/robots.txt", {}, {}};
    auto result = co_await client.fetch(std::move(request), host.http, deadline);
    robots_answer answer;
    const auto outcome = net::outcome_of(result);
    if (outcome.error) {
        answer.unavailable = true;
        answer.why.last_error = net::failure_kind_of(*outcome.error);
        stats.count_transport_error(*answer.why.last_error);
        co_return answer;
    }
    stats.count_response(result->status);
    stats.bytes_received.fetch_add(result->wire_bytes, std::memory_order_relaxed);
    answer.why.status = result->status;
    if (result->status >= 200 && result->status < 300) {
        answer.rules = core::robots_rules::parse(result->body);
    } else if (result->status >= 400 && result->status < 500) {
        answer.rules = core::robots_rules::allow_all();
    }
    answer.unavailable = result->status >= 500;
    co_return answer;
}

}  // namespace harvest::crawl
