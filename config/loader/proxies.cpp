// `proxies:`, `proxies_file:` and the keys that tune them (docs/config.md).

#include "config/loader/reader.hpp"

#include "engine/core/proxy_url.hpp"

#include <fstream>

namespace harvest::config::reading {

// `proxies:` (a list of proxy URLs), `proxies_file:` (one a line, # comments), and the keys
// that tune them. A bad URL is reported where it is written, in the config or in the file.
void read_proxies(const reader& r, const section& top, crawl::crawl_options& crawl) {
    auto& proxy = crawl.proxy;
    r.attempt([&] {
        if (const auto* v = top.get("proxies")) {
            const auto& items = r.list(*v, "proxies");
            for (std::size_t i = 0; i < items.size(); ++i) {
                const std::string path = "proxies." + std::to_string(i);
                const auto& text = r.text(items[i], path);
                std::string why;
                auto url = core::parse_proxy_url(text, &why);
                if (!url) {
                    // The URL itself is not echoed: it may carry a password.
                    r.error(items[i].where, "'" + path + "' is not a valid proxy URL: " + why);
                }
                proxy.list.push_back(std::move(*url));
            }
        }
        proxy.listed = proxy.list.size();
    });
    r.attempt([&] {
        if (const auto* v = top.get("proxies_file")) {
            proxy.file = r.resolve_path(r.text(*v, "proxies_file"));
            std::ifstream in(proxy.file);
            if (!in) {
                r.error(v->where, "'proxies_file' cannot be read: " + proxy.file +
                                      " (give a file with one proxy URL a line)");
            }
            if (auto bad = core::read_proxy_lines(in, proxy.list)) {
                origin where;
                where.line = bad->line;
                where.column = bad->column;
                detail::fail(proxy.file, where, bad->why);
            }
        }
    });
    r.attempt([&] {
        if (const auto* v = top.get("proxy_rotation")) {
            static constexpr auto rotations = std::to_array<std::string_view>(
                {"round_robin", "random", "sticky_per_host", "sticky_per_session"});
            proxy.rotation =
                static_cast<crawl::proxy_rotation>(r.choice(*v, "proxy_rotation", rotations));
        }
    });
    r.attempt([&] {
        if (const auto* v = top.get("proxy_ban")) {
            section s(r, *v, "proxy_ban", {"status", "body", "bench_for"});
            if (const auto* status = s.get("status")) {
                proxy.ban_status.clear();
                const auto& items = r.list(*status, s.path_of("status"));
                for (std::size_t i = 0; i < items.size(); ++i) {
                    proxy.ban_status.push_back(static_cast<unsigned>(r.integer(
                        items[i], s.path_of("status") + "." + std::to_string(i), 100, 599)));
                }
            }
            if (const auto* body = s.get("body")) {
                proxy.ban_body = r.regex(*body, s.path_of("body"));
            }
            if (const auto* bench = s.get("bench_for")) {
                proxy.bench_for = r.duration(*bench, s.path_of("bench_for"), true);
            }
        }
    });
    r.attempt([&] {
        if (const auto* v = top.get("proxy_rate_limit")) {
            section s(r, *v, "proxy_rate_limit", {"per_second", "burst"});
            proxy.rate = read_bucket(r, s, proxy.rate);
        }
    });
}

}  // namespace harvest::config::reading
