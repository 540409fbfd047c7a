// request_codec: the one encoding of a crawl_request (journal, spill, Redis). Round trips of
// randomized requests, edge cases, every kind of malformed input, and the formats of the release
// before the codec (a journal written by it, its Redis JSON) that must still be read.

#include "engine/crawl/request_codec.hpp"

#include "engine/crawl/journal.hpp"
#include "engine/crawl/spill.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>

#include <catch2/catch.hpp>

namespace codec = harvest::crawl::request_codec;
using codec::decode_error;
using harvest::crawl::crawl_request;
using harvest::crawl::journal;
using harvest::crawl::journal_state;
namespace fs = std::filesystem;

namespace {

bool same(const crawl_request& a, const crawl_request& b) {
    return a.http.method == b.http.method && a.http.url == b.http.url &&
           a.http.headers == b.http.headers && a.http.body == b.http.body && a.depth == b.depth &&
           a.attempt == b.attempt && a.previous_backoff == b.previous_backoff &&
           a.idempotency_key == b.idempotency_key && a.fingerprint == b.fingerprint &&
           a.sitemap == b.sitemap && a.breaker_failure_counted == b.breaker_failure_counted;
}

std::string encoded(const crawl_request& r) {
    std::string out;
    codec::encode(r, out);
    return out;
}

// Any bytes, NUL and non-UTF-8 included; mostly short, sometimes past one varint byte.
std::string random_bytes(std::mt19937_64& rng) {
    std::uniform_int_distribution<int> kind(0, 9);
    std::size_t size = 0;
    switch (kind(rng)) {
        case 0:
            size = 0;
            break;
        case 1:
            size = std::uniform_int_distribution<std::size_t>(128, 20000)(rng);
            break;
        default:
            size = std::uniform_int_distribution<std::size_t>(1, 127)(rng);
    }
    std::string s(size, '\0');
    std::uniform_int_distribution<int> byte(0, 255);
    for (auto& c : s) {
        c = static_cast<char>(byte(rng));
    }
    return s;
}

unsigned random_unsigned(std::mt19937_64& rng) {
    switch (std::uniform_int_distribution<int>(0, 3)(rng)) {
        case 0:
            return 0;
        case 1:
            return std::numeric_limits<unsigned>::max();
        case 2:
            return std::uniform_int_distribution<unsigned>(0, 20)(rng);
        default:
            return std::uniform_int_distribution<unsigned>()(rng);
    }
}

crawl_request random_request(std::mt19937_64& rng) {
    crawl_request r;
    r.http.method = random_bytes(rng);
    r.http.url = random_bytes(rng);
    const auto headers = std::uniform_int_distribution<int>(0, 6)(rng);
    for (int i = 0; i < headers; ++i) {
        r.http.headers.emplace_back(random_bytes(rng), random_bytes(rng));
    }
    r.http.body = random_bytes(rng);
    r.depth = random_unsigned(rng);
    r.attempt = random_unsigned(rng);
    std::int64_t backoff = 0;
    switch (std::uniform_int_distribution<int>(0, 4)(rng)) {
        case 0:
            backoff = 0;
            break;
        case 1:
            backoff = std::numeric_limits<std::int64_t>::min();
            break;
        case 2:
            backoff = std::numeric_limits<std::int64_t>::max();
            break;
        case 3:
            backoff = -std::uniform_int_distribution<std::int64_t>(1, 1000)(rng);
            break;
        default:
            backoff = std::uniform_int_distribution<std::int64_t>(0, 60'000'000'000)(rng);
    }
    r.previous_backoff = std::chrono::nanoseconds(backoff);
    r.idempotency_key = random_bytes(rng);
    r.fingerprint = rng();
    r.sitemap = (rng() & 1) != 0;
    r.breaker_failure_counted = (rng() & 1) != 0;
    return r;
}

crawl_request sample() {
    crawl_request r;
    r.http.method = "POST";
    r.http.url = "http://127.0.0.1:8080/catalog?q=shoes";
    r.http.headers = {{"Content-Type", "application/json"}, {"X-Trace", "t-1"}};
    r.http.body = "{\"page\": 2}";
    r.depth = 3;
    r.attempt = 2;
    r.previous_backoff = std::chrono::milliseconds(1500);
    r.idempotency_key = "idem-1";
    r.fingerprint = 0x0123456789abcdefull;
    r.sitemap = true;
    r.breaker_failure_counted = true;
    return r;
}

class temp_dir {
  public:
    temp_dir() {
        static std::atomic<int> counter{0};
        path_ = fs::temp_directory_path() / ("harvest-codec-" + std::to_string(::getpid()) + "-" +
                                             std::to_string(counter.fetch_add(1)));
        fs::remove_all(path_);
        fs::create_directories(path_);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    ~temp_dir() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    [[nodiscard]] std::string str() const { return path_.string(); }
    [[nodiscard]] std::string file(const std::string& name) const {
        return (path_ / name).string();
    }

  private:
    fs::path path_;
};

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out.good());
}

// journal.log as the release before request_codec (format version 1, commit 559272f) wrote it,
// generated by that code: crawl "fixture"; admits of plain, post, done, plain again with
// breaker_failure_counted (its first failure), a commit completing done with out.jsonl at 1234
// bytes, then an admit of late and a commit of nothing.
const char old_journal_bytes[] =
    "\x48\x56\x4a\x31\x10\x00\x00\x00\x01\x01\x00\x00\x00\x07\x00\x00\x00\x66\x69\x78\x74\x75\x72"
    "\x65"
    "\x3f\x8b\x9a\x4a\x37\x00\x00\x00\x02\x11\x11\x11\x11\x11\x11\x11\x11\x00\x00\x00\x00\x03\x00"
    "\x00"
    "\x00\x47\x45\x54\x13\x00\x00\x00\x68\x74\x74\x70\x3a\x2f\x2f\x61\x2e\x74\x65\x73\x74\x2f\x70"
    "\x6c"
    "\x61\x69\x6e\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xe0\xd7\xb0\x76\x7f\x00\x00\x00"
    "\x02"
    "\x22\x22\x22\x22\x22\x22\x22\x22\x03\x00\x00\x00\x04\x00\x00\x00\x50\x4f\x53\x54\x16\x00\x00"
    "\x00"
    "\x68\x74\x74\x70\x3a\x2f\x2f\x62\x2e\x74\x65\x73\x74\x2f\x70\x3f\x71\x3d\xff\x01\x00\x61\x02"
    "\x00"
    "\x00\x00\x0c\x00\x00\x00\x43\x6f\x6e\x74\x65\x6e\x74\x2d\x54\x79\x70\x65\x10\x00\x00\x00\x61"
    "\x70"
    "\x70\x6c\x69\x63\x61\x74\x69\x6f\x6e\x2f\x6a\x73\x6f\x6e\x05\x00\x00\x00\x58\x2d\x42\x69\x6e"
    "\x03"
    "\x00\x00\x00\x61\x00\x62\x09\x00\x00\x00\x7b\x22\x6b\x22\x3a\x31\x7d\x00\xfe\x06\x00\x00\x00"
    "\x69"
    "\x64\x65\x6d\x2d\x37\x01\x24\x6f\x98\xef\x36\x00\x00\x00\x02\x33\x33\x33\x33\x33\x33\x33\x33"
    "\x01"
    "\x00\x00\x00\x03\x00\x00\x00\x47\x45\x54\x12\x00\x00\x00\x68\x74\x74\x70\x3a\x2f\x2f\x61\x2e"
    "\x74"
    "\x65\x73\x74\x2f\x64\x6f\x6e\x65\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x3b\xf3\xe7"
    "\x99"
    "\x38\x00\x00\x00\x02\x11\x11\x11\x11\x11\x11\x11\x11\x00\x00\x00\x00\x03\x00\x00\x00\x47\x45"
    "\x54"
    "\x13\x00\x00\x00\x68\x74\x74\x70\x3a\x2f\x2f\x61\x2e\x74\x65\x73\x74\x2f\x70\x6c\x61\x69\x6e"
    "\x00"
    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x0e\xdc\x70\x9c\x26\x00\x00\x00\x03\x01\x00"
    "\x00"
    "\x00\x33\x33\x33\x33\x33\x33\x33\x33\x01\x00\x00\x00\x09\x00\x00\x00\x6f\x75\x74\x2e\x6a\x73"
    "\x6f"
    "\x6e\x6c\xd2\x04\x00\x00\x00\x00\x00\x00\x8f\x08\xd8\xc6\x3e\x00\x00\x00\x02\x44\x44\x44\x44"
    "\x44"
    "\x44\x44\x44\x02\x00\x00\x00\x03\x00\x00\x00\x47\x45\x54\x19\x00\x00\x00\x68\x74\x74\x70\x3a"
    "\x2f"
    "\x2f\x63\x2e\x74\x65\x73\x74\x2f\x73\x69\x74\x65\x6d\x61\x70\x2e\x78\x6d\x6c\x00\x00\x00\x00"
    "\x00"
    "\x00\x00\x00\x00\x00\x00\x00\x03\xd7\x43\xa0\x87";

crawl_request old_plain() {
    crawl_request r;
    r.http.url = "http://a.test/plain";
    r.fingerprint = 0x1111111111111111ull;
    return r;
}

crawl_request old_post() {
    crawl_request r;
    r.http.method = "POST";
    r.http.url = std::string(
        "http://b.test/p?q=\xff\x01\x00"
        "a",
        22);
    r.http.headers = {{"Content-Type", "application/json"}, {"X-Bin", std::string("a\0b", 3)}};
    r.http.body = std::string("{\"k\":1}\0\xfe", 9);
    r.idempotency_key = "idem-7";
    r.depth = 3;
    r.sitemap = true;
    r.fingerprint = 0x2222222222222222ull;
    return r;
}

crawl_request old_late() {
    crawl_request r;
    r.http.url = "http://c.test/sitemap.xml";
    r.sitemap = true;
    r.breaker_failure_counted = true;
    r.depth = 2;
    r.fingerprint = 0x4444444444444444ull;
    return r;
}

void check_old_journal_state(const journal_state& s, std::size_t seen = 4) {
    REQUIRE(s.pending.size() == 3);
    crawl_request plain = old_plain();
    plain.breaker_failure_counted = true;  // its second admit marked it
    CHECK(same(s.pending[0], plain));
    CHECK(same(s.pending[1], old_post()));
    CHECK(same(s.pending[2], old_late()));
    CHECK(s.completed_count == 1);
    CHECK(s.seen.contains(0x3333333333333333ull));
    CHECK(s.seen.size() == seen);
    CHECK(s.output_offsets == std::map<std::string, std::uint64_t>{{"out.jsonl", 1234}});
    CHECK_FALSE(s.clean_end);
    CHECK(s.dropped_bytes == 0);
}

}  // namespace

