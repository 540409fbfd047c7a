#include "engine/crawl/http_cache.hpp"
#include "engine/crawl/options.hpp"

#include "tests/unit/crawl/scratch_dir.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

using harvest::crawl::cache_entry;
using harvest::crawl::decode_entry;
using harvest::crawl::encode_entry;
using harvest::crawl::http_cache;
using harvest::crawl::http_cache_dir;

namespace {

namespace fs = std::filesystem;

using harvest::test::scratch_dir;

cache_entry sample(std::string body = R"({"asin":"B000000001","price":19.99})") {
    cache_entry entry;
    entry.status = 200;
    entry.final_url = "http://127.0.0.1:8080/api/products/B000000001.json";
    entry.headers = {{"Content-Type", "application/json"},
                     {"ETag", "\"65f1-1a2\""},
                     {"Last-Modified", "Tue, 01 Dec 2026 10:00:00 GMT"}};
    entry.vary = {{"accept-language", "en-US"}};
    entry.body = std::move(body);
    entry.stored_at_ms = 1796119200123;
    return entry;
}

std::string file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
}

}  // namespace

TEST_CASE("http cache entries round-trip through the file format", "[unit][http_cache]") {
    const cache_entry entry = sample();
    const auto decoded = decode_entry(encode_entry(entry));
    REQUIRE(decoded);
    CHECK(*decoded == entry);

    cache_entry empty;
    CHECK(decode_entry(encode_entry(empty)) == empty);
}

TEST_CASE("http cache file format refuses every truncation and a flipped byte",
          "[unit][http_cache]") {
    const std::string file = encode_entry(sample());
    for (std::size_t cut = 0; cut < file.size(); ++cut) {
        INFO("cut at " << cut);
        CHECK_FALSE(decode_entry(std::string_view(file).substr(0, cut)));
    }
    for (std::size_t at = 0; at < file.size(); at += 7) {
        std::string damaged = file;
        damaged[at] = static_cast<char>(damaged[at] ^ 0x20);
        INFO("flipped at " << at);
        CHECK_FALSE(decode_entry(damaged));
    }
    CHECK_FALSE(decode_entry(file + "x"));
}

TEST_CASE("http cache stores, reloads after reopening, replaces and removes",
          "[unit][http_cache]") {
    scratch_dir dir;
    {
        http_cache cache(dir.path.string(), 1 << 20);
        CHECK_FALSE(cache.load(42));
        REQUIRE(cache.store(42, sample()));
        REQUIRE(cache.store(0xfedcba9876543210ull, sample("second")));
        CHECK(cache.entries() == 2);
        CHECK(cache.load(42) == sample());
    }
    http_cache reopened(dir.path.string(), 1 << 20);
    CHECK(reopened.entries() == 2);
    CHECK(reopened.size_bytes() ==
          2 * encode_entry(sample()).size() - sample().body.size() + std::string("second").size());
    CHECK(reopened.load(0xfedcba9876543210ull) == sample("second"));
    REQUIRE(reopened.store(42, sample("replaced")));
    CHECK(reopened.entries() == 2);
    CHECK(reopened.load(42)->body == "replaced");
    reopened.remove(42);
    CHECK_FALSE(reopened.load(42));
    CHECK_FALSE(fs::exists(reopened.path_of(42)));
}

TEST_CASE("http cache: a truncated entry file is a miss, removed, and stored again",
          "[unit][http_cache]") {
    scratch_dir dir;
    std::string path;
    {
        http_cache cache(dir.path.string(), 1 << 20);
        REQUIRE(cache.store(7, sample()));
        path = cache.path_of(7);
    }
    // What a write cut short leaves (had it not gone through a temporary file).
    const std::string whole = file_bytes(path);
    write_bytes(path, whole.substr(0, whole.size() / 2));
    // And what kill -9 during a write leaves: a temporary file beside the entry.
    write_bytes(path + ".tmp.999.0", whole.substr(0, 10));

    http_cache cache(dir.path.string(), 1 << 20);
    CHECK_FALSE(fs::exists(path + ".tmp.999.0"));
    CHECK_FALSE(cache.load(7));
    CHECK_FALSE(fs::exists(path));
    CHECK(cache.entries() == 0);
    CHECK(cache.size_bytes() == 0);
    REQUIRE(cache.store(7, sample()));
    CHECK(cache.load(7) == sample());
}

