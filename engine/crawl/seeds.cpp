#include "engine/crawl/seeds.hpp"

#include "engine/core/text.hpp"

#include <string_view>
#include <utility>

namespace harvest::crawl {
namespace {

std::string substitute(std::string_view pattern, std::string_view value) {
    std::string out;
    constexpr std::string_view placeholder = "{id}";
    std::size_t start = 0;
    for (auto pos = pattern.find(placeholder); pos != std::string_view::npos;
         pos = pattern.find(placeholder, start)) {
        out.append(pattern.substr(start, pos - start));
        out.append(value);
        start = pos + placeholder.size();
    }
    out.append(pattern.substr(start));
    return out;
}

}  // namespace

seed_stream::seed_stream(std::vector<seed_spec> seeds) : seeds_(std::move(seeds)) {}

void seed_stream::open() {
    for (const auto& seed : seeds_) {
        if (seed.what == seed_spec::kind::url || seed.what == seed_spec::kind::sitemap) {
            continue;
        }
        std::ifstream probe(seed.file);
        if (!probe) {
            throw std::runtime_error("cannot open seed file " + seed.file);
        }
    }
}

std::optional<crawl_request> seed_stream::next() {
    while (index_ < seeds_.size()) {
        const seed_spec& seed = seeds_[index_];
        if (seed.what == seed_spec::kind::url || seed.what == seed_spec::kind::sitemap) {
            ++index_;
            crawl_request request;
            request.http = net::http_request{seed.method, seed.url, seed.headers, seed.body};
            request.sitemap = seed.what == seed_spec::kind::sitemap;
            return request;
        }
        if (!file_) {
            file_ = std::make_unique<std::ifstream>(seed.file);
            if (!*file_) {
                throw std::runtime_error("cannot open seed file " + seed.file);
            }
        }
        std::string line;
        while (std::getline(*file_, line)) {
            std::string_view value = core::trim(line, " \t\r");
            if (value.empty() || value.front() == '#') {
                continue;
            }
            std::string url = seed.what == seed_spec::kind::urls_file ? std::string(value)
                                                                      : substitute(seed.url, value);
            crawl_request request;
            request.http = net::http_request{seed.method, std::move(url), seed.headers, seed.body};
            return request;
        }
        file_.reset();
        ++index_;
    }
    return std::nullopt;
}

}  // namespace harvest::crawl