TEST_CASE("request_codec round-trips randomized requests, every field", "[unit]") {
    std::mt19937_64 rng(20261204);
    std::string buffer;
    for (int i = 0; i < 3000; ++i) {
        const crawl_request r = random_request(rng);
        const std::string bytes = encoded(r);
        REQUIRE(bytes.size() == codec::encoded_size(r));
        const auto back = codec::decode(bytes);
        REQUIRE(back.ok());
        REQUIRE(same(back.request, r));
        // encode appends: records built one after another in one buffer stay separate.
        const std::size_t before = buffer.size();
        codec::encode(r, buffer);
        REQUIRE(buffer.substr(before) == bytes);
    }
}

TEST_CASE("request_codec edge cases: empty, defaults, huge, binary", "[unit]") {
    SECTION("a default request, and one with every string empty") {
        crawl_request r;
        auto back = codec::decode(encoded(r));
        REQUIRE(back.ok());
        CHECK(same(back.request, r));
        r.http.method.clear();
        back = codec::decode(encoded(r));
        REQUIRE(back.ok());
        CHECK(same(back.request, r));
        CHECK(encoded(r).size() == 2 + 8 + 3 + 2 + 1 + 2);
    }
    SECTION("huge strings and many headers") {
        crawl_request r = sample();
        r.http.url = "http://127.0.0.1/" + std::string(std::size_t{1} << 20, 'u');
        r.http.body = std::string(std::size_t{8} << 20, '\xff');
        for (int i = 0; i < 10000; ++i) {
            r.http.headers.emplace_back("X-" + std::to_string(i), std::string(300, 'v'));
        }
        const auto back = codec::decode(encoded(r));
        REQUIRE(back.ok());
        CHECK(same(back.request, r));
    }
    SECTION("NUL and non-UTF-8 bytes in the URL, headers, body and key") {
        crawl_request r = sample();
        r.http.url = std::string("http://127.0.0.1/\0\xc3\x28\xff", 21);
        r.http.headers = {{std::string("\0\x80", 2), std::string("\xfe\n\r", 3)}};
        r.http.body = std::string(256, '\0');
        r.idempotency_key = "\xf0\x9f\x92";
        const auto back = codec::decode(encoded(r));
        REQUIRE(back.ok());
        CHECK(same(back.request, r));
    }
    SECTION("extreme numbers") {
        crawl_request r = sample();
        r.depth = std::numeric_limits<unsigned>::max();
        r.attempt = std::numeric_limits<unsigned>::max();
        r.fingerprint = std::numeric_limits<std::uint64_t>::max();
        for (const std::int64_t ns :
             {std::numeric_limits<std::int64_t>::min(), std::int64_t{-1}, std::int64_t{0},
              std::int64_t{1}, std::numeric_limits<std::int64_t>::max()}) {
            r.previous_backoff = std::chrono::nanoseconds(ns);
            const auto back = codec::decode(encoded(r));
            REQUIRE(back.ok());
            CHECK(same(back.request, r));
        }
    }
}

