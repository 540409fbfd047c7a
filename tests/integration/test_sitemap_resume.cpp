// --resume after a stop that left sitemaps unfetched: they are fetched as sitemaps again (the
// journal records the flag), so the pages they list are crawled, each once.

#include "tests/integration/support.hpp"

#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <set>
#include <thread>

namespace {

using namespace harvest::test;
using namespace std::chrono_literals;

std::string resume_urlset(const std::vector<std::string>& urls) {
    std::string xml =
        "<?xml version=\"1.0\"?>\n"
        "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n";
    for (const auto& url : urls) {
        xml += "  <url><loc>" + url + "</loc></url>\n";
    }
    return xml + "</urlset>\n";
}

}  // namespace

TEST_CASE("sitemaps left unfetched by a stop are fetched as sitemaps after --resume",
          "[integration][sitemap][resume]") {
    temp_dir tmp("harvest-sitemap-resume");
    const fs::path site = tmp / "site";
    generate_catalog(site, {40, 7, 0.0});
    nginx_server nginx(nginx_options{site, tmp / "nginx", {}, 1});
    const auto asins = read_lines(site / "asins.txt");
    std::vector<std::string> first;
    std::vector<std::string> second;
    for (std::size_t i = 0; i < asins.size(); ++i) {
        (i % 2 == 0 ? first : second)
            .push_back(nginx.base_url() + "/api/products/" + asins[i] + ".json");
    }
    write_file(site / "sitemap-a.xml", resume_urlset(first));
    write_file(site / "sitemap-b.xml", resume_urlset(second));
    write_file(site / "sitemap.xml",
               "<?xml version=\"1.0\"?>\n<sitemapindex "
               "xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n"
               "  <sitemap><loc>" +
                   nginx.base_url() +
                   "/sitemap-a.xml</loc></sitemap>\n"
                   "  <sitemap><loc>" +
                   nginx.base_url() +
                   "/sitemap-b.xml</loc></sitemap>\n"
                   "</sitemapindex>\n");
    // One token every 5 s (the first one at once): the index is fetched, its two sitemaps wait
    // in the frontier, and the SIGINT below lands while they wait.
    const std::string common =
        "name: sitemap_resume\n"
        "seeds:\n"
        "  - sitemap: " +
        nginx.base_url() +
        "/sitemap.xml\n"
        "engine: {concurrency: 4, robots_txt: ignore}\n"
        "extract:\n"
        "  - match: \"/api/products/\"\n"
        "    type: json\n"
        "    fields: {id: /asin}\n"
        "outputs:\n"
        "  - {type: jsonl, path: out/items.jsonl}\n"
        "state: {dir: state}\n";
    write_file(tmp / "slow.yaml", common + "rate_limit: {per_second: 0.2, burst: 1}\n");
    write_file(tmp / "fast.yaml", common + "rate_limit: {per_second: 0}\n");
    const fs::path log = tmp / "harvest.log";
    {
        background_harvest run({"run", (tmp / "slow.yaml").string(), "--progress", "never"}, log);
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        while (nginx.request_counts().count("/sitemap.xml") == 0 &&
               std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(10ms);
        }
        // The index's answer is on its way; give the scheduler a moment to admit its sitemaps.
        std::this_thread::sleep_for(300ms);
        run.signal(SIGINT);
        INFO(read_file(log));
        REQUIRE(run.wait(30s) == 130);
    }
    {
        const auto counts = nginx.request_counts();
        REQUIRE(counts.count("/sitemap.xml") == 1);
        // Otherwise the stop came too late to leave the sitemaps to the resumed run.
        REQUIRE(counts.count("/sitemap-a.xml") == 0);
        REQUIRE(counts.count("/sitemap-b.xml") == 0);
    }

    background_harvest resumed(
        {"run", (tmp / "fast.yaml").string(), "--progress", "never", "--resume"}, log);
    INFO(read_file(log));
    REQUIRE(resumed.wait(60s) == 0);
    std::set<std::string> ids;
    std::size_t lines = 0;
    for (const auto& item : read_jsonl(tmp / "out/items.jsonl")) {
        ids.insert(std::string(item.at("id").as_string()));
        ++lines;
    }
    CHECK(ids == std::set<std::string>(asins.begin(), asins.end()));
    CHECK(lines == asins.size());
    const auto counts = nginx.request_counts();
    CHECK(counts.at("/sitemap.xml") == 1);  // completed before the stop: not fetched again
    CHECK(counts.at("/sitemap-a.xml") == 1);
    CHECK(counts.at("/sitemap-b.xml") == 1);
}

TEST_CASE("state.journal: false crawls without a journal and refuses --resume",
          "[integration][resume]") {
    temp_dir tmp("harvest-no-journal");
    const fs::path site = tmp / "site";
    generate_catalog(site, {30, 9, 0.0});
    nginx_server nginx(nginx_options{site, tmp / "nginx", {}, 1});
    const auto asins = read_lines(site / "asins.txt");
    std::string urls;
    for (const auto& asin : asins) {
        urls += nginx.base_url() + "/api/products/" + asin + ".json\n";
    }
    write_file(tmp / "urls.txt", urls);
    write_file(tmp / "crawl.yaml",
               "name: no_journal\n"
               "seeds:\n"
               "  - urls_file: urls.txt\n"
               "engine: {robots_txt: ignore}\n"
               "rate_limit: {per_second: 0}\n"
               "extract:\n"
               "  - match: \"/api/products/\"\n"
               "    type: json\n"
               "    fields: {id: /asin}\n"
               "outputs:\n"
               "  - {type: jsonl, path: out/items.jsonl}\n"
               "state: {dir: state, journal: false}\n");
    const std::string config = (tmp / "crawl.yaml").string();
    auto run = run_process({harvest_binary().string(), "run", config, "--progress", "never"});
    INFO(run.err);
    REQUIRE(run.exit_code == 0);
    CHECK(read_jsonl(tmp / "out/items.jsonl").size() == asins.size());
    CHECK_FALSE(fs::exists(tmp / "state" / "journal.log"));

    auto resume =
        run_process({harvest_binary().string(), "run", config, "--progress", "never", "--resume"});
    INFO(resume.err);
    CHECK(resume.exit_code == 2);
    CHECK(resume.err.find("state.journal") != std::string::npos);
    CHECK(read_jsonl(tmp / "out/items.jsonl").size() == asins.size());  // left untouched
}
