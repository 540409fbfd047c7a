#pragma once
// Typed settings of the Redis module: the `frontier` section of a crawl config (docs/config.md)
// and what the crawler's Redis backend (redis_backend.hpp) is told of the crawl. Plain values:
// no I/O, no Asio. crawl::crawl_options composes frontier_options.

#include "engine/resilience/options.hpp"

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>

namespace harvest::redis {

using std::chrono::milliseconds;

// `frontier:`: where queued requests live. memory = this process only; redis = shared by every
// worker started with the same config (the crawl's `name` namespaces the keys).
struct frontier_options {
    enum class kind { memory, redis };
    kind backend = kind::memory;
    std::string url;            // redis://host:port/db or redis-sentinel://hosts/name
    milliseconds lease{60000};  // a taken request not completed within this is handed out again
    std::string worker;         // this worker's name (metrics label); empty = hostname-pid
    // frontier.redis.give_up_after: how long a worker keeps reconnecting to a Redis it lost
    // mid-crawl (holding its completions and links) before it stops with an error.
    milliseconds redis_give_up_after{300000};
    // frontier.redis.command_timeout: a Redis command (or connection attempt) unanswered this
    // long counts as Redis lost (a frozen server keeps its connections open).
    milliseconds redis_command_timeout{10000};
};

// What redis_backend is told of the crawl (the session fills it from the crawl's options).
struct backend_options {
    std::string name;  // the crawl's name: it namespaces the keys
    frontier_options frontier;
    std::size_t concurrency = 512;  // engine.concurrency: how many leased requests are held
    bool obey_robots_txt = true;    // engine.robots_txt
    resilience::bucket_options per_host{20, 20};  // rate_limit.per_host
    // Each `hosts:` entry ("host" or "host:port") with its rate_limit (none: rate_limit.per_host).
    std::map<std::string, std::optional<resilience::bucket_options>> hosts;
};

}  // namespace harvest::redis
