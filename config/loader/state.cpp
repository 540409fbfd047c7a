// `state:` (docs/config.md).

#include "config/loader/reader.hpp"

namespace harvest::config::reading {

void read_state(const reader& r, const node& n, crawl::crawl_options& crawl,
                origin& state_dir_where) {
    section s(r, n, "state", {"dir", "journal"});
    r.attempt([&] {
        if (const auto* v = s.get("dir")) {
            crawl.state_dir = r.resolve_path(r.text(*v, s.path_of("dir")));
            state_dir_where = *s.key_origin("dir");
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("journal")) {
            crawl.journal = r.boolean(*v, s.path_of("journal"));
        }
    });
    r.check_supported("state", "", n.where, "state");
}

}  // namespace harvest::config::reading
