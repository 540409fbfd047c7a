// robots.txt is obeyed by default: fetched once per host, disallowed URLs are failed with
// `robots_disallowed` and never requested (nginx's own log says so), the rest are crawled.

#include "tests/integration/support.hpp"

#include <catch2/catch.hpp>

#include <set>

namespace {

using namespace harvest::test;

}  // namespace

TEST_CASE("robots.txt: disallowed URLs are never requested, the others are crawled",
          "[integration][robots]") {
    temp_dir tmp("harvest-robots");
    const fs::path site = tmp / "site";
    generate_catalog(site, {200, 9, 0.0});
    const auto asins = read_lines(site / "asins.txt");
    // Our agent is disallowed five products; another agent's group must not apply to us.
    std::string robots = "User-agent: otherbot\nDisallow: /\n\nUser-agent: harvest\n";
    std::set<std::string> disallowed;
    for (std::size_t i = 0; i < 5; ++i) {
        const std::string path = "/api/products/" + asins[i * 10] + ".json";
        robots += "Disallow: " + path + "$\n";
        disallowed.insert(path);
    }
    robots += "Allow: /\n";
    write_file(site / "robots.txt", robots);
    nginx_server nginx(nginx_options{site, tmp / "nginx", {}, 1});
    write_file(tmp / "crawl.yaml",
               "name: robots\n"
               "seeds:\n"
               "  - template: \"" +
                   nginx.base_url() +
                   "/api/products/{id}.json\"\n"
                   "    values_file: " +
                   (site / "asins.txt").string() +
                   "\n"
                   "engine: {concurrency: 16}\n"
                   "rate_limit: {per_second: 0}\n"
                   "extract:\n"
                   "  - match: \"/api/products/\"\n"
                   "    type: json\n"
                   "    fields: {id: /asin}\n"
                   "outputs:\n"
                   "  - {type: jsonl, path: out/items.jsonl}\n");
    auto run = run_process({harvest_binary().string(), "run", (tmp / "crawl.yaml").string(),
                            "--progress", "never", "--stats-json", (tmp / "stats.json").string()});
    INFO(run.err);
    REQUIRE(run.exit_code == 0);
    CHECK(read_jsonl(tmp / "out/items.jsonl").size() == asins.size() - disallowed.size());
    const auto errors = read_jsonl(tmp / "out/items.errors.jsonl");
    REQUIRE(errors.size() == disallowed.size());
    for (const auto& e : errors) {
        CHECK(e.at("error").as_string() == "robots_disallowed");
        const std::string url(e.at("url").as_string());
        CHECK(disallowed.count(url.substr(nginx.base_url().size())) == 1);
    }
    const auto counts = nginx.request_counts();
    CHECK(counts.at("/robots.txt") == 1);
    for (const auto& path : disallowed) {
        CHECK(counts.count(path) == 0);
    }
    const auto stats = boost::json::parse(read_file(tmp / "stats.json")).as_object();
    CHECK(json_int(stats.at("robots_disallowed")) == 5);
}
