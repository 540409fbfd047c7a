#include "pipelines/extract/extractor_set.hpp"

#include <array>
#include <stdexcept>
#include <string>
#include <utility>

namespace harvest::pipelines {

std::string_view to_string(extract_type type) noexcept {
    switch (type) {
        case extract_type::json: return "json";
        case extract_type::jsonld: return "jsonld";
        case extract_type::microdata: return "microdata";
        case extract_type::html: return "html";
    }
    return "unknown";
}

extractor_set::extractor_set(std::vector<extract_rule> rules) {
    rules_.reserve(rules.size());
    for (auto& rule : rules) {
        if (rule.type != extract_type::json) {
            throw std::invalid_argument("extract type `" + std::string(to_string(rule.type)) +
                                        "`: not supported yet");
        }
        std::regex match;
        try {
            match = std::regex(rule.match, std::regex::ECMAScript | std::regex::optimize);
        } catch (const std::regex_error& error) {
            throw std::invalid_argument("extract match \"" + rule.match +
                                        "\" is not a valid regex: " + error.what());
        }
        const extract_type type = rule.type;
        rules_.push_back(compiled_rule{type, std::move(match), json_extractor(std::move(rule))});
    }
}

extract_outcome extractor_set::extract(const crawl::fetched_page& page,
                                       std::vector<item>& out) const {
    const std::string& url =
        page.response.final_url.empty() ? page.request.http.url : page.response.final_url;
    extract_outcome outcome;
    std::array<bool, 4> type_done{};  // indexed by extract_type: the first match per type wins
    for (const auto& rule : rules_) {
        auto& done = type_done[static_cast<std::size_t>(rule.type)];
        if (done || !std::regex_search(url, rule.match)) {
            continue;
        }
        done = true;
        outcome += rule.json.extract(url, page.fetched_at, page.response.status,
                                     page.response.body, out);
    }
    return outcome;
}

}  // namespace harvest::pipelines
