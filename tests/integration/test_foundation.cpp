// End-to-end tests of the foundation: `harvest run` against a real nginx serving a generated
// catalog, checked field by field against the generator's ground truth (truth.jsonl) and
// against nginx's own access log (what was really requested, how it was encoded).

#include "tests/integration/support.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <unordered_map>

namespace {

using namespace harvest::test;
namespace json = boost::json;

constexpr int catalog_size = 2000;

// A generated catalog served by nginx, in its own temp folder.
struct site_fixture {
    explicit site_fixture(bool with_tls = false, int products = catalog_size)
        : tmp("harvest-foundation"), site(tmp / "site") {
        generate_catalog(site, {products, 1, 0.2});
        if (with_tls) {
            pki = make_test_pki(tmp / "pki");
        }
        nginx = std::make_unique<nginx_server>(nginx_options{site, tmp / "nginx", pki, 1});
        for (const auto& line : read_lines(site / "truth.jsonl")) {
            auto obj = json::parse(line).as_object();
            std::string asin(obj.at("asin").as_string());
            asins.push_back(asin);
            truth.emplace(asin, std::move(obj));
        }
    }

    temp_dir tmp;
    fs::path site;
    std::optional<test_pki> pki;
    std::unique_ptr<nginx_server> nginx;
    std::vector<std::string> asins;
    std::unordered_map<std::string, json::object> truth;
};

// The crawl config written for every run: per config.md, robots ignored explicitly (not
// implemented yet), no rate limit, a breaker that cannot decide below 10 calls. One engine
// thread runs without strands (the runner serializes on that thread), so both are exercised.
std::string crawl_yaml(const std::string& seeds, const std::string& http_extra = "",
                       int threads = 2, int network_threads = 1) {
    return "name: foundation\n"
           "seeds:\n" +
           seeds +
           "engine:\n"
           "  concurrency: 32\n"
           "  per_host_concurrency: 32\n"
           "  threads: " +
           std::to_string(threads) + "\n  network_threads: " + std::to_string(network_threads) +
           "\n"
           "  robots_txt: ignore\n"
           "  dedup: true\n"
           "http:\n"
           "  timeouts: {connect: 5s, tls: 5s, response_headers: 15s, idle_read: 15s, total: 30s}\n"
           "  max_redirects: 5\n" +
           http_extra +
           "rate_limit:\n"
           "  per_second: 0\n"
           "  burst: 1\n"
           "retry:\n"
           "  max_attempts: 3\n"
           "  backoff: {strategy: full_jitter, base: 50ms, max: 200ms}\n"
           "circuit_breaker:\n"
           "  window: 20\n"
           "  min_calls: 10\n"
           "  failure_rate: 0.5\n"
           "  open_for: 30s\n"
           "extract:\n"
           "  - match: \"/api/products/\"\n"
           "    type: json\n"
           "    fields:\n"
           "      id: /asin\n"
           "      title: {pointer: /title, as: string}\n"
           "      brand: /brand\n"
           "      price: {pointer: /price, as: price}\n"
           "      currency: /currency\n"
           "      availability: /availability\n"
           "      stock: {pointer: /availability, as: availability}\n"
           "      rating: {pointer: /rating, as: number}\n"
           "      review_count: {pointer: /review_count, as: int}\n"
           "      categories: /categories\n"
           "      seller: /seller\n"
           "      page: /url\n"
           "    required: [id]\n"
           "outputs:\n"
           "  - type: jsonl\n"
           "    path: out/items.jsonl\n";
}

struct foundation_run {
    fs::path dir;
    process_result result;
    std::vector<json::object> items;
    std::vector<json::object> errors;
    json::object stats;
};

// Writes dir/cfg.yaml and runs `harvest run cfg.yaml --stats-json stats.json` in dir.
foundation_run foundation_crawl(const fs::path& dir, const std::string& yaml) {
    foundation_run run;
    run.dir = dir;
    write_file(dir / "cfg.yaml", yaml);
    run.result = run_process({harvest_binary().string(), "run", (dir / "cfg.yaml").string(),
                              "--stats-json", (dir / "stats.json").string()},
                             std::chrono::seconds(90));
    run.items = read_jsonl(dir / "out/items.jsonl");
    run.errors = read_jsonl(errors_path_for(dir / "out/items.jsonl"));
    if (fs::exists(dir / "stats.json")) {
        auto v = json::parse(read_file(dir / "stats.json"));
        if (v.is_object()) {
            run.stats = v.as_object();
        }
    }
    return run;
}

std::string template_seed(const std::string& base, const fs::path& values) {
    return "  - template: \"" + base +
           "/api/products/{id}.json\"\n"
           "    values_file: " +
           values.string() + "\n";
}

std::string foundation_availability_kind(std::string_view url) {
    static const std::unordered_map<std::string, std::string> kinds = {
        {"InStock", "in_stock"},          {"OutOfStock", "out_of_stock"},
        {"PreOrder", "preorder"},         {"BackOrder", "backorder"},
        {"Discontinued", "discontinued"}, {"LimitedAvailability", "limited"},
        {"OnlineOnly", "online_only"},
    };
    auto name = std::string(url.substr(url.rfind('/') + 1));
    return kinds.at(name);
}

// Compares one item with the product it came from; returns what differs ("" when equal).
std::string item_mismatch(const json::object& item, const json::object& truth,
                          const std::string& expected_url) {
    std::ostringstream diff;
    auto field = [&](std::string_view name) -> json::value {
        const auto* v = item.if_contains(name);
        return v != nullptr ? *v : json::value("<missing>");
    };
    auto expect = [&](std::string_view name, const json::value& want) {
        auto got = field(name);
        if (!json_equal(got, want)) {
            diff << name << ": got " << json::serialize(got) << ", want " << json::serialize(want)
                 << "; ";
        }
    };
    expect("id", truth.at("asin"));
    expect("title", truth.at("title"));
    expect("brand", truth.at("brand"));
    expect("price", truth.at("price"));
    expect("currency", truth.at("currency"));
    expect("availability", truth.at("availability"));
    expect("stock",
           json::value(foundation_availability_kind(truth.at("availability").as_string())));
    expect("rating", truth.at("rating"));
    expect("review_count", truth.at("review_count"));
    expect("categories", truth.at("categories"));
    expect("seller", truth.at("seller"));
    expect("page", truth.at("url"));
    expect("url", json::value(expected_url));
    expect("status", json::value(200));
    static const std::regex rfc3339(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$)");
    auto fetched_at = field("fetched_at");
    if (!fetched_at.is_string() ||
        !std::regex_match(std::string(fetched_at.as_string()), rfc3339)) {
        diff << "fetched_at: " << json::serialize(fetched_at) << " is not RFC 3339 UTC; ";
    }
    return diff.str();
}

// Every item must be a distinct product of the catalog, equal to its truth; returns the ids.
std::set<std::string> check_items(const site_fixture& f, const std::vector<json::object>& items,
                                  const std::string& base) {
    std::set<std::string> seen;
    std::vector<std::string> problems;
    for (const auto& item : items) {
        const auto* id = item.if_contains("id");
        if (id == nullptr || !id->is_string() || f.truth.count(std::string(id->as_string())) == 0) {
            problems.push_back("unknown item " + json::serialize(item));
            continue;
        }
        std::string asin(id->as_string());
        if (!seen.insert(asin).second) {
            problems.push_back("duplicate item " + asin);
            continue;
        }
        auto d = item_mismatch(item, f.truth.at(asin), base + "/api/products/" + asin + ".json");
        if (!d.empty()) {
            problems.push_back(asin + ": " + d);
        }
    }
    for (std::size_t i = 0; i < problems.size() && i < 10; ++i) {
        UNSCOPED_INFO(problems[i]);
    }
    CHECK(problems.empty());
    return seen;
}

}  // namespace

