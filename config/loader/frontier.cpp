// `frontier:` (docs/config.md).

#include "config/loader/reader.hpp"

namespace harvest::config::reading {

void read_frontier(const reader& r, const node& n, crawl::crawl_options& crawl) {
    static constexpr auto backends = std::to_array<std::string_view>({"memory", "redis"});
    section s(r, n, "frontier", {"backend", "url", "lease", "redis"});
    std::size_t backend = 0;
    if (const auto* v = s.get("backend")) {
        backend = r.choice(*v, s.path_of("backend"), backends);
    }
    if (const auto* v = s.get("url")) {
        const auto& url = r.text(*v, s.path_of("url"));
        crawl.frontier.url = url;
        constexpr std::string_view sentinel_scheme = "redis-sentinel://";
        constexpr std::string_view cluster_scheme = "redis-cluster://";
        const bool sentinel = url.starts_with(sentinel_scheme);
        const bool cluster = url.starts_with(cluster_scheme);
        if (!url.starts_with("redis://") && !sentinel && !cluster) {
            r.expected(*v, s.path_of("url"),
                       "a redis:// URL like redis://127.0.0.1:6379/0, "
                       "redis-sentinel://host:26379[,host:26379]/mastername or "
                       "redis-cluster://host:6379[,host:6379]");
        } else if (sentinel) {
            const auto hosts = std::string_view(url).substr(sentinel_scheme.size());
            const auto slash = hosts.find('/');
            if (slash == 0 || slash == std::string_view::npos || slash + 1 == hosts.size() ||
                hosts[slash + 1] == '/') {
                r.expected(*v, s.path_of("url"),
                           "Sentinel addresses and the primary's name, like "
                           "redis-sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster");
            }
        } else if (cluster) {
            const auto hosts = std::string_view(url).substr(cluster_scheme.size());
            const auto slash = hosts.find('/');
            const auto path =
                slash == std::string_view::npos ? std::string_view() : hosts.substr(slash + 1);
            if (slash == 0 || hosts.empty() || (!path.empty() && path != "0")) {
                r.expected(*v, s.path_of("url"),
                           "cluster node addresses, like "
                           "redis-cluster://127.0.0.1:7000,127.0.0.1:7001 (a Redis Cluster "
                           "has database 0 only)");
            }
        }
        if (backend != 1) {
            r.error(v->where, "'frontier.url' is used only with backend: redis");
        }
    } else if (backend == 1) {
        r.missing(s, "url", "backend redis needs a URL like redis://127.0.0.1:6379/0");
    }
    if (const auto* v = s.get("lease")) {
        crawl.frontier.lease = r.duration(*v, s.path_of("lease"), true);
    }
    if (const auto* v = s.get("redis")) {
        section redis(r, *v, s.path_of("redis"), {"give_up_after", "command_timeout"});
        if (const auto* g = redis.get("give_up_after")) {
            crawl.frontier.redis_give_up_after =
                r.duration(*g, redis.path_of("give_up_after"), true);
        }
        if (const auto* t = redis.get("command_timeout")) {
            crawl.frontier.redis_command_timeout =
                r.duration(*t, redis.path_of("command_timeout"), true);
        }
        if (backend != 1) {
            r.error(v->where, "'frontier.redis' is used only with backend: redis");
        }
    }
    if (backend == 1) {
        crawl.frontier.backend = crawl::frontier_options::kind::redis;
        r.check_supported("frontier.backend", "redis", s.get("backend")->where, "frontier.backend");
    }
}

}  // namespace harvest::config::reading