TEST_CASE("http cache evicts the oldest entries past max_size", "[unit][http_cache]") {
    scratch_dir dir;
    const std::size_t entry_bytes = encode_entry(sample(std::string(1000, 'x'))).size();
    // Room for three entries, not four.
    http_cache cache(dir.path.string(), 3 * entry_bytes + entry_bytes / 2);
    for (std::uint64_t key = 1; key <= 5; ++key) {
        REQUIRE(cache.store(key, sample(std::string(1000, 'x'))));
        CHECK(cache.size_bytes() <= 3 * entry_bytes + entry_bytes / 2);
    }
    CHECK(cache.entries() == 3);
    CHECK_FALSE(cache.load(1));
    CHECK_FALSE(cache.load(2));
    CHECK(cache.load(3));
    CHECK(cache.load(5));
    CHECK_FALSE(fs::exists(cache.path_of(1)));

    // Storing an entry again makes it the newest.
    REQUIRE(cache.store(3, sample(std::string(1000, 'x'))));
    REQUIRE(cache.store(6, sample(std::string(1000, 'x'))));
    CHECK(cache.load(3));
    CHECK_FALSE(cache.load(4));

    // Bigger than the whole cache: not stored, nothing evicted for it.
    CHECK_FALSE(cache.store(9, sample(std::string(4 * entry_bytes, 'y'))));
    CHECK(cache.entries() == 3);
}

TEST_CASE("http cache entries keep what answers a request again, per Vary", "[unit][http_cache]") {
    harvest::net::http_response response;
    response.status = 200;
    response.final_url = "http://127.0.0.1/x";
    response.headers = {{"Content-Type", "text/html"},
                        {"Content-Encoding", "gzip"},
                        {"Content-Length", "123"},
                        {"ETag", "W/\"1\""},
                        {"Vary", "Accept-Encoding, Accept-Language"}};
    response.body = "<html></html>";
    const auto sent = [](std::string_view name) {
        return std::string(name == "accept-language" ? "en-US" : "");
    };
    const auto entry = harvest::crawl::entry_of(response, sent, 1);
    REQUIRE(entry);
    CHECK(entry->headers ==
          harvest::net::header_list{{"Content-Type", "text/html"},
                                    {"ETag", "W/\"1\""},
                                    {"Vary", "Accept-Encoding, Accept-Language"}});
    CHECK(entry->vary == harvest::net::header_list{{"accept-language", "en-US"}});
    CHECK(harvest::crawl::vary_matches(*entry, sent));
    CHECK_FALSE(harvest::crawl::vary_matches(
        *entry, [](std::string_view) { return std::string("de-DE"); }));

    response.headers.emplace_back("Vary", "*");
    response.headers.erase(response.headers.begin() + 4);
    CHECK_FALSE(harvest::crawl::entry_of(response, sent, 1));
}

TEST_CASE("http cache folder: http.cache.dir, else cache in the state folder",
          "[unit][http_cache]") {
    harvest::crawl::crawl_options options;
    options.name = "shop";
    CHECK(http_cache_dir(options) == (fs::path(".harvest") / "shop" / "cache").string());
    options.state_dir = "/srv/harvest/state";
    CHECK(http_cache_dir(options) == "/srv/harvest/state/cache");
    options.state_dir = "state/";
    CHECK(http_cache_dir(options) == (fs::path("state/") / "cache").string());
    options.http_cache.dir = "/var/cache/harvest";
    CHECK(http_cache_dir(options) == "/var/cache/harvest");
}