TEST_CASE("foundation: a template seed over every ASIN yields the catalog exactly",
          "[integration]") {
    // Engine threads and network threads: one thread; a network thread and 1 or 3 extraction
    // threads; two network threads (strands) and one extraction thread.
    const auto [threads, network] =
        GENERATE(std::pair{1, 1}, std::pair{2, 1}, std::pair{4, 1}, std::pair{3, 2});
    site_fixture f;
    auto run = foundation_crawl(
        f.tmp / "run",
        crawl_yaml(template_seed(f.nginx->base_url(), f.site / "asins.txt"), "", threads, network));
    INFO("threads " << threads << ", network " << network << ": " << describe(run.result));
    REQUIRE(run.result.exit_code == 0);
    CHECK(run.items.size() == catalog_size);
    CHECK(run.errors.empty());
    auto seen = check_items(f, run.items, f.nginx->base_url());
    CHECK(seen.size() == catalog_size);

    REQUIRE(!run.stats.empty());
    CHECK(json_int(run.stats.at("requests")) == catalog_size);
    CHECK(json_int(run.stats.at("retries")) == 0);
    CHECK(json_int(run.stats.at("items").as_object().at("emitted")) == catalog_size);
    // nginx agrees: every product requested exactly once, nothing else.
    auto counts = f.nginx->request_counts();
    CHECK(counts.size() == catalog_size);
    for (const auto& asin : f.asins) {
        CHECK(counts["/api/products/" + asin + ".json"] == 1);
    }
}

