#include "engine/crawl/seeds.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

using harvest::crawl::seed_spec;
using harvest::crawl::seed_stream;

namespace {

std::string write_temp(const std::string& name, const std::string& text) {
    auto path = std::filesystem::temp_directory_path() / ("harvest-seeds-" + name);
    std::ofstream(path) << text;
    return path.string();
}

std::vector<std::string> drain(seed_stream& seeds) {
    std::vector<std::string> urls;
    while (auto next = seeds.next()) {
        urls.push_back(next->http.url);
    }
    return urls;
}

}  // namespace

TEST_CASE("seed stream yields urls, file lines and template values in order", "[unit]") {
    auto urls = write_temp("urls.txt", "http://a/1\n\n# comment\n  http://a/2  \r\n");
    auto values = write_temp("values.txt", "X1\nX2\n#skip\n");
    seed_spec url;
    url.url = "http://a/0";
    seed_spec file;
    file.what = seed_spec::kind::urls_file;
    file.file = urls;
    seed_spec tmpl;
    tmpl.what = seed_spec::kind::template_values;
    tmpl.url = "http://h/{id}.json?x={id}";
    tmpl.file = values;
    seed_stream seeds({url, file, tmpl});
    seeds.open();
    CHECK(drain(seeds) == std::vector<std::string>{"http://a/0", "http://a/1", "http://a/2",
                                                   "http://h/X1.json?x=X1",
                                                   "http://h/X2.json?x=X2"});
    CHECK(seeds.exhausted());
    std::remove(urls.c_str());
    std::remove(values.c_str());
}

TEST_CASE("seed stream keeps method, headers and body of a url seed", "[unit]") {
    seed_spec post;
    post.url = "http://a/api";
    post.method = "POST";
    post.headers = {{"Content-Type", "application/json"}};
    post.body = R"({"q":1})";
    seed_stream seeds({post});
    auto request = seeds.next();
    REQUIRE(request);
    CHECK(request->http.method == "POST");
    CHECK(request->http.headers.at(0).second == "application/json");
    CHECK(request->http.body == R"({"q":1})");
    CHECK_FALSE(request->sitemap);
    CHECK_FALSE(seeds.next());
}

TEST_CASE("a missing seed file is reported when the stream opens", "[unit]") {
    seed_spec file;
    file.what = seed_spec::kind::urls_file;
    file.file = "/nonexistent/harvest/urls.txt";
    seed_stream seeds({file});
    CHECK_THROWS_WITH(seeds.open(), Catch::Contains("/nonexistent/harvest/urls.txt"));
}

TEST_CASE("a sitemap seed is marked as a sitemap", "[unit]") {
    seed_spec sitemap;
    sitemap.what = seed_spec::kind::sitemap;
    sitemap.url = "http://a/sitemap.xml";
    seed_stream seeds({sitemap});
    seeds.open();
    auto request = seeds.next();
    REQUIRE(request);
    CHECK(request->sitemap);
    CHECK(request->http.url == "http://a/sitemap.xml");
}
