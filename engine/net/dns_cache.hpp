#pragma once
// A small DNS cache in front of the Asio resolver: host:port -> endpoints, kept for `ttl`.
// Thread-safe (a mutex guards the map; never held across a suspension point). Internal to the
// network layer.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace harvest::net {

using endpoint_list = std::vector<boost::asio::ip::tcp::endpoint>;

class dns_cache {
  public:
    // Resolvers are created on `executor` (the io_context's).
    dns_cache(boost::asio::any_io_executor executor, std::chrono::seconds ttl);

    // Endpoints of host:port, from the cache while fresh. Errors: fetch_error::dns.
    boost::asio::awaitable<boost::system::result<endpoint_list>> resolve(std::string host,
                                                                         std::uint16_t port);

    // Cache statistics, for tests and metrics.
    std::uint64_t hits() const;
    std::uint64_t misses() const;

  private:
    struct entry {
        endpoint_list endpoints;
        std::chrono::steady_clock::time_point expires;
    };
    boost::asio::any_io_executor executor_;
    std::chrono::seconds ttl_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, entry> entries_;
    std::uint64_t hits_ = 0;
    std::uint64_t misses_ = 0;
};

}  // namespace harvest::net
