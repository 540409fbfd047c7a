// `engine:` (docs/config.md).

#include "config/loader/reader.hpp"

namespace harvest::config::reading {

crawl::engine_options read_engine(const reader& r, const node& n) {
    section s(r, n, "engine",
              {"concurrency", "per_host_concurrency", "threads", "network_threads", "user_agent",
               "robots_txt", "max_depth", "dedup", "max_requests", "frontier_memory"});
    crawl::engine_options engine;
    r.attempt([&] {
        if (const auto* v = s.get("concurrency")) {
            engine.concurrency = r.integer(*v, s.path_of("concurrency"), 1, UINT32_MAX);
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("per_host_concurrency")) {
            engine.per_host_concurrency =
                r.integer(*v, s.path_of("per_host_concurrency"), 1, UINT32_MAX);
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("threads")) {
            engine.threads = static_cast<unsigned>(r.integer(*v, s.path_of("threads"), 0, 1024));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("network_threads")) {
            engine.network_threads =
                static_cast<unsigned>(r.integer(*v, s.path_of("network_threads"), 1, 1024));
            if (engine.threads != 0 && engine.network_threads > engine.threads) {
                r.error(v->where, "'" + s.path_of("network_threads") + "' must be at most " +
                                      s.path_of("threads") + " (" + std::to_string(engine.threads) +
                                      "), got " + std::to_string(engine.network_threads));
            }
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("user_agent")) {
            engine.user_agent = r.header_value(*v, s.path_of("user_agent"));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("robots_txt")) {
            static constexpr auto options = std::to_array<std::string_view>({"obey", "ignore"});
            const auto index = r.choice(*v, s.path_of("robots_txt"), options);
            engine.obey_robots_txt = index == 0;
            r.check_supported("engine.robots_txt", options[index], v->where,
                              s.path_of("robots_txt"));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("max_depth")) {
            engine.max_depth = r.count(*v, s.path_of("max_depth"));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("dedup")) {
            engine.dedup = r.boolean(*v, s.path_of("dedup"));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("max_requests")) {
            engine.max_requests = r.integer(*v, s.path_of("max_requests"), 0, UINT64_MAX);
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("frontier_memory")) {
            engine.frontier_memory = r.size(*v, s.path_of("frontier_memory"));
        }
    });
    return engine;
}

}  // namespace harvest::config::reading
