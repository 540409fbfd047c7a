// End-to-end link following and HTML / JSON-LD extraction: `harvest run` starts from the
// generated catalog's first listing page, follows a.product-link and a[rel=next] through nginx,
// and extracts every product page twice (JSON-LD Product, HTML fields); the items are compared
// with the generator's ground truth and the crawl's extent with nginx's access log.

#include "tests/integration/support.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <unordered_map>

namespace {

using namespace harvest::test;
namespace json = boost::json;

constexpr int catalog_products = 230;  // 5 listing pages of 50 (the last one holds 30)
constexpr int per_page = 50;           // gen_catalog.py's default

struct catalog_site {
    catalog_site() : tmp("harvest-pipelines"), site(tmp / "site") {
        generate_catalog(site, {catalog_products, 1, 0.2});
        nginx = std::make_unique<nginx_server>(nginx_options{site, tmp / "nginx", {}, 1});
        for (const auto& line : read_lines(site / "truth.jsonl")) {
            auto product = json::parse(line).as_object();
            std::string asin(product.at("asin").as_string());
            asins.push_back(asin);
            truth.emplace(asin, std::move(product));
        }
    }

    temp_dir tmp;
    fs::path site;
    std::unique_ptr<nginx_server> nginx;
    std::vector<std::string> asins;  // product order: listing page n holds [(n-1)*50, n*50)
    std::unordered_map<std::string, json::object> truth;
};

// follow_extra: appended to the rel=next follow rule (e.g. its own max_depth).
std::string pipelines_yaml(const std::string& base, unsigned engine_max_depth,
                           const std::string& next_rule_extra = "") {
    return "name: pipelines\n"
           "seeds:\n"
           "  - url: " +
           base +
           "/catalog/page-1.html\n"
           "engine:\n"
           "  concurrency: 16\n"
           "  per_host_concurrency: 16\n"
           "  threads: 2\n"
           "  robots_txt: obey\n"
           "  max_depth: " +
           std::to_string(engine_max_depth) +
           "\n"
           "rate_limit:\n"
           "  per_second: 0\n"
           "  burst: 1\n"
           "retry:\n"
           "  max_attempts: 3\n"
           "  backoff: {strategy: full_jitter, base: 50ms, max: 200ms}\n"
           "follow:\n"
           "  - css: a.product-link\n"
           "    allow: [\"^/p/\"]\n"
           "  - css: \"a[rel=next]\"\n" +
           next_rule_extra +
           "extract:\n"
           "  - match: \"/p/\"\n"
           "    type: jsonld\n"
           "    schema: Product\n"
           "    required: [id]\n"
           "  - match: \"/p/\"\n"
           "    type: html\n"
           "    fields:\n"
           "      title: {css: \"h1#title\", text: true}\n"
           "      price: {css: \"span.price\", as: price}\n"
           "    required: [title]\n"
           "outputs:\n"
           "  - type: jsonl\n"
           "    path: out/items.jsonl\n";
}

struct pipelines_run {
    process_result result;
    std::vector<json::object> items;
    std::vector<json::object> errors;
};

pipelines_run pipelines_crawl(const fs::path& dir, const std::string& yaml) {
    pipelines_run run;
    fs::create_directories(dir);
    write_file(dir / "cfg.yaml", yaml);
    run.result = run_process({harvest_binary().string(), "run", (dir / "cfg.yaml").string()},
                             std::chrono::seconds(90));
    run.items = read_jsonl(dir / "out/items.jsonl");
    run.errors = read_jsonl(errors_path_for(dir / "out/items.jsonl"));
    return run;
}

// gen_catalog.py writes <h1> text with surrounding newlines; html_field normalizes whitespace.
std::string normalize_space(std::string_view text) {
    std::string out;
    bool space = false;
    for (const char c : text) {
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
            space = !out.empty();
            continue;
        }
        if (space) {
            out.push_back(' ');
            space = false;
        }
        out.push_back(c);
    }
    return out;
}

std::string pipelines_availability_kind(std::string_view url) {
    static const std::unordered_map<std::string, std::string> kinds = {
        {"InStock", "in_stock"},          {"OutOfStock", "out_of_stock"},
        {"PreOrder", "preorder"},         {"BackOrder", "backorder"},
        {"Discontinued", "discontinued"}, {"LimitedAvailability", "limited"},
        {"OnlineOnly", "online_only"},
    };
    return kinds.at(std::string(url.substr(url.rfind('/') + 1)));
}

// The currency parse_price gives for gen_catalog.py's price texts ("$1.00" keeps its symbol).
std::string html_currency(std::string_view currency) {
    return currency == "USD" ? "$" : std::string(currency);
}

struct checked_items {
    std::set<std::string> jsonld_ids;
    std::set<std::string> html_ids;
    std::vector<std::string> problems;
};

