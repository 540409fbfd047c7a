#pragma once
// A crawl config's seeds (config.md `seeds`) as the crawler's seed specs: the one conversion
// `harvest run` and library users (config/examples/) share. Header-only: harvest_config itself
// does not link the crawler.

#include "config/crawl_config.hpp"
#include "engine/crawl/seeds.hpp"

#include <utility>
#include <vector>

namespace harvest::config {

inline crawl::seed_spec::kind to_seed_kind(seed_kind kind) noexcept {
    switch (kind) {
        case seed_kind::url:
            return crawl::seed_spec::kind::url;
        case seed_kind::urls_file:
            return crawl::seed_spec::kind::urls_file;
        case seed_kind::template_values:
            return crawl::seed_spec::kind::template_values;
        case seed_kind::sitemap:
            return crawl::seed_spec::kind::sitemap;
    }
    return crawl::seed_spec::kind::url;
}

inline std::vector<crawl::seed_spec> to_seed_specs(const std::vector<seed>& seeds) {
    std::vector<crawl::seed_spec> out;
    out.reserve(seeds.size());
    for (const auto& s : seeds) {
        crawl::seed_spec spec;
        spec.what = to_seed_kind(s.kind);
        spec.url = s.url;
        spec.method = s.method;
        spec.headers = s.headers;
        spec.body = s.body;
        spec.file = s.file;
        out.push_back(std::move(spec));
    }
    return out;
}

}  // namespace harvest::config