TEST_CASE("foundation: products stored gzipped are served gzip-encoded and still exact",
          "[integration]") {
    site_fixture f;
    auto gz_lines = read_lines(f.site / "gzipped.txt");
    std::set<std::string> gzipped(gz_lines.begin(), gz_lines.end());
    REQUIRE(gzipped.size() > catalog_size / 10);

    auto run = foundation_crawl(
        f.tmp / "run", crawl_yaml(template_seed(f.nginx->base_url(), f.site / "asins.txt")));
    INFO(describe(run.result));
    REQUIRE(run.result.exit_code == 0);
    auto seen = check_items(f, run.items, f.nginx->base_url());
    for (const auto& asin : gzipped) {
        CHECK(seen.count(asin) == 1);
    }

    // Proof from the server side: what nginx sent for a .gz product is the .gz file itself.
    int gzip_responses = 0;
    int identity_responses = 0;
    for (const auto& e : f.nginx->access_entries()) {
        static const std::regex product(R"(^/api/products/(B0[0-9A-Z]{8})\.json$)");
        std::smatch m;
        if (!std::regex_match(e.uri, m, product)) {
            continue;
        }
        std::string asin = m[1];
        auto json_file = f.site / "api/products" / (asin + ".json");
        if (gzipped.count(asin) != 0) {
            ++gzip_responses;
            CHECK(e.content_encoding == "gzip");
            CHECK(e.body_bytes ==
                  static_cast<long long>(fs::file_size(json_file.string() + ".gz")));
        } else {
            ++identity_responses;
            CHECK(e.content_encoding == "-");
            CHECK(e.body_bytes == static_cast<long long>(fs::file_size(json_file)));
        }
    }
    CHECK(gzip_responses == static_cast<int>(gzipped.size()));
    CHECK(identity_responses == catalog_size - static_cast<int>(gzipped.size()));
}

