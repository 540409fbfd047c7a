// `seeds:` (docs/config.md).

#include "config/loader/reader.hpp"

namespace harvest::config::reading {

std::vector<seed> read_seeds(const reader& r, const section& top) {
    const node* n = top.get("seeds");
    if (n == nullptr) {
        const origin* key = top.key_origin("seeds");
        r.error(key != nullptr ? *key : top.self().where,
                "'seeds' needs at least one entry, like '- url: http://host/page'");
    }
    const auto& items = r.list(*n, "seeds");
    if (items.empty()) {
        r.error(n->where, "'seeds' needs at least one entry, like '- url: http://host/page'");
    }
    std::vector<seed> seeds;
    for (std::size_t i = 0; i < items.size(); ++i) {
        r.attempt([&] {
            const std::string path = "seeds." + std::to_string(i);
            section s(r, items[i], path,
                      {"url", "method", "headers", "body", "urls_file", "sitemap", "template",
                       "values_file"});
            seed out;
            int kinds = 0;
            if (const auto* v = s.get("url")) {
                ++kinds;
                out.kind = seed_kind::url;
                out.url = r.http_url(*v, s.path_of("url"));
            }
            if (const auto* v = s.get("urls_file")) {
                ++kinds;
                out.kind = seed_kind::urls_file;
                out.file = r.resolve_path(r.text(*v, s.path_of("urls_file")));
                r.check_readable(
                    *s.key_origin("urls_file"), s.path_of("urls_file"), out.file,
                    "give a file of URLs, one a line (a relative path is read from the "
                    "config's folder)");
            }
            if (const auto* v = s.get("sitemap")) {
                ++kinds;
                out.kind = seed_kind::sitemap;
                out.url = r.http_url(*v, s.path_of("sitemap"));
            }
            if (const auto* v = s.get("template")) {
                ++kinds;
                out.kind = seed_kind::template_values;
                out.url = r.text(*v, s.path_of("template"));
                std::string probe = out.url;
                const auto at = probe.find("{id}");
                if (at == std::string::npos) {
                    r.error(v->where, "'" + s.path_of("template") +
                                          "' must contain {id} where each value goes (got " +
                                          quote_text(out.url) + ")");
                }
                probe.replace(at, 4, "id");
                if (!core::is_http_url(probe)) {
                    r.expected(*v, s.path_of("template"),
                               "an absolute http:// or https:// URL with {id} in it");
                }
                const auto* values = s.get("values_file");
                if (values == nullptr) {
                    r.missing(s, "values_file",
                              "a template seed needs a file of values, one a line");
                }
                out.file = r.resolve_path(r.text(*values, s.path_of("values_file")));
                r.check_readable(*s.key_origin("values_file"), s.path_of("values_file"), out.file,
                                 "give a file of values for {id}, one a line (a relative path is "
                                 "read from the config's folder)");
            } else if (const auto* values = s.get("values_file")) {
                r.error(values->where, "'" + s.path_of("values_file") +
                                           "' goes with 'template'; add template: "
                                           "\"http://host/items/{id}\" or remove it");
            }
            if (kinds != 1) {
                r.error(items[i].where, "'" + path +
                                            "' must have exactly one of url, urls_file, "
                                            "sitemap, template (got " +
                                            std::to_string(kinds) + ")");
            }
            if (const auto* v = s.get("method")) {
                out.method = r.method(*v, s.path_of("method"));
            }
            if (const auto* v = s.get("headers")) {
                out.headers = r.headers(*v, s.path_of("headers"));
            }
            if (const auto* v = s.get("body")) {
                out.body = r.text(*v, s.path_of("body"));
            }
            if (out.kind == seed_kind::sitemap) {
                r.check_supported("seeds.sitemap", "", s.get("sitemap")->where,
                                  s.path_of("sitemap"));
            }
            seeds.push_back(std::move(out));
        });
    }
    return seeds;
}

}  // namespace harvest::config::reading
