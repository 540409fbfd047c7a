// `metrics:` (docs/config.md).

#include "config/loader/reader.hpp"

namespace harvest::config::reading {

void read_metrics(const reader& r, const node& n, crawl::crawl_options& crawl) {
    section s(r, n, "metrics", {"listen", "host_label_limit", "linger"});
    r.attempt([&] {
        if (const auto* v = s.get("listen")) {
            const auto& listen = r.text(*v, s.path_of("listen"));
            const auto colon = listen.rfind(':');
            unsigned long port = 0;
            bool valid = colon != std::string::npos && colon > 0;
            if (valid) {
                const char* begin = listen.data() + colon + 1;
                const char* end = listen.data() + listen.size();
                const auto [ptr, ec] = std::from_chars(begin, end, port);
                valid = ec == std::errc() && ptr == end && port <= 65535;
            }
            if (!valid) {
                r.expected(*v, s.path_of("listen"), "host:port like 127.0.0.1:9464");
            }
            crawl.metrics_listen = listen;
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("host_label_limit")) {
            crawl.host_label_limit = r.count(*v, s.path_of("host_label_limit"), 1);
        }
    });
    r.attempt([&] {
        if (const auto* v = s.get("linger")) {
            // A bare 0 turns it off, as the docs write it; anything else needs its unit.
            const std::string what = "a duration like 30s or 2m, or 0 to exit at once";
            if (v->type != node::kind::scalar) {
                r.expected(*v, s.path_of("linger"), what);
            }
            std::chrono::milliseconds linger{};
            if (v->scalar != "0") {
                try {
                    linger = parse_duration(v->scalar);
                } catch (const std::invalid_argument&) {
                    r.expected(*v, s.path_of("linger"), what);
                }
            }
            crawl.metrics_linger = linger;  // parse_duration reads no sign: never negative
        }
    });
    r.check_supported("metrics", "", n.where, "metrics");
}

}  // namespace harvest::config::reading