TEST_CASE("foundation: redirects are followed to the final URL; a loop is an error",
          "[integration]") {
    site_fixture f;
    const auto base = f.nginx->base_url();
    std::string urls;
    std::vector<std::string> expected;
    // 20 products each through an absolute 301, a path-relative 302 and a root-relative 302.
    const char* kinds[] = {"abs", "rel", "root"};
    for (int k = 0; k < 3; ++k) {
        for (int i = 0; i < 20; ++i) {
            const auto& asin = f.asins[static_cast<std::size_t>(k * 20 + i)];
            urls += base + "/r/" + kinds[k] + "/" + asin + "\n";
            expected.push_back(asin);
        }
    }
    urls += base + "/r/loop\n";
    write_file(f.tmp / "urls.txt", urls);

    auto run = foundation_crawl(
        f.tmp / "run", crawl_yaml("  - urls_file: " + (f.tmp / "urls.txt").string() + "\n"));
    INFO(describe(run.result));
    REQUIRE(run.result.exit_code == 0);
    auto seen = check_items(f, run.items, base);  // item url = the product URL, not /r/...
    CHECK(seen == std::set<std::string>(expected.begin(), expected.end()));

    REQUIRE(run.errors.size() == 1);
    CHECK(run.errors[0].at("url") == json::value(base + "/r/loop"));
    CHECK(run.errors[0].at("error") == json::value("too_many_redirects"));
    // The loop is bounded by max_redirects (5): at most 1 + 5 requests.
    auto loops = f.nginx->request_counts()["/r/loop"];
    CHECK(loops >= 2);
    CHECK(loops <= 6);
}

TEST_CASE("foundation: 404s fail once each, into the error stream, and harm nothing else",
          "[integration]") {
    site_fixture f;
    // 50 unknown ASINs interleaved with the real ones.
    std::vector<std::string> unknown;
    std::string values;
    for (std::size_t i = 0; i < f.asins.size(); ++i) {
        values += f.asins[i] + "\n";
        if (i % 40 == 0 && unknown.size() < 50) {
            std::string asin = "B0ZZZ" + std::to_string(10000 + unknown.size());
            REQUIRE(f.truth.count(asin) == 0);
            unknown.push_back(asin);
            values += asin + "\n";
        }
    }
    REQUIRE(unknown.size() == 50);
    write_file(f.tmp / "values.txt", values);

    const int threads = GENERATE(1, 2, 4);
    const auto base = f.nginx->base_url();
    auto run = foundation_crawl(f.tmp / "run",
                                crawl_yaml(template_seed(base, f.tmp / "values.txt"), "", threads));
    INFO("threads " << threads << ": " << describe(run.result));
    REQUIRE(run.result.exit_code == 0);
    auto seen = check_items(f, run.items, base);
    CHECK(seen.size() == catalog_size);

    std::map<std::string, int> error_urls;
    for (const auto& e : run.errors) {
        ++error_urls[std::string(e.at("url").as_string())];
        CHECK(e.at("error") == json::value("status_4xx"));
        CHECK(json_int(e.at("status")) == 404);
        CHECK(json_int(e.at("attempts")) == 1);
        CHECK(e.contains("final_at"));
    }
    CHECK(run.errors.size() == unknown.size());
    auto counts = f.nginx->request_counts();
    for (const auto& asin : unknown) {
        auto path = "/api/products/" + asin + ".json";
        CHECK(error_urls[base + path] == 1);
        CHECK(counts[path] == 1);  // a 404 is not retried
    }
}

