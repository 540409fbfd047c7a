#include "engine/crawl/robots_fetch.hpp"

#include "engine/crawl/http_cache.hpp"
#include "engine/crawl/proxy_set.hpp"
#include "engine/net/fetch_outcome.hpp"

#include <chrono>

namespace harvest::crawl {

boost::asio::awaitable<robots_answer> fetch_robots_txt(net::http_client& client,
                                                       const host_state& host, crawl_stats& stats,
                                                       http_cache* replay_cache,
                                                       proxy_set* proxies) {
    // A named request, not a temporary in the co_await expression: GCC 12 destroys such
    // temporaries twice (a known coroutine bug).
    net::http_request request{"GET", host.origin + "/robots.txt", {}, {}};
    const auto key = replay_cache != nullptr ? fingerprint(request) : std::nullopt;
    robots_answer answer;
    if (key) {
        if (auto stored = replay_cache->load(*key)) {
            const net::http_response response = response_of(*stored);
            answer.why.status = response.status;
            answer.rules = response.status < 300 ? core::robots_rules::parse(response.body)
                                                 : core::robots_rules::allow_all();
            co_return answer;
        }
    }
    stats.requests.fetch_add(1, std::memory_order_relaxed);
    const auto deadline = clock::now() + host.http->timeouts.total;
    boost::system::result<net::http_response> result = net::http_response{};
    if (proxies != nullptr) {
        result = co_await proxies->fetch(client, std::move(request), host.http, deadline,
                                         host.origin, std::nullopt, nullptr);
    } else {
        result = co_await client.fetch(std::move(request), host.http, deadline);
    }
    if (key && result && result->status >= 200 && result->status < 500 &&
        (result->status < 300 || result->status >= 400)) {
        const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
        const auto no_header = [](std::string_view) { return std::string(); };
        if (auto entry = entry_of(*result, no_header, now_ms)) {
            replay_cache->store(*key, *entry);
        }
    }
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
