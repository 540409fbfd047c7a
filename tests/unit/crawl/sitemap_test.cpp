#include "engine/crawl/sitemap.hpp"

#include <catch2/catch.hpp>

#include <random>

using harvest::crawl::parse_sitemap;

TEST_CASE("sitemap urlset lists pages in order, entities decoded", "[unit]") {
    const auto entries = parse_sitemap(R"(<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>http://127.0.0.1:8080/</loc><lastmod>2026-11-01</lastmod></url>
  <url><loc>
     http://127.0.0.1:8080/p/1.html?a=1&amp;b=2
  </loc></url>
  <url><loc><![CDATA[http://127.0.0.1:8080/p/2.html?x=<y>]]></loc></url>
  <url><loc>http://127.0.0.1:8080/p/&#51;.html</loc></url>
  <url><loc></loc></url>
</urlset>)");
    CHECK_FALSE(entries.is_index);
    CHECK(entries.locations == std::vector<std::string>{"http://127.0.0.1:8080/",
                                                        "http://127.0.0.1:8080/p/1.html?a=1&b=2",
                                                        "http://127.0.0.1:8080/p/2.html?x=<y>",
                                                        "http://127.0.0.1:8080/p/3.html"});
}

TEST_CASE("sitemap index lists sitemaps, with namespace prefixes", "[unit]") {
    const auto entries =
        parse_sitemap(R"(<sm:sitemapindex xmlns:sm="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sm:sitemap><sm:loc>http://h/sitemap-1.xml</sm:loc></sm:sitemap>
  <sm:sitemap><sm:loc>http://h/sitemap-2.xml</sm:loc></sm:sitemap>
</sm:sitemapindex>)");
    CHECK(entries.is_index);
    CHECK(entries.locations ==
          std::vector<std::string>{"http://h/sitemap-1.xml", "http://h/sitemap-2.xml"});
}

TEST_CASE("not a sitemap, or a broken one, yields what it can and never crashes", "[unit]") {
    CHECK(parse_sitemap("<html><body><loc>x</loc></body></html>").locations.empty());
    CHECK(parse_sitemap("").locations.empty());
    CHECK(parse_sitemap("<urlset><url><loc>http://a/1</loc><url><loc>http://a/2").locations ==
          std::vector<std::string>{"http://a/1"});
    CHECK(parse_sitemap("<urlset><location>http://a/1</location></urlset>").locations.empty());
    std::mt19937 rng(7);
    const std::string alphabet = "<>/&;#x:locurlset![]CDATA \n";
    for (int i = 0; i < 20000; ++i) {
        std::string input(rng() % 200, ' ');
        for (auto& c : input) {
            c = alphabet[rng() % alphabet.size()];
        }
        (void)parse_sitemap("<urlset>" + input);
    }
}
