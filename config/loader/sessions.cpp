// `sessions:` and `login:` (docs/config.md).

#include "config/loader/reader.hpp"

namespace harvest::config::reading {

// `sessions:` (docs/config.md).
crawl::session_options read_sessions(const reader& r, const node& n) {
    crawl::session_options sessions;
    section s(r, n, "sessions", {"count", "user_agents", "retire_on"});
    r.attempt([&] {
        if (const auto* v = s.get("count")) {
            sessions.count =
                static_cast<std::uint32_t>(r.integer(*v, s.path_of("count"), 1, 10000));
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("user_agents")) {
            const auto& items = r.list(*v, s.path_of("user_agents"));
            for (std::size_t i = 0; i < items.size(); ++i) {
                const std::string item_path = s.path_of("user_agents") + "." + std::to_string(i);
                const auto& agent = r.text(items[i], item_path);
                if (agent.empty()) {
                    r.expected(items[i], item_path, "a User-Agent text, not an empty one");
                }
                sessions.user_agents.push_back(agent);
            }
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("retire_on")) {
            sessions.retire_on.clear();
            const auto& items = r.list(*v, s.path_of("retire_on"));
            for (std::size_t i = 0; i < items.size(); ++i) {
                sessions.retire_on.push_back(static_cast<unsigned>(r.integer(
                    items[i], s.path_of("retire_on") + "." + std::to_string(i), 100, 599)));
            }
        }
    });
    return sessions;
}

// `login:` (docs/config.md): the requests each session sends before the seeds.
std::vector<crawl::login_step> read_login(const reader& r, const node& n) {
    std::vector<crawl::login_step> steps;
    const auto& items = r.list(n, "login");
    for (std::size_t i = 0; i < items.size(); ++i) {
        r.attempt([&] {
            const std::string path = "login." + std::to_string(i);
            section s(r, items[i], path, {"url", "method", "form", "headers", "expect_cookie"});
            crawl::login_step step;
            const auto* url = s.get("url");
            if (url == nullptr) {
                r.error(items[i].where, "'" + path +
                                            "' needs a url: the login form's address, like "
                                            "https://shop.example/login");
            }
            step.url = r.http_url(*url, s.path_of("url"));
            if (const auto* v = s.get("method")) {
                step.method = r.method(*v, s.path_of("method"));
            }
            if (const auto* v = s.get("form")) {
                if (v->type != node::kind::map) {
                    r.expected(*v, s.path_of("form"),
                               "a map of form fields, like {user: me, password: ${SHOP_PASSWORD}}");
                }
                for (const auto& entry : v->entries) {
                    step.form.emplace_back(
                        entry.key, entry.value.type == node::kind::null
                                       ? std::string()
                                       : r.text(entry.value, s.path_of("form") + "." + entry.key));
                }
            }
            if (const auto* v = s.get("headers")) {
                step.headers = r.headers(*v, s.path_of("headers"));
            }
            if (const auto* v = s.get("expect_cookie")) {
                step.expect_cookie = r.text(*v, s.path_of("expect_cookie"));
            }
            steps.push_back(std::move(step));
        });
    }
    return steps;
}

}  // namespace harvest::config::reading
