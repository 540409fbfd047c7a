#include "engine/crawl/proxy_set.hpp"

#include "engine/metrics/crawl_metrics.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <stdexcept>

namespace harvest::crawl {

namespace {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

// The ban regex reads no further: a refusal page says so early, and std::regex's cost (and
// its recursion) grows with the text.
constexpr std::size_t ban_body_window = std::size_t{64} << 10;

// A proxy whose only lack is a token is waited for at most this long per pick.
constexpr auto max_token_wait = std::chrono::seconds(2);

resilience::proxy_pool_options pool_options(const proxy_options& options,
                                            const breaker_options& breaker) {
    resilience::proxy_pool_options out;
    out.rotation = options.rotation;
    out.breaker = breaker;
    out.rate = options.rate;
    out.bench_for = options.bench_for;
    return out;
}

void count(metrics::counter* cell) {
    if (cell != nullptr) {
        cell->inc();
    }
}

}  // namespace

proxy_set::proxy_set(const proxy_options& options, const breaker_options& breaker,
                     metrics::crawl_metrics* metrics, std::uint64_t seed)
    : ban_status_(options.ban_status),
      pool_(options.list.size(), pool_options(options, breaker), seed) {
    if (!options.ban_body.empty()) {
        try {
            ban_body_.emplace(options.ban_body, std::regex::ECMAScript);
        } catch (const std::regex_error& e) {
            throw std::invalid_argument("proxy_ban.body is not a valid regex: " +
                                        std::string(e.what()));
        }
    }
    for (const auto& proxy : options.list) {
        proxies_.push_back(std::make_shared<const core::proxy_url>(proxy));
        cells slot;
        if (metrics != nullptr) {
            const std::string_view label = metrics->proxies.admit(proxy.label());
            slot.ok = &metrics->proxy_requests.with({label, "ok"});
            slot.banned = &metrics->proxy_requests.with({label, "banned"});
            slot.connect = &metrics->proxy_requests.with({label, "proxy_connect"});
            slot.auth = &metrics->proxy_requests.with({label, "proxy_auth"});
            slot.tunnel = &metrics->proxy_requests.with({label, "proxy_tunnel"});
            slot.error = &metrics->proxy_requests.with({label, "error"});
            slot.state = &metrics->proxy_state.with({label});
        }
        cells_.push_back(slot);
    }
}

bool proxy_set::is_ban(const net::http_response& response) const {
    if (std::find(ban_status_.begin(), ban_status_.end(), response.status) != ban_status_.end()) {
        return true;
    }
    if (!ban_body_) {
        return false;
    }
    const std::size_t size = std::min(response.body.size(), ban_body_window);
    return std::regex_search(response.body.data(), response.body.data() + size, *ban_body_);
}

void proxy_set::record(const resilience::proxy_choice& choice, const std::string& origin,
                       resilience::proxy_result result, metrics::counter* cell) {
    count(cell);
    const auto now = clock::now();
    std::lock_guard lock(mutex_);
    pool_.record(choice, origin, result, now);
    if (auto* state = cells_[choice.index].state) {
        state->set(static_cast<double>(pool_.state(choice.index, now)));
    }
}

asio::awaitable<boost::system::result<net::http_response>> proxy_set::fetch(
    net::http_client& client, net::http_request request,
    std::shared_ptr<const http_options> options, clock::time_point deadline, std::string origin,
    std::optional<std::uint64_t> session_key, std::shared_ptr<core::cookie_jar> jar) {
    std::vector<std::size_t> tried;
    std::optional<boost::system::result<net::http_response>> last;
    // Bounded: each round either tries a proxy not tried before, or waits (at most
    // max_token_wait, before the deadline) for a token, at most once per proxy.
    std::size_t waits = 0;
    while (tried.size() < proxies_.size()) {
        resilience::proxy_pick pick;
        {
            std::lock_guard lock(mutex_);
            pick = pool_.pick(origin, session_key, tried, clock::now());
        }
        if (!pick.chosen) {
            const auto now = clock::now();
            if (pick.token_at && waits < proxies_.size() &&
                *pick.token_at - now <= max_token_wait && *pick.token_at < deadline) {
                ++waits;
                asio::steady_timer timer(co_await asio::this_coro::executor);
                timer.expires_at(*pick.token_at);
                auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
                (void)ec;
                continue;
            }
            break;
        }
        const auto choice = *pick.chosen;
        tried.push_back(choice.index);
        const auto& slot = cells_[choice.index];
        auto result =
            co_await client.fetch(request, options, deadline, proxies_[choice.index], jar);
        if (!result) {
            const auto error = net::fetch_error_of(result.error());
            if (net::is_proxy_error(error)) {
                record(choice, origin, resilience::proxy_result::failure,
                       error == net::fetch_error::proxy_connect ? slot.connect
                       : error == net::fetch_error::proxy_auth  ? slot.auth
                                                                : slot.tunnel);
                last = std::move(result);
                continue;  // another proxy may carry it
            }
            // The target's trouble (or ours, e.g. cancelled): says nothing of the proxy.
            record(choice, origin, resilience::proxy_result::neutral, slot.error);
            co_return result;
        }
        if (is_ban(*result)) {
            record(choice, origin, resilience::proxy_result::banned, slot.banned);
            last = std::move(result);
            continue;
        }
        record(choice, origin, resilience::proxy_result::ok, slot.ok);
        co_return result;
    }
    if (last) {
        co_return std::move(*last);
    }
    co_return net::fetch_error::proxy_connect;  // no proxy usable for this host now
}

}  // namespace harvest::crawl
