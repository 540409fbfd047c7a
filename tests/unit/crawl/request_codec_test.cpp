// request_codec: the one encoding of a crawl_request (journal, spill, Redis). Round trips of
// randomized requests, edge cases, every kind of malformed input, and the Redis JSON of the
// release before the codec. (A journal written by that release: journal_test.cpp.)

#include "engine/crawl/request_codec.hpp"

#include "engine/crawl/spill.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>

#include <catch2/catch.hpp>

namespace codec = harvest::crawl::request_codec;
using codec::decode_error;
using harvest::crawl::crawl_request;

namespace {

bool same(const crawl_request& a, const crawl_request& b) {
    return a.http.method == b.http.method && a.http.url == b.http.url &&
           a.http.headers == b.http.headers && a.http.body == b.http.body && a.depth == b.depth &&
           a.attempt == b.attempt && a.previous_backoff == b.previous_backoff &&
           a.idempotency_key == b.idempotency_key && a.fingerprint == b.fingerprint &&
           a.sitemap == b.sitemap && a.breaker_failure_counted == b.breaker_failure_counted &&
           a.session == b.session && a.follow_rule == b.follow_rule;
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
    if ((rng() & 1) != 0) {
        r.session = random_unsigned(rng);
        r.follow_rule = random_unsigned(rng);
    }
    return r;
}

crawl_request codec_sample() {
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
        crawl_request r = codec_sample();
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
        crawl_request r = codec_sample();
        r.http.url = std::string("http://127.0.0.1/\0\xc3\x28\xff", 21);
        r.http.headers = {{std::string("\0\x80", 2), std::string("\xfe\n\r", 3)}};
        r.http.body = std::string(256, '\0');
        r.idempotency_key = "\xf0\x9f\x92";
        const auto back = codec::decode(encoded(r));
        REQUIRE(back.ok());
        CHECK(same(back.request, r));
    }
    SECTION("extreme numbers") {
        crawl_request r = codec_sample();
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

TEST_CASE("request_codec carries a request's session and follow rule, old records read as 0",
          "[unit][session]") {
    crawl_request r;
    r.http.url = "u";
    const std::string plain = encoded(r);
    // No session, no rule: the bytes of the release before sessions (flags 0, nothing after).
    CHECK(plain == std::string("\x01\x00"                   // version, flags
                               "\0\0\0\0\0\0\0\0"           // fingerprint
                               "\x00\x00\x00"               // depth, attempt, backoff
                               "\x03GET\x01u\x00\x00\x00",  // method .. key
                               22));
    const auto old = codec::decode(plain);
    REQUIRE(old.ok());
    CHECK(old.request.session == 0);
    CHECK(old.request.follow_rule == 0);

    r.session = 300;
    r.follow_rule = 2;
    const std::string bytes = encoded(r);
    CHECK(bytes[1] == '\x04');
    CHECK(bytes.substr(22) == std::string("\xac\x02\x02"));
    const auto back = codec::decode(bytes);
    REQUIRE(back.ok());
    CHECK(back.request.session == 300);
    CHECK(back.request.follow_rule == 2);
    // The flag without its two numbers is a truncated record.
    std::string cut = plain;
    cut[1] = '\x04';
    CHECK(codec::decode(cut).error == decode_error::truncated);
}

TEST_CASE("request_codec rejects every truncation and every corrupted field", "[unit]") {
    const crawl_request r = codec_sample();
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
        bad[1] = '\x08';
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
    const crawl_request r = codec_sample();
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
    const auto binary = codec::decode_any(encoded(codec_sample()));
    REQUIRE(binary.ok());
    CHECK(same(binary.request, codec_sample()));
}
