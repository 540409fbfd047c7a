// The client's response reader (engine/net/detail/exchange.hpp: Beast's basic_parser feeding an
// exchange_result, in a read loop of its own) against Beast's own message parser and
// http::read on the same bytes: 30,000 generated responses — content-length, chunked (with
// extensions and trailers), until-close and HTTP/1.0 bodies, HEAD, 1xx/204/304, oversize
// headers and bodies, junk, truncation anywhere, pipelined bytes after the message — each read
// whole and in 1..64-byte pieces. Both must agree on the outcome (the fetch_error it maps to;
// see the loop for the one split-dependent exception), and on success on the status, every
// field, the body and keep-alive. Where the client is deliberately more lenient than Beast
// (blank lines before the status line, no reason phrase, a stray CRLF after the message; see
// engine/net/detail/exchange.hpp and llhttp_response_test.cpp) Beast reads the bytes it would
// accept for the same response instead. The client reads a plain response's header itself
// (parse_plain_header) and leaves the rest to Beast's parser, so both of its paths are compared.

#include "tests/support/response_reading.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>

namespace {

namespace detail = harvest::net::detail;
using harvest::test::read_outcome;
using harvest::test::read_with_beast;
using harvest::test::read_with_client;
using harvest::test::same_reading;

constexpr std::uint64_t reader_max_body = 4096;

// The decimal numbers 0, 1, 2, ... each followed by `separator`, until at least `size` bytes:
// a large body whose every piece differs from its neighbours.
std::string counted_text(std::size_t size, char separator) {
    std::string text;
    for (std::size_t i = 0; text.size() < size; ++i) {
        text += std::to_string(i) + separator;
    }
    return text;
}

// A 200 whose `body` is framed by Content-Length.
std::string content_length_response(const std::string& body) {
    return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// One random response, well-formed or not.
std::string make_response(std::mt19937_64& rng, bool& head) {
    const auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    const auto some_text = [&](std::size_t n) {
        std::string text;
        for (std::size_t i = 0; i < n; ++i) {
            text.push_back(static_cast<char>('a' + pick(26)));
        }
        return text;
    };
    static const unsigned statuses[] = {200, 200, 200, 100, 204, 301, 304, 404, 429, 503, 999};
    head = pick(10) == 0;
    // Blank lines before the status line (a stray CRLF on a kept-alive connection), and status
    // lines without a reason phrase: read by the client, not by Beast (see the loop).
    std::string wire = pick(30) == 0 ? std::string("\r\n\r\n\r\n").substr(pick(5)) : "";
    wire += pick(8) == 0 ? "HTTP/1.0 " : "HTTP/1.1 ";
    wire += std::to_string(statuses[pick(std::size(statuses))]);
    wire += pick(30) == 0 ? "\r\n" : " OK\r\n";
    const std::size_t body_size = pick(20) == 0  ? reader_max_body + 1 + pick(100)
                                  : pick(3) == 0 ? pick(3000)
                                                 : pick(80);
    const std::string body = some_text(body_size);
    enum { length, chunked, until_close } framing = static_cast<decltype(length)>(pick(3));
    // A field line with the spellings servers use: any case of the name, OWS or none around the
    // value. Both readers of the client (the plain path and Beast's parser) meet them all.
    const auto field = [&](std::string name, const std::string& value) {
        const std::size_t casing = pick(8);
        for (char& c : name) {
            c = casing == 0   ? static_cast<char>(std::tolower(static_cast<unsigned char>(c)))
                : casing == 1 ? static_cast<char>(std::toupper(static_cast<unsigned char>(c)))
                              : c;
        }
        static const char* const before[] = {": ", ": ", ": ", ":", ":\t", ":  "};
        static const char* const after[] = {"", "", "", " ", "\t "};
        return name + before[pick(std::size(before))] + value + after[pick(std::size(after))] +
               "\r\n";
    };
    const std::size_t fields = pick(6);
    for (std::size_t i = 0; i < fields; ++i) {
        std::string value = some_text(pick(12));
        if (!value.empty() && pick(40) == 0) {
            value[pick(value.size())] = pick(2) == 0 ? '\xe9' : '\x01';  // obs-text, a CTL
        }
        wire += field("X-" + some_text(1 + pick(6)), value);
    }
    if (pick(150) == 0) {
        wire += "X-Huge: " + std::string(detail::header_limit, 'h') + "\r\n";
    }
    if (pick(4) == 0) {
        static const char* const connections[] = {
            "close", "keep-alive", "Close", "Keep-Alive", "upgrade", "keep-alive, close", "clos"};
        const std::size_t n = pick(2) == 0 ? 2 : pick(std::size(connections));
        wire += field("Connection", connections[n]);
        if (pick(20) == 0) {
            wire += field("Connection", connections[pick(std::size(connections))]);
        }
    }
    if (pick(60) == 0) {
        wire += pick(2) == 0 ? field("Upgrade", "h2c") : field("Proxy-Connection", "close");
    }
    if (framing == length) {
        const std::size_t claimed = pick(10) == 0 ? body.size() + pick(5) : body.size();
        const std::string zeros = pick(40) == 0 ? "0" : "";
        wire += field("Content-Length", zeros + std::to_string(claimed));
        if (pick(30) == 0) {
            wire += "Content-Length: " + std::to_string(claimed + 1) + "\r\n";  // conflict
        }
    } else if (framing == chunked) {
        wire += "Transfer-Encoding: chunked\r\n";
    }
    wire += pick(40) == 0 ? "\n" : "\r\n";
    if (framing == chunked) {
        std::size_t at = 0;
        while (at < body.size()) {
            const std::size_t n = std::min(body.size() - at, 1 + pick(700));
            char hex[32];
            std::snprintf(hex, sizeof hex, "%zx", n);
            wire += hex;
            if (pick(6) == 0) {
                wire += ";ext=" + some_text(3);
            }
            wire += "\r\n" + body.substr(at, n) + "\r\n";
            at += n;
        }
        wire += "0\r\n";
        if (pick(5) == 0) {
            wire += "X-Trailer: " + some_text(4) + "\r\n";
        }
        wire += "\r\n";
    } else {
        wire += body;
    }
    if (pick(8) == 0) {
        wire += "HTTP/1.1 200 OK\r\n";  // a pipelined byte stream after the message
    }
    if (pick(6) == 0) {
        wire.resize(pick(wire.size() + 1));  // cut anywhere
    }
    if (pick(12) == 0 && !wire.empty()) {
        wire[pick(wire.size())] = static_cast<char>(pick(256));  // one stray byte
    }
    return wire;
}

}  // namespace

TEST_CASE("the response reader agrees with Beast's message parser on 30,000 responses",
          "[unit][net][response_reader]") {
    std::mt19937_64 rng(20261129);
    std::size_t succeeded = 0;
    std::size_t failed = 0;
    std::size_t split_dependent = 0;
    std::size_t lenient_cases = 0;
    std::size_t plain_cases = 0;  // what parse_plain_header reads, not Beast's parser
    // One thread reads here: under ThreadSanitizer, which finds nothing in it, a tenth of the
    // cases (the slowest test of that build otherwise); ASan and release builds read them all.
#ifdef HARVEST_TSAN
    constexpr std::size_t cases = 3000;
#else
    constexpr std::size_t cases = 30000;
#endif
    for (std::size_t i = 0; i < cases; ++i) {
        bool head = false;
        const std::string wire = make_response(rng, head);
        harvest::net::detail::exchange_result scratch;
        plain_cases += !head && detail::parse_plain_header(wire, scratch, reader_max_body) ? 1 : 0;
        const std::size_t read_size = i % 3 == 0 ? 0 : 1 + rng() % 64;
        const auto client = read_with_client(wire, read_size, head, reader_max_body);
        REQUIRE(client);  // the bytes end in EOF: the read completes
        const read_outcome& ours = *client;
        // The oracle for the client's leniencies before a message: Beast on the bytes it would
        // accept for them (blank lines dropped, the SP before an empty reason supplied). The
        // bytes then split differently, so only success or failure must agree, as for reads of
        // unlimited size.
        const std::string reference = harvest::test::beast_equivalent(wire);
        const bool lenient = reference != wire;
        lenient_cases += lenient ? 1 : 0;
        const read_outcome beasts = read_with_beast(reference, read_size, head, reader_max_body);
        INFO("case " << i << ", read size " << read_size << ", head " << head << ":\n" << wire);
        if (read_size != 0 && !lenient) {
            REQUIRE(ours.ec == beasts.ec);
        } else {
            // Reads as large as the buffer split differently (the client reserves 4 KiB where
            // Beast starts with 512 bytes), and Beast's parser checks the characters of an
            // unfinished field line only in the first put() that sees it: a malformed header
            // cut short is then `protocol` for one and `reset` for the other. Failing is common.
            REQUIRE(static_cast<bool>(ours.ec) == static_cast<bool>(beasts.ec));
            if (ours.ec != beasts.ec) {
                ++split_dependent;
            }
        }
        if (ours.ec) {
            ++failed;
            continue;
        }
        ++succeeded;
        // Status, body, keep-alive and the fields: the reader keeps the wire's order, Beast's
        // fields move a repeated name up behind its first occurrence (compared grouped).
        CAPTURE(ours.status, beasts.status, ours.body.size(), beasts.body.size());
        if (lenient && read_size != 0) {
            // Whether bytes after the message (HEAD, pipelined) are already buffered when it
            // ends depends on the split, which differs by the bytes Beast was spared.
            read_outcome reference_reading = beasts;
            reference_reading.keep_alive = ours.keep_alive;
            REQUIRE(same_reading(ours, reference_reading));
        } else {
            REQUIRE(same_reading(ours, beasts));
        }
    }
    // Both kinds of outcome are exercised, not only one.
    CHECK(succeeded > cases / 3);
    CHECK(failed > cases / 10);
    CHECK(split_dependent < cases / 300);
    CHECK(lenient_cases > cases / 30);
    CHECK(plain_cases > cases / 12);
}

TEST_CASE("the plain path reads a server's usual header and leaves anything unusual to Beast",
          "[unit][net][response_reader]") {
    const std::string nginx =
        "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 06 Dec 2026 23:50:00 GMT\r\n"
        "Content-Type: application/json\r\nContent-Length: 5\r\n"
        "Last-Modified: Sun, 06 Dec 2026 20:00:00 GMT\r\nConnection: keep-alive\r\n"
        "ETag: \"6753a2c0-5\"\r\nAccept-Ranges: bytes\r\n\r\n";
    harvest::net::detail::exchange_result out;
    const auto header = detail::parse_plain_header(nginx + "{}{}\n", out, 1 << 20);
    REQUIRE(header);
    CHECK(header->size == nginx.size());
    CHECK(header->content_length == 5);
    CHECK(header->keep_alive);
    CHECK(out.status == 200);
    REQUIRE(out.headers.size() == 8);
    CHECK(out.headers[3] == std::pair<std::string, std::string>("Content-Length", "5"));
    CHECK(out.headers[6].second == "\"6753a2c0-5\"");

    // HTTP/1.0 keeps the connection only when asked; OWS around a value is not part of it.
    out = {};
    const auto old = detail::parse_plain_header(
        "HTTP/1.0 404 Not Found\r\ncontent-length:\t0 \r\nX-Empty:\r\n\r\n", out, 10);
    REQUIRE(old);
    CHECK_FALSE(old->keep_alive);
    CHECK(out.status == 404);
    CHECK(out.headers[0].second == "0");
    CHECK(out.headers[1].second.empty());

    // Values are scanned eight bytes at a time: a tab is text at any offset, a DEL or a bare CR
    // is not.
    for (std::size_t at = 0; at <= 17; ++at) {
        std::string value(17, 'v');
        value.insert(at, "\t");
        out = {};
        const std::string wire =
            "HTTP/1.1 200 OK\r\nX-Long: " + value + "\r\nContent-Length: 0\r\n\r\n";
        INFO("tab at " << at);
        REQUIRE(detail::parse_plain_header(wire, out, 10));
        CHECK(out.headers[0].second == harvest::core::trim(value));
        for (const char* odd : {"\x7f", "\r", "\x01", "\x80"}) {
            value[at] = *odd;
            out = {};
            CHECK_FALSE(detail::parse_plain_header(
                "HTTP/1.1 200 OK\r\nX-Long: " + value + "\r\nContent-Length: 0\r\n\r\n", out, 10));
        }
    }

    // Each of these is declined, `out` left empty, and read by Beast instead.
    const char* const unusual[] = {
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\n\r\n",  // until the close
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 05\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n",  // over max_body
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: upgrade\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive, close\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nUpgrade: h2c\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-A: caf\xc3\xa9\r\n\r\n",  // obs-text
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-A: a\r\n b\r\n\r\n",      // obs-fold
        "HTTP/1.1 200 OK\nContent-Length: 1\n\n",                            // bare LF
        "HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\n",
        "HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n",
        "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",  // no SP: Beast's
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n",   // not all there
    };
    for (const char* wire : unusual) {
        INFO(wire);
        out = {};
        CHECK_FALSE(detail::parse_plain_header(wire, out, 10));
        CHECK(out.headers.empty());
    }
}

TEST_CASE("a body larger than one read's room is read whole by both paths of the reader",
          "[unit][net][response_reader]") {
    // Room for one read of the body is max_read_room bytes (64 KiB); this body takes five or
    // more, read into the body in place. A whole first read takes the plain path, 100-byte
    // reads send the header to Beast's parser.
    const std::string body = counted_text(300'000, ',');
    const std::string response = content_length_response(body);
    for (const std::size_t read_size : {std::size_t{0}, std::size_t{100}, std::size_t{70'000}}) {
        for (const std::string after : {"", "\r\n", "HTTP/1.1 200 OK\r\n"}) {
            INFO("read size " << read_size << ", then " << after.size() << " bytes");
            const auto client = read_with_client(response + after, read_size, false, 1 << 20);
            REQUIRE(client);
            CHECK_FALSE(client->ec);
            CHECK(client->body == body);
            // A stray CRLF is dropped; the start of another response makes the connection unfit
            // for reuse (the client sends one request at a time).
            CHECK(client->keep_alive == (after.size() <= 2));
            const read_outcome beasts = read_with_beast(response, read_size, false, 1 << 20);
            CHECK(beasts.body == client->body);
        }
    }
    // Cut short, the read fails as a partial message in any piece size.
    for (const std::size_t read_size : {std::size_t{0}, std::size_t{100}, std::size_t{70'000}}) {
        const auto cut =
            read_with_client(response.substr(0, response.size() - 1000), read_size, false, 1 << 20);
        REQUIRE(cut);
        CHECK(cut->ec);
    }
}

TEST_CASE("a body read in place into a recycled string holds the new bytes only",
          "[unit][net][response_reader]") {
    // The plain path reads a body that did not come with its header into a recycled string of
    // the body's size, whose old bytes are not cleared: each must be overwritten or trimmed.
    const std::string body = counted_text(90'000, ';');
    const std::string response = content_length_response(body);
    for (const std::size_t stale_size : {std::size_t{60'000}, std::size_t{95'000}}) {
        harvest::net::recycle_body_buffer(std::string(stale_size, 'x'));
        const auto client = read_with_client(response, 0, false, 1 << 20);
        REQUIRE(client);
        CHECK_FALSE(client->ec);
        CHECK(client->body == body);
        // Cut short: what came, and nothing of the old bytes after it.
        harvest::net::recycle_body_buffer(std::string(stale_size, 'x'));
        const auto cut =
            read_with_client(response.substr(0, response.size() - 500), 0, false, 1 << 20);
        REQUIRE(cut);
        CHECK(cut->ec);
        CHECK(cut->body.find('x') == std::string::npos);
        CHECK(cut->body.size() <= body.size());
    }
}
