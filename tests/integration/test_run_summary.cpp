// `harvest run`'s summary says when an output wrote fewer items than it got, and why.

#include "tests/integration/support.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <regex>

using namespace harvest::test;

TEST_CASE("run: the summary names an output that wrote fewer items, and why", "[integration]") {
    temp_dir tmp("harvest-check");
    const auto site = tmp / "site";
    std::string urls;
    fs::create_directories(site);
    auto nginx = std::make_unique<nginx_server>(nginx_options{site, tmp / "nginx", {}, 1});
    for (int i = 0; i < 3; ++i) {
        write_file(site / ("p" + std::to_string(i) + ".json"),
                   R"({"asin": "A)" + std::to_string(i) + R"(", "title": "t"})");
        urls += nginx->base_url() + "/p" + std::to_string(i) + ".json\n";
    }
    write_file(tmp / "urls.txt", urls);
    write_file(tmp / "crawl.yaml",
               "name: short\n"
               "seeds:\n"
               "  - urls_file: urls.txt\n"
               "engine: {robots_txt: ignore, threads: 1}\n"
               "rate_limit: {per_second: 0}\n"
               "extract:\n"
               "  - {type: json, fields: {id: /asin, title: /title}}\n"
               "outputs:\n"
               "  - {type: jsonl, path: out/items.jsonl}\n"
               "  - {type: sqlite, path: out/items.db, table: items, key: sku}\n");
    const auto run = run_process(
        {harvest_binary().string(), "run", (tmp / "crawl.yaml").string(), "--progress", "never"},
        std::chrono::seconds(60));
    INFO(describe(run));
    CHECK(run.exit_code == 0);
    CHECK(read_lines(tmp / "out/items.jsonl").size() == 3);
    CHECK(run.err.find("  output sqlite:") != std::string::npos);
    CHECK(
        std::regex_search(run.err, std::regex(R"(  output sqlite:\S*items\.db#items: 0 written, 3 )"
                                              R"(failed \(last: item without sku not written)")));
    // The output that wrote everything is not named.
    CHECK(run.err.find("  output jsonl:") == std::string::npos);
}
