// Sitemap seeds: a sitemap index served by nginx leads to its sitemaps (one gzip-compressed),
// whose pages are crawled once each.

#include "tests/integration/support.hpp"

#include <catch2/catch.hpp>

#include <zlib.h>

#include <set>

namespace {

using namespace harvest::test;
namespace json = boost::json;

std::string gzip(const std::string& text) {
    z_stream stream{};
    deflateInit2(&stream, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    std::string out(compressBound(static_cast<uLong>(text.size())) + 64, '\0');
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    stream.avail_in = static_cast<uInt>(text.size());
    stream.next_out = reinterpret_cast<Bytef*>(out.data());
    stream.avail_out = static_cast<uInt>(out.size());
    deflate(&stream, Z_FINISH);
    out.resize(stream.total_out);
    deflateEnd(&stream);
    return out;
}

std::string urlset(const std::vector<std::string>& urls) {
    std::string xml =
        "<?xml version=\"1.0\"?>\n"
        "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n";
    for (const auto& url : urls) {
        xml += "  <url><loc>" + url + "</loc></url>\n";
    }
    return xml + "</urlset>\n";
}

}  // namespace

TEST_CASE("sitemap index, plain and gzip sitemaps: every listed product once",
          "[integration][sitemap]") {
    temp_dir tmp("harvest-sitemap");
    const fs::path site = tmp / "site";
    generate_catalog(site, {300, 5, 0.0});
    nginx_server nginx(nginx_options{site, tmp / "nginx", {}, 1});
    const auto asins = read_lines(site / "asins.txt");
    std::vector<std::string> first;
    std::vector<std::string> second;
    for (std::size_t i = 0; i < asins.size(); ++i) {
        (i % 2 == 0 ? first : second)
            .push_back(nginx.base_url() + "/api/products/" + asins[i] + ".json");
    }
    second.push_back(first.front());  // listed twice: fetched once
    write_file(site / "sitemap-a.xml", urlset(first));
    write_file(site / "sitemap-b.xml.gz", gzip(urlset(second)));
    write_file(site / "sitemap.xml",
               "<?xml version=\"1.0\"?>\n<sitemapindex "
               "xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n"
               "  <sitemap><loc>" +
                   nginx.base_url() +
                   "/sitemap-a.xml</loc></sitemap>\n"
                   "  <sitemap><loc>" +
                   nginx.base_url() +
                   "/sitemap-b.xml.gz</loc></sitemap>\n"
                   "</sitemapindex>\n");
    write_file(tmp / "crawl.yaml",
               "name: sitemap\n"
               "seeds:\n"
               "  - sitemap: " +
                   nginx.base_url() +
                   "/sitemap.xml\n"
                   "engine: {concurrency: 16}\n"
                   "rate_limit: {per_second: 0}\n"
                   "extract:\n"
                   "  - match: \"/api/products/\"\n"
                   "    type: json\n"
                   "    fields: {id: /asin}\n"
                   "outputs:\n"
                   "  - {type: jsonl, path: out/items.jsonl}\n");
    auto run = run_process(
        {harvest_binary().string(), "run", (tmp / "crawl.yaml").string(), "--progress", "never"});
    INFO(run.err);
    REQUIRE(run.exit_code == 0);
    std::set<std::string> ids;
    std::size_t lines = 0;
    for (const auto& item : read_jsonl(tmp / "out/items.jsonl")) {
        ids.insert(std::string(item.at("id").as_string()));
        ++lines;
    }
    CHECK(lines == asins.size());
    CHECK(ids == std::set<std::string>(asins.begin(), asins.end()));
    // robots.txt (obeyed by default; absent here, so everything is allowed), the index, two
    // sitemaps and each product once.
    const auto counts = nginx.request_counts();
    CHECK(counts.at("/sitemap.xml") == 1);
    CHECK(counts.at("/sitemap-b.xml.gz") == 1);
    CHECK(counts.at("/robots.txt") == 1);
    CHECK(counts.at("/api/products/" + asins.front() + ".json") == 1);
}

TEST_CASE("a library user's own extractor runs beside the configured rules",
          "[integration][library]") {
    temp_dir tmp("harvest-custom-extractor");
    const fs::path site = tmp / "site";
    generate_catalog(site, {50, 6, 0.0});
    nginx_server nginx(nginx_options{site, tmp / "nginx", {}, 1});
    write_file(tmp / "crawl.yaml",
               "name: custom\n"
               "seeds:\n"
               "  - template: \"" +
                   nginx.base_url() +
                   "/api/products/{id}.json\"\n"
                   "    values_file: " +
                   (site / "asins.txt").string() +
                   "\n"
                   "extract:\n"
                   "  - match: \"/api/products/\"\n"
                   "    type: json\n"
                   "    fields: {id: /asin, title: /title}\n"
                   "outputs:\n"
                   "  - {type: jsonl, path: out/items.jsonl}\n");
    auto run = run_process({HARVEST_CUSTOM_EXTRACTOR_EXAMPLE, (tmp / "crawl.yaml").string()});
    INFO(run.err);
    REQUIRE(run.exit_code == 0);
    CHECK(run.out == "100 items\n");
    std::size_t configured = 0;
    std::size_t custom = 0;
    for (const auto& item : read_jsonl(tmp / "out/items.jsonl")) {
        if (item.contains("kind")) {
            ++custom;
            CHECK(item.at("words").as_int64() >= 1);
            CHECK(item.at("status").as_int64() == 200);
        } else {
            ++configured;
        }
    }
    CHECK(configured == 50);
    CHECK(custom == 50);
}
