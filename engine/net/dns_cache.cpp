#include "engine/net/dns_cache.hpp"

#include "engine/net/fetch_error.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace harvest::net {

namespace {
// A cache that only grows would leak on a crawl of millions of hosts: past this many entries,
// expired ones are swept on insert.
constexpr std::size_t sweep_threshold = 4096;
}  // namespace

dns_cache::dns_cache(boost::asio::any_io_executor executor, std::chrono::seconds ttl)
    : executor_(std::move(executor)), ttl_(ttl) {}

boost::asio::awaitable<boost::system::result<endpoint_list>> dns_cache::resolve(
    std::string host, std::uint16_t port) {
    std::string key = host + ':' + std::to_string(port);
    {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(key);
        if (it != entries_.end() && it->second.expires > std::chrono::steady_clock::now()) {
            ++hits_;
            co_return it->second.endpoints;
        }
        ++misses_;
    }
    boost::asio::ip::tcp::resolver resolver(executor_);
    auto [ec, results] = co_await resolver.async_resolve(
        host, std::to_string(port), boost::asio::as_tuple(boost::asio::use_awaitable));
    if (ec || results.empty()) {
        co_return fetch_error::dns;
    }
    endpoint_list endpoints;
    for (const auto& r : results) {
        endpoints.push_back(r.endpoint());
    }
    if (ttl_.count() > 0) {
        const auto now = std::chrono::steady_clock::now();
        std::lock_guard lock(mutex_);
        if (entries_.size() >= sweep_threshold) {
            std::erase_if(entries_, [now](const auto& kv) { return kv.second.expires <= now; });
        }
        entries_[std::move(key)] = entry{endpoints, now + ttl_};
    }
    co_return endpoints;
}

std::uint64_t dns_cache::hits() const {
    std::lock_guard lock(mutex_);
    return hits_;
}

std::uint64_t dns_cache::misses() const {
    std::lock_guard lock(mutex_);
    return misses_;
}

}  // namespace harvest::net