TEST_CASE("request_codec's layout is version 1 as documented", "[unit]") {
    crawl_request r;
    r.http.method = "GET";
    r.http.url = "u";
    r.http.headers = {{"a", "b"}};
    r.depth = 300;
    r.attempt = 1;
    r.previous_backoff = std::chrono::nanoseconds(-1);
    r.fingerprint = 0x0807060504030201ull;
    r.breaker_failure_counted = true;
    const std::string expected(
        "\x01\x02"                          // version, flags
        "\x01\x02\x03\x04\x05\x06\x07\x08"  // fingerprint
        "\xac\x02"                          // depth 300
        "\x01"                              // attempt
        "\x01"                              // backoff -1, zig-zag
        "\x03GET\x01u"                      // method, url
        "\x01"                              // one header:
        "\x01"
        "a"
        "\x01"
        "b"          // (a literal break after each \x01, or "a" and "b" would be hex digits)
        "\x00\x00",  // body, idempotency key
        27);
    CHECK(encoded(r) == expected);
    CHECK(codec::version != '{');
}

TEST_CASE("request_codec rejects every truncation and every corrupted field", "[unit]") {
    const crawl_request r = sample();
    const std::string bytes = encoded(r);

    SECTION("every strict prefix fails, none is read past") {
        for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
            // A heap copy of exactly `cut` bytes: ASan would see a read past it.
            const std::unique_ptr<char[]> copy(new char[cut == 0 ? 1 : cut]);
            std::copy_n(bytes.data(), cut, copy.get());
            const auto back = codec::decode(std::string_view(copy.get(), cut));
            INFO("cut at " << cut);
            CHECK_FALSE(back.ok());
            CHECK(same(back.request, crawl_request{}));
        }
        CHECK(codec::decode("").error == decode_error::empty);
        CHECK(codec::decode(bytes.substr(0, 5)).error == decode_error::truncated);
    }
    SECTION("a byte after the request") {
        CHECK(codec::decode(bytes + '\0').error == decode_error::trailing_bytes);
    }
    SECTION("the version") {
        for (const char v : {'\0', '\x02', '{', '\xff'}) {
            std::string bad = bytes;
            bad[0] = v;
            CHECK(codec::decode(bad).error == decode_error::unknown_version);
        }
    }
    SECTION("the flags") {
        std::string bad = bytes;
        bad[1] = '\x04';
        CHECK(codec::decode(bad).error == decode_error::unknown_flags);
        bad[1] = '\x83';
        CHECK(codec::decode(bad).error == decode_error::unknown_flags);
    }
    // Offsets in a request whose varints are all one byte.
    crawl_request small;
    small.http.url = "u";
    small.http.headers = {{"a", "b"}};
    const std::string base = encoded(small);
    constexpr std::size_t depth_at = 10;
    constexpr std::size_t headers_at = depth_at + 3 + 4 + 2;
    REQUIRE(base[headers_at] == '\x01');
    SECTION("depth or attempt above 32 bits, and overlong varints") {
        std::string bad = base;
        bad.replace(depth_at, 1, "\x80\x80\x80\x80\x10");  // 2^32
        CHECK(codec::decode(bad).error == decode_error::out_of_range);
        bad = base;
        bad.replace(depth_at + 1, 1, "\xff\xff\xff\xff\x0f");  // attempt 2^32 - 1 is fine
        auto back = codec::decode(bad);
        REQUIRE(back.ok());
        CHECK(back.request.attempt == std::numeric_limits<unsigned>::max());
        bad = base;
        bad.replace(depth_at + 2, 1, std::string(10, '\x80') + '\x01');  // 11 bytes
        CHECK(codec::decode(bad).error == decode_error::bad_varint);
        bad = base;
        bad.replace(depth_at + 2, 1, std::string(9, '\xff') + '\x02');  // above 2^64 - 1
        CHECK(codec::decode(bad).error == decode_error::bad_varint);
        bad = base;
        bad.replace(depth_at + 2, 1, std::string(9, '\xff') + '\x01');  // exactly 2^64 - 1
        CHECK(codec::decode(bad).ok());
    }
    SECTION("a string length past the end") {
        std::string bad = base;
        bad[depth_at + 3] = '\x7f';  // the method's length
        CHECK(codec::decode(bad).error == decode_error::truncated);
        bad = base;
        bad.replace(depth_at + 3, 1, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01");
        CHECK(codec::decode(bad).error == decode_error::truncated);
    }
    SECTION("a header count the input cannot hold never drives an allocation") {
        std::string bad = base;
        bad[headers_at] = '\x7f';
        CHECK(codec::decode(bad).error == decode_error::bad_count);
        bad = base;
        bad.replace(headers_at, 1, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01");
        CHECK(codec::decode(bad).error == decode_error::bad_count);
        bad = base;
        bad[headers_at] = '\x02';  // two claimed, one there: reads run out
        CHECK(codec::decode(bad).error == decode_error::truncated);
    }
    SECTION("every single-byte change decodes to an error or to a request that round-trips") {
        std::mt19937_64 rng(7);
        for (std::size_t at = 0; at < bytes.size(); ++at) {
            for (int k = 0; k < 8; ++k) {
                std::string bad = bytes;
                bad[at] = static_cast<char>(rng());
                const auto back = codec::decode(bad);
                if (back.ok()) {
                    const auto again = codec::decode(encoded(back.request));
                    REQUIRE(again.ok());
                    CHECK(same(again.request, back.request));
                } else {
                    CHECK_FALSE(codec::to_string(back.error).empty());
                }
            }
        }
    }
}

TEST_CASE("spill records are the codec behind a u32 length", "[unit]") {
    const crawl_request r = sample();
    std::string record;
    harvest::crawl::encode_spill_record(record, r);
    const std::string payload = encoded(r);
    REQUIRE(record.size() == 4 + payload.size());
    CHECK(record.substr(4) == payload);
    CHECK(static_cast<unsigned char>(record[0]) == payload.size());
    crawl_request back;
    REQUIRE(harvest::crawl::decode_spill_record(record.data(), record.size(), back) ==
            record.size());
    CHECK(same(back, r));
    std::string bad = record;
    bad[4] = '\x09';  // unknown version inside a whole record: malformed, not "read more"
    CHECK(harvest::crawl::decode_spill_record(bad.data(), bad.size(), back) ==
          std::numeric_limits<std::size_t>::max());
}

TEST_CASE("a journal written by the release before request_codec replays and is converted",
          "[unit]") {
    temp_dir dir;
    const std::string old_journal(old_journal_bytes, sizeof(old_journal_bytes) - 1);
    REQUIRE(old_journal.size() == 468);
    write_file(dir.file("journal.log"), old_journal);

    const journal_state replayed = journal::replay(dir.str(), "fixture");
    CHECK(replayed.format_version == 1);
    check_old_journal_state(replayed);

    // Resuming rewrites it in the current format, with the same state, and appends after it.
    crawl_request next;
    next.http.url = "http://d.test/next";
    next.fingerprint = 0x5555555555555555ull;
    next.attempt = 4;  // attempts are not journaled state: a resumed request starts afresh
    next.previous_backoff = std::chrono::seconds(3);
    {
        harvest::crawl::journal_options o;
        o.durable = false;
        o.auto_compact = false;
        journal j(dir.str(), "fixture", true, o);
        check_old_journal_state(j.take_recovered_state());
        j.admit(next);
        j.commit({}, {});
    }
    const std::string converted = read_file(dir.file("journal.log"));
    CHECK(converted != old_journal);
    journal_state after = journal::replay(dir.str(), "fixture");
    CHECK(after.format_version == journal::format_version);
    REQUIRE(after.pending.size() == 4);
    crawl_request expected_next = next;
    expected_next.attempt = 0;
    expected_next.previous_backoff = {};
    CHECK(same(after.pending[3], expected_next));
    CHECK(after.seen.contains(0x5555555555555555ull));
    after.pending.pop_back();
    check_old_journal_state(after, 5);
}

TEST_CASE("the Redis JSON of the release before request_codec is written and read as before",
          "[unit]") {
    crawl_request r;
    r.http.url = "http://a.test/x";
    r.http.headers = {{"A", "b"}};
    r.http.body = "q";
    r.depth = 2;
    r.sitemap = true;
    r.idempotency_key = "k1";
    r.fingerprint = 42;
    // What the previous release's serialize() wrote for it.
    const std::string old =
        R"({"m":"GET","u":"http://a.test/x","h":[["A","b"]],"b":"q","d":2,"s":true,"k":"k1","f":42})";
    std::string out;
    codec::legacy_json::encode(r, out);
    CHECK(out == old);

    for (const auto& back : {codec::legacy_json::decode(old), codec::decode_any(old)}) {
        REQUIRE(back.ok());
        CHECK(same(back.request, r));
    }
    // Optional members absent, and members of the wrong type ignored, as before.
    const auto minimal = codec::decode_any(R"({"m":"GET","u":"http://a.test/","d":"x","h":[1]})");
    REQUIRE(minimal.ok());
    CHECK(minimal.request.http.url == "http://a.test/");
    CHECK(minimal.request.depth == 0);
    CHECK(minimal.request.fingerprint == 0);
    CHECK(minimal.request.http.headers.empty());
    CHECK(codec::decode_any(R"({"u":"http://a.test/"})").error == decode_error::unknown_version);
    CHECK(codec::decode_any("{not json").error == decode_error::unknown_version);
    // The binary form goes to the codec.
    const auto binary = codec::decode_any(encoded(sample()));
    REQUIRE(binary.ok());
    CHECK(same(binary.request, sample()));
}
