// Sitemaps read incrementally: plain and gzip bodies in chunks of any size give every <loc>, in
// order, while the reader's own buffer stays bounded (sitemap_parser::buffer_high_water).

#include "engine/crawl/sitemap.hpp"

#include <catch2/catch.hpp>

#include <zlib.h>

#include <random>
#include <string>
#include <vector>

using harvest::crawl::parse_sitemap;
using harvest::crawl::sitemap_parser;
using harvest::crawl::sitemap_reader;

namespace {

std::string page_url(int i) {
    return "http://127.0.0.1:8080/p/B0" + std::to_string(10'000'000 + i) + ".html?a=1&b=2";
}

// A urlset of `count` URLs like the catalog's (lastmod per URL; `&` escaped as XML wants).
std::string urlset(int count) {
    std::string xml =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n";
    for (int i = 0; i < count; ++i) {
        std::string url = page_url(i);
        url.replace(url.find('&'), 1, "&amp;");
        xml += "<url><loc>" + url + "</loc><lastmod>2026-11-01</lastmod></url>\n";
    }
    xml += "</urlset>\n";
    return xml;
}

std::string gzip(std::string_view data) {
    z_stream stream{};
    REQUIRE(deflateInit2(&stream, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    std::string out(deflateBound(&stream, data.size()), '\0');
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    stream.avail_in = static_cast<uInt>(data.size());
    stream.next_out = reinterpret_cast<Bytef*>(out.data());
    stream.avail_out = static_cast<uInt>(out.size());
    REQUIRE(deflate(&stream, Z_FINISH) == Z_STREAM_END);
    out.resize(stream.total_out);
    deflateEnd(&stream);
    return out;
}

struct read_result {
    std::vector<std::string> locations;
    bool is_index = false;
    bool gzip = false;
    bool failed = false;
    std::size_t high_water = 0;
    std::uint64_t inflated = 0;
};

// Feeds `body` to a sitemap_reader in chunks of `chunk` bytes (0: random sizes up to 4 KiB).
read_result read_chunked(const std::string& body, std::size_t chunk,
                         std::uint64_t max_inflated = 64ull << 20) {
    read_result out;
    sitemap_reader reader(
        [&out](std::string location) { out.locations.push_back(std::move(location)); },
        max_inflated);
    std::mt19937 rng(3);
    for (std::size_t at = 0; at < body.size();) {
        const std::size_t size = chunk != 0 ? chunk : 1 + rng() % 4096;
        const std::string_view part = std::string_view(body).substr(at, size);
        reader.feed(part);
        at += part.size();
    }
    reader.finish();
    out.is_index = reader.is_index();
    out.gzip = reader.gzip();
    out.failed = reader.failed();
    out.high_water = reader.parser().buffer_high_water();
    out.inflated = reader.inflated_bytes();
    return out;
}

void check_all_urls(const std::vector<std::string>& locations, int count) {
    REQUIRE(locations.size() == static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
        if (locations[static_cast<std::size_t>(i)] != page_url(i)) {
            FAIL("location " << i << " is " << locations[static_cast<std::size_t>(i)]);
        }
    }
}

}  // namespace

TEST_CASE("a 50,000-URL sitemap in small chunks: every URL, a small buffer", "[unit]") {
    const std::string xml = urlset(50'000);
    REQUIRE(xml.size() > 4'000'000);
    for (const std::size_t chunk : {std::size_t{7}, std::size_t{0}, std::size_t{65'536}}) {
        INFO("chunk " << chunk);
        const auto result = read_chunked(xml, chunk);
        CHECK_FALSE(result.gzip);
        CHECK_FALSE(result.failed);
        CHECK_FALSE(result.is_index);
        check_all_urls(result.locations, 50'000);
        // What the parser holds: the unconsumed tail plus one slice of input at most.
        CHECK(result.high_water <= sitemap_parser::slice + 256);
        if (chunk == 7) {
            CHECK(result.high_water < 256);  // about one <loc>'s text
        }
    }
    // The crawler feeds a whole body at once: the parser still works through it in slices.
    const auto whole = read_chunked(xml, xml.size());
    check_all_urls(whole.locations, 50'000);
    CHECK(whole.high_water <= sitemap_parser::slice + 256);
}

TEST_CASE("a gzip sitemap is inflated block by block, never whole", "[unit]") {
    const std::string xml = urlset(50'000);
    const std::string compressed = gzip(xml);
    REQUIRE(compressed.size() < xml.size() / 4);
    for (const std::size_t chunk : {std::size_t{1}, std::size_t{0}, compressed.size()}) {
        INFO("chunk " << chunk);
        const auto result = read_chunked(compressed, chunk);
        CHECK(result.gzip);
        CHECK_FALSE(result.failed);
        CHECK(result.inflated == xml.size());
        check_all_urls(result.locations, 50'000);
        // The inflated output reaches the parser one block (one slice) at a time.
        CHECK(result.high_water <= sitemap_parser::slice + 256);
    }
}

TEST_CASE("a gzip sitemap index; concatenated gzip members continue the document", "[unit]") {
    const std::string head =
        "<?xml version=\"1.0\"?>\n<sm:sitemapindex xmlns:sm=\"http://www.sitemaps.org/"
        "schemas/sitemap/0.9\">\n<sm:sitemap><sm:loc>http://h/sitemap-1.xml</sm:loc>";
    const std::string tail =
        "</sm:sitemap>\n<sm:sitemap><sm:loc>http://h/sitemap-2.xml.gz</sm:loc></sm:sitemap>\n"
        "</sm:sitemapindex>\n";
    const auto result = read_chunked(gzip(head) + gzip(tail), 3);
    CHECK(result.is_index);
    CHECK_FALSE(result.failed);
    CHECK(result.locations ==
          std::vector<std::string>{"http://h/sitemap-1.xml", "http://h/sitemap-2.xml.gz"});
}

TEST_CASE("every split point of a tricky sitemap gives what the whole one gives", "[unit]") {
    const std::string xml = R"(<?xml version="1.0"?><!-- <urlset> in a comment counts, as before -->
<ns:urlset xmlns:ns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <ns:url><ns:loc>
     http://127.0.0.1:8080/p/1.html?a=1&amp;b=2&#x26;c=&#51;
  </ns:loc></ns:url>
  <url><loc><![CDATA[http://127.0.0.1:8080/p/2.html?x=<y>]]></loc></url>
  <url><locx>http://no/</locx><loc >http://127.0.0.1:8080/p/&lt;3&gt;</loc ></url>
  <url><loc></loc><loc>   </loc><loc>http://127.0.0.1:8080/last</loc></url>
</ns:urlset>)";
    const auto whole = parse_sitemap(xml);
    REQUIRE(whole.locations.size() == 4);
    CHECK(whole.locations[0] == "http://127.0.0.1:8080/p/1.html?a=1&b=2&c=3");
    for (std::size_t split = 0; split <= xml.size(); ++split) {
        std::vector<std::string> found;
        sitemap_parser parser([&found](std::string location) { found.push_back(location); });
        parser.feed(std::string_view(xml).substr(0, split));
        parser.feed(std::string_view(xml).substr(split));
        parser.finish();
        INFO("split at " << split);
        CHECK(found == whole.locations);
        CHECK(parser.is_sitemap());
    }
}

TEST_CASE("bounded: an endless <loc> is skipped, the parser holds at most max_location", "[unit]") {
    std::string xml = "<urlset><url><loc>http://a/";
    xml.append(1'000'000, 'x');
    xml += "</loc></url><url><loc>http://a/after</loc></url>";
    // A tag that never finishes being named, and a gigantic run of text between tags.
    xml += "<" + std::string(50'000, 'z') + std::string(200'000, ' ');
    xml += "<url><loc>http://a/end</loc></url></urlset>";
    const auto result = read_chunked(xml, 0);
    CHECK(result.locations == std::vector<std::string>{"http://a/after", "http://a/end"});
    CHECK(result.high_water <= sitemap_parser::max_location + 4096 + 256);
}

TEST_CASE("gzip trouble stops the reading; what came before stands", "[unit]") {
    const std::string xml = urlset(2'000);
    const std::string compressed = gzip(xml);
    SECTION("inflated past max_inflated (a decompression bomb)") {
        const auto result = read_chunked(compressed, 512, xml.size() / 2);
        CHECK(result.failed);
        CHECK(result.inflated == xml.size() / 2);
        REQUIRE(result.locations.size() > 500);
        CHECK(result.locations.size() <= 1'000);
        CHECK(result.locations.back() == page_url(static_cast<int>(result.locations.size()) - 1));
    }
    SECTION("truncated") {
        const auto result = read_chunked(compressed.substr(0, compressed.size() / 2), 100);
        CHECK(result.failed);
        CHECK_FALSE(result.locations.empty());
        CHECK(result.locations.front() == page_url(0));
    }
    SECTION("corrupt") {
        std::string broken = compressed;
        for (std::size_t i = 100; i < 200; ++i) {
            broken[i] = static_cast<char>(broken[i] ^ 0x5a);
        }
        const auto result = read_chunked(broken, 64);
        CHECK(result.failed);
        CHECK(result.locations.size() < 2'000);
    }
    SECTION("just the magic bytes, and a one-byte body") {
        CHECK(read_chunked("\x1f\x8b", 1).failed);
        CHECK(read_chunked("<", 1).locations.empty());
    }
}

TEST_CASE("locations before the root element do not count", "[unit]") {
    CHECK(parse_sitemap("<loc>http://a/0</loc><urlset><url><loc>http://a/1</loc></url></urlset>")
              .locations == std::vector<std::string>{"http://a/1"});
}

TEST_CASE("random input read in random chunks gives what reading it whole gives", "[unit]") {
    std::mt19937 rng(5);
    const std::vector<std::string> pieces = {"<urlset>",
                                             "<sitemapindex>",
                                             "<loc>",
                                             "</loc>",
                                             "<s:loc>",
                                             "</s:loc>",
                                             "<loc ",
                                             "<",
                                             ">",
                                             "/",
                                             ":",
                                             " ",
                                             "\n",
                                             "&amp;",
                                             "&#51;",
                                             "&#x",
                                             ";",
                                             "<![CDATA[",
                                             "]]>",
                                             "http://a/",
                                             "x",
                                             std::string(1100, 'p'),
                                             std::string(70'000, 'v')};
    for (int round = 0; round < 300; ++round) {
        std::string input;
        const int count = 1 + static_cast<int>(rng() % 40);
        for (int i = 0; i < count; ++i) {
            const auto& piece = pieces[rng() % pieces.size()];
            // The long pieces rarely: they make the input big.
            if (piece.size() > 1000 && rng() % 8 != 0) {
                continue;
            }
            input += piece;
        }
        const auto whole = parse_sitemap(input);
        std::vector<std::string> found;
        sitemap_parser parser([&found](std::string location) { found.push_back(location); });
        for (std::size_t at = 0; at < input.size();) {
            const std::size_t size = 1 + rng() % 3000;
            parser.feed(std::string_view(input).substr(at, size));
            at += size;
        }
        parser.finish();
        INFO("round " << round << ": " << input.substr(0, 300));
        CHECK(found == whole.locations);
        CHECK(parser.is_index() == whole.is_index);
    }
}
