#include "engine/crawl/proxy_set.hpp"

#include "engine/metrics/crawl_metrics.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <fstream>
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

std::string key_of(const core::proxy_url& proxy) {
    std::string key;
    key += static_cast<char>('0' + static_cast<int>(proxy.scheme));
    for (const std::string* part : {&proxy.user, &proxy.password, &proxy.host}) {
        key += std::to_string(part->size());
        key += ':';
        key += *part;
    }
    key += std::to_string(proxy.port);
    return key;
}

}  // namespace

proxy_set::proxy_set(const proxy_options& options, const breaker_options& breaker,
                     metrics::crawl_metrics* metrics, std::uint64_t seed)
    : metrics_(metrics),
      ban_status_(options.ban_status),
      pool_(0, pool_options(options, breaker), seed) {
    if (!options.ban_body.empty()) {
        try {
            ban_body_.emplace(options.ban_body, std::regex::ECMAScript);
        } catch (const std::regex_error& e) {
            throw std::invalid_argument("proxy_ban.body is not a valid regex: " +
                                        std::string(e.what()));
        }
    }
    const std::lock_guard lock(mutex_);
    for (const auto& proxy : options.list) {
        append(proxy);
    }
}

void proxy_set::append(const core::proxy_url& proxy) {
    entry made;
    made.url = std::make_shared<const core::proxy_url>(proxy);
    made.key = key_of(proxy);
    if (metrics_ != nullptr) {
        const std::string_view label = metrics_->proxies.admit(proxy.label());
        made.slot.ok = &metrics_->proxy_requests.with({label, "ok"});
        made.slot.banned = &metrics_->proxy_requests.with({label, "banned"});
        made.slot.connect = &metrics_->proxy_requests.with({label, "proxy_connect"});
        made.slot.auth = &metrics_->proxy_requests.with({label, "proxy_auth"});
        made.slot.tunnel = &metrics_->proxy_requests.with({label, "proxy_tunnel"});
        made.slot.error = &metrics_->proxy_requests.with({label, "error"});
        made.slot.state = &metrics_->proxy_state.with({label});
    }
    entries_.push_back(std::move(made));
    (void)pool_.add();
}

bool proxy_set::empty() const {
    const std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < entries_.size(); ++i) {
        if (pool_.active(i)) {
            return false;
        }
    }
    return true;
}

bool proxy_set::reload_file(const proxy_options& proxy) {
    std::ifstream in(proxy.file);
    if (!in) {
        spdlog::error(
            "reload of proxies_file {} failed: it cannot be read; the proxies in use stay",
            proxy.file);
        return false;
    }
    // `proxies:` of the config stay; the file's lines replace the file's.
    std::vector<core::proxy_url> list(
        proxy.list.begin(), proxy.list.begin() + static_cast<std::ptrdiff_t>(
                                                     std::min(proxy.listed, proxy.list.size())));
    if (const auto bad = core::read_proxy_lines(in, list)) {
        // The URL is not echoed: it may carry a password.
        spdlog::error("reload of proxies_file failed: {}:{}:{}: {}; the proxies in use stay",
                      proxy.file, bad->line, bad->column, bad->why);
        return false;
    }
    if (list.empty()) {
        spdlog::error(
            "reload of proxies_file {} refused: it lists no proxy (and proxies: none), which "
            "would leave no way out; the proxies in use stay",
            proxy.file);
        return false;
    }
    const auto done = reload(list);
    spdlog::info("proxies_file {} reloaded: {} joined, {} removed, {} kept", proxy.file, done.added,
                 done.removed, done.kept);
    return true;
}

proxy_set::reload_summary proxy_set::reload(const std::vector<core::proxy_url>& list) {
    std::vector<std::string> keys;
    keys.reserve(list.size());
    for (const auto& proxy : list) {
        keys.push_back(key_of(proxy));
    }
    reload_summary summary;
    const std::lock_guard lock(mutex_);
    std::vector<bool> listed(entries_.size(), false);
    for (std::size_t k = 0; k < keys.size(); ++k) {
        const auto it = std::find_if(entries_.begin(), entries_.end(),
                                     [&](const entry& e) { return e.key == keys[k]; });
        if (it == entries_.end()) {
            append(list[k]);
            listed.push_back(true);
            ++summary.added;
            continue;
        }
        const auto index = static_cast<std::size_t>(it - entries_.begin());
        if (listed[index]) {
            continue;  // listed twice: one proxy
        }
        listed[index] = true;
        if (pool_.active(index)) {
            ++summary.kept;
        } else {
            pool_.set_active(index, true);  // back, with the health it had
            ++summary.added;
        }
    }
    for (std::size_t i = 0; i < entries_.size(); ++i) {
        if (!listed[i] && pool_.active(i)) {
            pool_.set_active(i, false);
            ++summary.removed;
        }
    }
    return summary;
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
    metrics::inc(cell);
    const auto now = clock::now();
    std::lock_guard lock(mutex_);
    pool_.record(choice, origin, result, now);
    if (auto* state = entries_[choice.index].slot.state) {
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
    // max_token_wait, before the deadline) for a token, at most once per proxy. A reload may
    // grow the list meanwhile, never without end.
    std::size_t waits = 0;
    for (;;) {
        resilience::proxy_pick pick;
        std::shared_ptr<const core::proxy_url> proxy;
        cells slot;
        std::size_t listed = 0;
        {
            const std::lock_guard lock(mutex_);
            listed = entries_.size();
            if (tried.size() >= listed) {
                break;
            }
            pick = pool_.pick(origin, session_key, tried, clock::now());
            if (pick.chosen) {
                proxy = entries_[pick.chosen->index].url;
                slot = entries_[pick.chosen->index].slot;
            }
        }
        if (!pick.chosen) {
            const auto now = clock::now();
            if (pick.token_at && waits < listed && *pick.token_at - now <= max_token_wait &&
                *pick.token_at < deadline) {
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
        auto result = co_await client.fetch(request, options, deadline, proxy, jar);
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
        result->proxy = std::move(proxy);
        co_return result;
    }
    if (last) {
        co_return std::move(*last);
    }
    co_return net::fetch_error::proxy_connect;  // no proxy usable for this host now
}

}  // namespace harvest::crawl
