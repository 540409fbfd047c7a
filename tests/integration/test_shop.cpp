// Extraction on a hand-written shop (tests/data/shop, its README says what the pages hold):
// `harvest run` with one `type: product` config crawls the listing pages through nginx, follows
// the product links, and gets one item per product page, all of one shape, with at least 99% of
// the fields the truth lists right. Every field that misses is printed.

#include "tests/integration/support.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <iostream>
#include <set>
#include <sstream>

namespace {

using namespace harvest::test;
namespace json = boost::json;

// One config, as a user writes it from docs/config.md: a product rule whose html fields only
// matter where the page has no structured data.
std::string shop_yaml(const std::string& base) {
    return "name: shop\n"
           "seeds:\n"
           "  - url: " +
           base +
           "/index.html\n"
           "engine: {concurrency: 8, per_host_concurrency: 8, threads: 1, robots_txt: ignore}\n"
           "rate_limit: {per_second: 0, burst: 1}\n"
           "follow:\n"
           "  - css: \"article.product_pod h3 a\"\n"
           "  - css: \"ul.pager a\"\n"
           "extract:\n"
           "  - match: \"/catalogue/[a-z0-9-]+_[0-9]+/\"\n"
           "    type: product\n"
           "    sources: [jsonld, microdata, html]\n"
           "    fields:\n"
           "      id: {css: \"table td\", text: true}\n"
           "      name: {css: h1, text: true}\n"
           "      price: {css: p.price_color, text: true, as: price, currency: USD}\n"
           "      availability: {css: p.availability, text: true, as: availability}\n"
           "      image: {css: \"div.item img\", attribute: src}\n"
           "    required: [name]\n"
           "outputs:\n"
           "  - type: jsonl\n"
           "    path: out/items.jsonl\n";
}

bool same_value(const json::value& got, const json::value& want) {
    if (want.is_number() && got.is_number()) {
        return std::fabs(got.to_number<double>() - want.to_number<double>()) < 1e-9;
    }
    return got == want;
}

std::string shop_replace_all(std::string text, const std::string& from, const std::string& to) {
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
        text.replace(at, from.size(), to);
    }
    return text;
}

}  // namespace

TEST_CASE("a hand-written shop: one product config gets at least 99% of the fields right",
          "[integration][extract][shop]") {
    temp_dir tmp("harvest-shop");
    const fs::path site = source_dir() / "tests/data/shop";
    nginx_server nginx(nginx_options{site, tmp / "nginx", {}, 1});
    const std::string base = nginx.base_url();
    const json::object truth =
        json::parse(shop_replace_all(read_file(site / "truth.json"), "@BASE@", base)).as_object();

    write_file(tmp / "shop.yaml", shop_yaml(base));
    const auto result = run_process(
        {harvest_binary().string(), "run", (tmp / "shop.yaml").string()}, std::chrono::seconds(60));
    INFO(describe(result));
    REQUIRE(result.exit_code == 0);
    const auto items = read_jsonl(tmp / "out/items.jsonl");

    std::size_t right = 0;
    std::size_t total = 0;
    std::ostringstream misses;
    std::set<std::string> seen;
    std::vector<std::string> shape;
    for (const auto& item : items) {
        std::vector<std::string> keys;
        for (const auto& field : item) {
            keys.emplace_back(field.key());
        }
        if (shape.empty()) {
            shape = keys;
        }
        CHECK(keys == shape);  // one shape, whatever the page offered
        const std::string url(item.at("url").as_string());
        const std::string path = url.substr(base.size());
        const auto* want = truth.if_contains(path);
        if (want == nullptr) {
            misses << "an item for a page the truth does not list: " << url << "\n";
            continue;
        }
        CHECK(seen.insert(path).second);
        for (const auto& field : want->as_object()) {
            ++total;
            const auto* got = item.if_contains(field.key());
            if (got != nullptr && same_value(*got, field.value())) {
                ++right;
            } else {
                misses << path << " " << field.key() << ": got "
                       << (got != nullptr ? json::serialize(*got) : "(missing)") << ", want "
                       << json::serialize(field.value()) << "\n";
            }
        }
    }
    for (const auto& page : truth) {
        if (seen.count(std::string(page.key())) == 0) {
            misses << "no item for " << page.key() << "\n";
            total += page.value().as_object().size();
        }
    }
    const double share = total == 0 ? 0.0 : static_cast<double>(right) / static_cast<double>(total);
    INFO(right << " of " << total << " fields right (" << share * 100 << "%)\n" << misses.str());
    CHECK(items.size() == truth.size());
    CHECK(share >= 0.99);
    std::cout << "shop: " << right << " of " << total << " fields right\n" << misses.str();
}
