#include "engine/core/text.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

using namespace harvest::core;
using namespace std::string_view_literals;

static_assert(ascii_lower('Q') == 'q');
static_assert(ascii_upper('q') == 'Q');
static_assert(iequals("Content-Type", "content-TYPE"));
static_assert(istarts_with("GZIP, br", "gzip"));

TEST_CASE("text: ASCII case mapping changes only A-Z and a-z", "[unit][text]") {
    for (int i = 0; i < 256; ++i) {
        const char c = static_cast<char>(i);
        INFO(i);
        if (c >= 'A' && c <= 'Z') {
            CHECK(ascii_lower(c) == static_cast<char>(i + 32));
            CHECK(ascii_upper(c) == c);
        } else if (c >= 'a' && c <= 'z') {
            CHECK(ascii_upper(c) == static_cast<char>(i - 32));
            CHECK(ascii_lower(c) == c);
        } else {
            // Digits, punctuation and every byte of a UTF-8 sequence stay as they are.
            CHECK(ascii_lower(c) == c);
            CHECK(ascii_upper(c) == c);
        }
    }
}

TEST_CASE("text: lowered copies and in-place lowering", "[unit][text]") {
    CHECK(ascii_lowered("HTTP://Example.COM/Path?Q=1") == "http://example.com/path?q=1");
    CHECK(ascii_lowered("") == "");
    // "ÄÖ" in UTF-8: not ASCII letters, left alone.
    CHECK(ascii_lowered("X\xC3\x84\xC3\x96Y") == "x\xC3\x84\xC3\x96y");
    std::string text = "Text/HTML; Charset=UTF-8";
    ascii_lower_in_place(text);
    CHECK(text == "text/html; charset=utf-8");
    std::string with_nul("A\0B", 3);
    ascii_lower_in_place(with_nul);
    CHECK(with_nul == std::string("a\0b", 3));
}

TEST_CASE("text: case-insensitive comparison", "[unit][text]") {
    CHECK(iequals("", ""));
    CHECK(iequals("Transfer-Encoding", "transfer-encoding"));
    CHECK_FALSE(iequals("gzip", "gzip "));
    CHECK_FALSE(iequals("gzip", "gzi"));
    CHECK_FALSE(iequals("a", "b"));
    CHECK_FALSE(iequals("[", "{"));  // 0x5B and 0x7B differ by 0x20 but are not letters
    CHECK_FALSE(iequals("\xC3\x84", "\xC3\xA4"));  // Ä and ä: not ASCII
    CHECK(iequals("x\xC3\x84", "X\xC3\x84"));
    // Every pair of bytes, against the definition: equal once both are lowered.
    std::size_t mismatches = 0;
    for (int x = 0; x < 256; ++x) {
        for (int y = 0; y < 256; ++y) {
            const char a = static_cast<char>(x);
            const char b = static_cast<char>(y);
            const bool expected = ascii_lower(a) == ascii_lower(b);
            mismatches += iequals(std::string_view(&a, 1), std::string_view(&b, 1)) != expected;
        }
    }
    CHECK(mismatches == 0);

    CHECK(istarts_with("User-agent: *", "user-AGENT"));
    CHECK(istarts_with("anything", ""));
    CHECK(istarts_with("InStock", "instock"));
    CHECK_FALSE(istarts_with("In", "instock"));
    CHECK_FALSE(istarts_with("", "a"));
    CHECK_FALSE(istarts_with("OutOfStock", "instock"));
}

TEST_CASE("text: trim", "[unit][text]") {
    CHECK(trim("  a b \t\r\n") == "a b");
    CHECK(trim(" \t ") == "");
    CHECK(trim("") == "");
    CHECK(trim(" \tvalue\t ", http_ows) == "value");
    CHECK(trim("\nvalue\n", http_ows) == "\nvalue\n");
}

TEST_CASE("text: trim_c0_control_or_space strips the bytes 0x00 to 0x20 at both ends",
          "[unit][text]") {
    CHECK(trim_c0_control_or_space(" \t\n\x01 /a b\x7f \r\x1f"sv) == "/a b\x7f");
    CHECK(trim_c0_control_or_space("\0\0x\0"sv) == "x");
    CHECK(trim_c0_control_or_space(" \x20\x00\x1f"sv).empty());
    CHECK(trim_c0_control_or_space("").empty());
    // Bytes above 0x20 stay, a no-break space (UTF-8 C2 A0) included.
    CHECK(trim_c0_control_or_space("\xc2\xa0x\xc2\xa0"sv) == "\xc2\xa0x\xc2\xa0");
}

TEST_CASE("text: append_utf8 encodes every scalar value as one well-formed sequence",
          "[unit][text]") {
    CHECK([] {
        std::string out;
        append_utf8(out, U'A');
        append_utf8(out, U'\u00e9');
        append_utf8(out, U'\u20ac');
        append_utf8(out, U'\U0001F600');
        return out;
    }() == "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
    // Every scalar value at the edges of each length, and a stride through all of them: one
    // sequence of the length its range gives, which reads back as itself.
    std::vector<char32_t> values{0x0,    0x7F,   0x80,   0x7FF,   0x800,   0xD7FF,
                                 0xE000, 0xFFFD, 0xFFFF, 0x10000, 0x10FFFF};
    for (char32_t cp = 1; cp <= 0x10FFFF; cp += 97) {
        if (cp < 0xD800 || cp > 0xDFFF) {
            values.push_back(cp);
        }
    }
    for (const char32_t cp : values) {
        INFO(static_cast<unsigned>(cp));
        std::string out = "x";
        append_utf8(out, cp);
        const std::string_view sequence = std::string_view(out).substr(1);
        const std::size_t expected = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        REQUIRE(sequence.size() == expected);
        CHECK(utf8_sequence_length(sequence, 0) == expected);
        char32_t decoded =
            expected == 1 ? static_cast<unsigned char>(sequence[0])
                          : static_cast<unsigned char>(sequence[0]) & (0xFFu >> (expected + 1));
        for (std::size_t i = 1; i < expected; ++i) {
            decoded = (decoded << 6) | (static_cast<unsigned char>(sequence[i]) & 0x3Fu);
        }
        CHECK(decoded == cp);
    }
}