// Splits the items into JSON-LD products (they have `name`) and HTML items (`title`), checks
// each against the truth of the product its URL names, and collects the ids seen per kind.
checked_items pipelines_check_items(const catalog_site& site,
                                    const std::vector<json::object>& items,
                                    const std::string& base) {
    checked_items result;
    auto& problems = result.problems;
    for (const auto& item : items) {
        const auto* url = item.if_contains("url");
        const std::string prefix = base + "/p/";
        if (url == nullptr || !url->is_string() || url->as_string().find(prefix) != 0) {
            problems.push_back("item from an unexpected page: " + json::serialize(item));
            continue;
        }
        std::string page_url(url->as_string());
        const std::string asin =
            page_url.substr(prefix.size(), page_url.size() - prefix.size() - 5);
        const auto found = site.truth.find(asin);
        if (found == site.truth.end()) {
            problems.push_back("item from an unknown product page: " + page_url);
            continue;
        }
        const json::object& truth = found->second;
        std::ostringstream diff;
        const auto expect = [&](std::string_view name, const json::value& want) {
            const auto* got = item.if_contains(name);
            if (got == nullptr || !json_equal(*got, want)) {
                diff << name << ": got " << (got ? json::serialize(*got) : "<missing>") << ", want "
                     << json::serialize(want) << "; ";
            }
        };
        expect("status", 200);
        if (item.contains("name")) {  // JSON-LD Product
            if (!result.jsonld_ids.insert(asin).second) {
                problems.push_back("duplicate JSON-LD item " + asin);
            }
            expect("id", truth.at("asin"));
            expect("name", truth.at("title"));
            expect("brand", truth.at("brand"));
            expect("price", truth.at("price"));
            expect("currency", truth.at("currency"));
            expect("availability",
                   json::value(pipelines_availability_kind(truth.at("availability").as_string())));
            expect("rating", truth.at("rating"));
            expect("review_count",
                   truth.at("rating").is_null() ? json::value(nullptr) : truth.at("review_count"));
        } else {  // HTML fields
            if (!result.html_ids.insert(asin).second) {
                problems.push_back("duplicate HTML item " + asin);
            }
            expect("title", json::value(normalize_space(truth.at("title").as_string())));
            expect("price", truth.at("price"));
            if (!truth.at("price").is_null()) {
                expect("currency", json::value(html_currency(truth.at("currency").as_string())));
            }
        }
        if (!diff.str().empty()) {
            problems.push_back(asin + ": " + diff.str());
        }
    }
    return result;
}

std::set<std::string> asins_of_pages(const catalog_site& site, int first_page, int last_page) {
    std::set<std::string> result;
    for (int i = (first_page - 1) * per_page;
         i < std::min<int>(last_page * per_page, static_cast<int>(site.asins.size())); ++i) {
        result.insert(site.asins[static_cast<std::size_t>(i)]);
    }
    return result;
}

void pipelines_report(const std::vector<std::string>& problems) {
    for (std::size_t i = 0; i < problems.size() && i < 20; ++i) {
        UNSCOPED_INFO(problems[i]);
    }
    CHECK(problems.empty());
}

}  // namespace

TEST_CASE("follow + jsonld + html: every product of the catalog exactly once, equal to the truth",
          "[integration][pipelines]") {
    catalog_site site;
    const std::string base = site.nginx->base_url();
    const auto run = pipelines_crawl(site.tmp / "all", pipelines_yaml(base, 0));
    INFO(describe(run.result));
    REQUIRE(run.result.exit_code == 0);
    CHECK(run.errors.empty());

    const auto checked = pipelines_check_items(site, run.items, base);
    pipelines_report(checked.problems);
    const auto all = asins_of_pages(site, 1, 5);
    REQUIRE(all.size() == static_cast<std::size_t>(catalog_products));
    CHECK(checked.jsonld_ids == all);
    CHECK(checked.html_ids == all);
    CHECK(run.items.size() == 2 * all.size());

    // What nginx saw: every listing page and product page once (links found on several pages
    // are the crawler's to deduplicate), robots.txt, nothing else.
    const auto counts = site.nginx->request_counts();
    std::vector<std::string> unexpected;
    std::size_t product_pages = 0;
    std::size_t listing_pages = 0;
    for (const auto& [uri, count] : counts) {
        if (count != 1) {
            unexpected.push_back(uri + " requested " + std::to_string(count) + " times");
        }
        if (uri.rfind("/p/", 0) == 0) {
            ++product_pages;
        } else if (uri.rfind("/catalog/page-", 0) == 0) {
            ++listing_pages;
        } else if (uri != "/robots.txt") {
            unexpected.push_back("unexpected request " + uri);
        }
    }
    pipelines_report(unexpected);
    CHECK(product_pages == all.size());
    CHECK(listing_pages == 5);
}

TEST_CASE("engine.max_depth and a follow rule's max_depth bound the crawl",
          "[integration][pipelines]") {
    catalog_site site;
    const std::string base = site.nginx->base_url();

    SECTION("engine.max_depth: 1 = the seed page's products and the next listing page") {
        const auto run = pipelines_crawl(site.tmp / "engine", pipelines_yaml(base, 1));
        INFO(describe(run.result));
        REQUIRE(run.result.exit_code == 0);
        const auto checked = pipelines_check_items(site, run.items, base);
        pipelines_report(checked.problems);
        CHECK(checked.jsonld_ids == asins_of_pages(site, 1, 1));
        CHECK(checked.html_ids == asins_of_pages(site, 1, 1));
        const auto counts = site.nginx->request_counts();
        CHECK(counts.count("/catalog/page-2.html") == 1);  // depth 1: fetched, not followed
        CHECK(counts.count("/catalog/page-3.html") == 0);
        const auto page_2_product = "/p/" + site.asins[per_page] + ".html";
        CHECK(counts.count(page_2_product) == 0);
    }

    SECTION("the rel=next rule's max_depth: 2 = listing pages 1 to 3 and their products") {
        const auto run =
            pipelines_crawl(site.tmp / "rule", pipelines_yaml(base, 0, "    max_depth: 2\n"));
        INFO(describe(run.result));
        REQUIRE(run.result.exit_code == 0);
        const auto checked = pipelines_check_items(site, run.items, base);
        pipelines_report(checked.problems);
        // Page 3 has depth 2: its product links (depth 3) come from the unlimited rule.
        CHECK(checked.jsonld_ids == asins_of_pages(site, 1, 3));
        CHECK(checked.html_ids == asins_of_pages(site, 1, 3));
        const auto counts = site.nginx->request_counts();
        CHECK(counts.count("/catalog/page-3.html") == 1);
        CHECK(counts.count("/catalog/page-4.html") == 0);
    }
}