TEST_CASE("foundation: HTTPS verifies against the configured CA, and fails without it",
          "[integration]") {
    site_fixture f(true);
    const auto base = f.nginx->tls_base_url();

    SECTION("with http.tls.ca_file the crawl succeeds") {
        std::string values;
        for (std::size_t i = 0; i < 100; ++i) {
            values += f.asins[i] + "\n";
        }
        write_file(f.tmp / "values.txt", values);
        // Relative to the config's folder: run/ holds cfg.yaml, the CA is ../pki/ca.pem.
        auto run = foundation_crawl(f.tmp / "run",
                                    crawl_yaml(template_seed(base, f.tmp / "values.txt"),
                                               "  tls: {verify: true, ca_file: ../pki/ca.pem}\n"));
        INFO(describe(run.result));
        REQUIRE(run.result.exit_code == 0);
        auto seen = check_items(f, run.items, base);
        CHECK(seen.size() == 100);
        CHECK(run.errors.empty());
    }
    SECTION("without a CA every URL fails with tls_verify") {
        // 8 URLs: under the breaker's min_calls, so each one fails on its own merits.
        std::string values;
        for (std::size_t i = 0; i < 8; ++i) {
            values += f.asins[i] + "\n";
        }
        write_file(f.tmp / "values.txt", values);
        auto run = foundation_crawl(f.tmp / "run-noca",
                                    crawl_yaml(template_seed(base, f.tmp / "values.txt")));
        INFO(describe(run.result));
        REQUIRE(run.result.exit_code == 0);
        CHECK(run.items.empty());
        REQUIRE(run.errors.size() == 8);
        for (const auto& e : run.errors) {
            CHECK(e.at("error") == json::value("tls_verify"));
        }
    }
}

TEST_CASE("foundation: CLI contract - version, check, missing file", "[integration]") {
    temp_dir tmp("harvest-cli");

    auto version = run_process({harvest_binary().string(), "--version"});
    INFO(describe(version));
    CHECK(version.exit_code == 0);
    CHECK(version.out.rfind("harvest 0.1.0", 0) == 0);

    // Line 5, column 3 holds the misspelt key.
    write_file(tmp / "bad.yaml",
               "name: badkey\n"
               "seeds:\n"
               "  - url: http://127.0.0.1:9/x.json\n"
               "engine:\n"
               "  concurency: 4\n"
               "  robots_txt: ignore\n");
    auto check = run_process({harvest_binary().string(), "check", (tmp / "bad.yaml").string()});
    INFO(describe(check));
    CHECK(check.exit_code == 2);
    CHECK(std::regex_search(check.err, std::regex(R"(bad\.yaml:5:\d+)")));
    CHECK(check.err.find("did you mean") != std::string::npos);
    CHECK(check.err.find("concurrency") != std::string::npos);

    write_file(tmp / "good.yaml", crawl_yaml("  - url: http://127.0.0.1:9/x.json\n"));
    auto good = run_process({harvest_binary().string(), "check", (tmp / "good.yaml").string()});
    INFO(describe(good));
    CHECK(good.exit_code == 0);

    auto missing =
        run_process({harvest_binary().string(), "run", (tmp / "does-not-exist.yaml").string()});
    INFO(describe(missing));
    CHECK(missing.exit_code == 2);
}

TEST_CASE("foundation: urls_file skips blanks and comments; a repeated URL is fetched once",
          "[integration]") {
    site_fixture f(false, 200);
    const auto base = f.nginx->base_url();
    auto url = [&](std::size_t i) { return base + "/api/products/" + f.asins[i] + ".json"; };
    std::string urls = "# products for the dedup test\n\n" + url(0) + "\n" + url(1) + "\n\n" +
                       "# the first one again, twice\n" + url(0) + "\n";
    for (std::size_t i = 2; i < 10; ++i) {
        urls += url(i) + "\n";
    }
    urls += url(0) + "\n\n";
    write_file(f.tmp / "urls.txt", urls);

    auto run = foundation_crawl(
        f.tmp / "run", crawl_yaml("  - urls_file: " + (f.tmp / "urls.txt").string() + "\n"));
    INFO(describe(run.result));
    REQUIRE(run.result.exit_code == 0);
    auto seen = check_items(f, run.items, base);
    CHECK(seen.size() == 10);
    CHECK(run.items.size() == 10);
    CHECK(run.errors.empty());
    auto counts = f.nginx->request_counts();
    CHECK(counts["/api/products/" + f.asins[0] + ".json"] == 1);
    CHECK(counts.size() == 10);  // comments and blank lines were never requested
    REQUIRE(!run.stats.empty());
    CHECK(json_int(run.stats.at("requests")) == 10);
    CHECK(json_int(run.stats.at("dedup_skipped")) == 2);
}
