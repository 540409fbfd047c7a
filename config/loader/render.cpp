// A rule's `render:` and the `render:` section (docs/config.md).

#include "config/loader/reader.hpp"

namespace harvest::config::reading {

// A rule's `render:` true, false, or {wait_for, timeout, block, scroll}; nothing for false.
std::optional<crawl::render_options> read_render_rule(const reader& r, const node& n,
                                                      const std::string& path) {
    crawl::render_options options;
    if (n.type == node::kind::scalar) {
        if (r.boolean(n, path)) {
            return options;
        }
        return std::nullopt;
    }
    if (n.type != node::kind::map) {
        r.expected(n, path, "true, false or a map like {wait_for: \"#products\", timeout: 15s}");
    }
    section s(r, n, path, {"wait_for", "timeout", "block", "scroll"});
    if (const auto* v = s.get("wait_for")) {
        const auto& text = r.text(*v, s.path_of("wait_for"));
        if (text == "load") {
            options.wait_for = crawl::render_options::wait::load;
        } else if (text == "network_idle") {
            options.wait_for = crawl::render_options::wait::network_idle;
        } else {
            // Anything else is a CSS selector, checked as the extractors would compile it.
            options.selector = css_selector(r, *v, s.path_of("wait_for"));
            options.wait_for = crawl::render_options::wait::selector;
        }
    }
    if (const auto* v = s.get("timeout")) {
        options.timeout = r.duration(*v, s.path_of("timeout"), true);
    }
    if (const auto* v = s.get("block")) {
        static constexpr auto kinds =
            std::to_array<std::string_view>({"image", "font", "media", "stylesheet"});
        options.block.clear();
        const auto& items = r.list(*v, s.path_of("block"));
        for (std::size_t i = 0; i < items.size(); ++i) {
            const auto index =
                r.choice(items[i], s.path_of("block") + "." + std::to_string(i), kinds);
            options.block.emplace_back(kinds[index]);
        }
    }
    if (const auto* v = s.get("scroll")) {
        options.scroll = r.boolean(*v, s.path_of("scroll"));
    }
    return options;
}

// `render:` at the top level: the browser pool every rendering rule shares.
void read_render_pool(const reader& r, const node& n, crawl::render_pool_options& pool) {
    section s(r, n, "render",
              {"chromium", "browsers", "tabs_per_browser", "pages_per_tab", "max_rss",
               "start_timeout", "command_timeout", "max_attempts"});
    r.attempt([&] {
        if (const auto* v = s.get("chromium")) {
            pool.chromium = r.resolve_path(r.text(*v, s.path_of("chromium")));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("browsers")) {
            pool.browsers = r.count(*v, s.path_of("browsers"), 1);
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("tabs_per_browser")) {
            pool.tabs_per_browser = r.count(*v, s.path_of("tabs_per_browser"), 1);
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("pages_per_tab")) {
            pool.pages_per_tab = r.count(*v, s.path_of("pages_per_tab"), 1);
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("max_rss")) {
            pool.max_rss = r.size(*v, s.path_of("max_rss"));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("start_timeout")) {
            pool.start_timeout = r.duration(*v, s.path_of("start_timeout"), true);
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("command_timeout")) {
            pool.command_timeout = r.duration(*v, s.path_of("command_timeout"), true);
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("max_attempts")) {
            pool.max_attempts = r.count(*v, s.path_of("max_attempts"), 1);
        }
    });
}

}  // namespace harvest::config::reading
