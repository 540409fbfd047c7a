// `http:` and `http.cache` (docs/config.md).

#include "config/loader/reader.hpp"

namespace harvest::config::reading {

// http.cache: crawl-wide, so read at the top level only (not in a `hosts:` entry).
crawl::http_cache_options read_http_cache(const reader& r, const node& n, const std::string& path) {
    section s(r, n, path, {"mode", "dir", "max_size", "unchanged"});
    crawl::http_cache_options cache;
    r.attempt([&] {
        if (const auto* v = s.get("mode")) {
            static constexpr auto modes =
                std::to_array<std::string_view>({"off", "conditional", "replay"});
            cache.mode = static_cast<crawl::http_cache_options::kind>(
                r.choice(*v, s.path_of("mode"), modes));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("dir")) {
            cache.dir = r.resolve_path(r.text(*v, s.path_of("dir")));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("max_size")) {
            cache.max_size = r.size(*v, s.path_of("max_size"));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("unchanged")) {
            static constexpr auto choices = std::to_array<std::string_view>({"emit", "skip"});
            cache.emit_unchanged = r.choice(*v, s.path_of("unchanged"), choices) == 0;
        }
    });
    if (auto* check = r.checking()) {
        const origin* dir = s.key_origin("dir");
        const origin* mode = s.key_origin("mode");
        check->http_cache_where = dir != nullptr ? *dir : mode != nullptr ? *mode : n.where;
    }
    return cache;
}

crawl::http_options read_http(const reader& r, const node& n, const std::string& path,
                              crawl::http_options http, crawl::http_cache_options* cache) {
    std::vector<std::string_view> keys{"timeouts", "max_body", "max_redirects", "decompress",
                                       "headers",  "tls",      "version",       "cookies"};
    if (cache != nullptr) {
        keys.emplace_back("cache");
        keys.emplace_back("referer");  // crawl-wide only: links are admitted crawl-wide
    }
    section s(r, n, path, keys);
    if (cache != nullptr) {
        r.attempt([&] {
            if (const auto* v = s.get("cache")) {
                *cache = read_http_cache(r, *v, s.path_of("cache"));
            }
        });
    }
    r.attempt([&] {
        if (const auto* v = s.get("timeouts")) {
            section t(r, *v, s.path_of("timeouts"),
                      {"connect", "tls", "response_headers", "idle_read", "total"});
            const std::array<std::pair<std::string_view, std::chrono::milliseconds*>, 5> fields{
                {{"connect", &http.timeouts.connect},
                 {"tls", &http.timeouts.tls},
                 {"response_headers", &http.timeouts.response_headers},
                 {"idle_read", &http.timeouts.idle_read},
                 {"total", &http.timeouts.total}}};
            for (const auto& [key, target] : fields) {
                if (const auto* d = t.get(key)) {
                    *target = r.duration(*d, t.path_of(key), true);
                }
            }
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("version")) {
            static constexpr auto versions = std::to_array<std::string_view>({"auto", "1.1", "2"});
            static constexpr std::array<crawl::http_version, 3> values{
                crawl::http_version::automatic, crawl::http_version::http1_1,
                crawl::http_version::http2};
            http.version = values[r.choice(*v, s.path_of("version"), versions)];
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("max_body")) {
            http.max_body = r.size(*v, s.path_of("max_body"));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("cookies")) {
            http.cookies = r.boolean(*v, s.path_of("cookies"));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("referer")) {
            http.referer = r.boolean(*v, s.path_of("referer"));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("max_redirects")) {
            http.max_redirects =
                static_cast<unsigned>(r.integer(*v, s.path_of("max_redirects"), 0, 100));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("decompress")) {
            static constexpr auto codings =
                std::to_array<std::string_view>({"gzip", "deflate", "br"});
            // The list says exactly what is accepted: [] turns decoding off.
            http.gzip = http.deflate = http.br = false;
            const auto& items = r.list(*v, s.path_of("decompress"));
            for (std::size_t i = 0; i < items.size(); ++i) {
                switch (r.choice(items[i], s.path_of("decompress") + "." + std::to_string(i),
                                 codings)) {
                    case 0:
                        http.gzip = true;
                        break;
                    case 1:
                        http.deflate = true;
                        break;
                    default:
                        http.br = true;
                        break;
                }
            }
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("headers")) {
            // Given headers replace the default set (Accept-Language) rather than add to it.
            http.headers = r.headers(*v, s.path_of("headers"));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("tls")) {
            section t(r, *v, s.path_of("tls"), {"verify", "ca_file"});
            if (const auto* verify = t.get("verify")) {
                http.tls.verify = r.boolean(*verify, t.path_of("verify"));
            }
            if (const auto* ca_file = t.get("ca_file")) {
                http.tls.ca_file = r.resolve_path(r.text(*ca_file, t.path_of("ca_file")));
                // Read when the first https request is made: every one fails without it.
                r.check_readable(*t.key_origin("ca_file"), t.path_of("ca_file"), http.tls.ca_file,
                                 "give a PEM file of CA certificates (a relative path is read "
                                 "from the config's folder)");
            }
        }
    });
    return http;
}

}  // namespace harvest::config::reading
