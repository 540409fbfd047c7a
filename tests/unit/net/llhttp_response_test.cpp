// Responses from llhttp's own test suite (tests/data/llhttp_response, see its SOURCES.md) read by
// the client's response reader, whole and in pieces of 1..13 bytes: what real servers send and
// browsers and curl accept — a status line without a reason phrase, blank lines before a status
// line on a kept-alive connection, a Transfer-Encoding whose final coding is not chunked (read
// until the close) — and, next to them, what must still fail and how.

#include "tests/support/response_reading.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using harvest::net::fetch_error;
using harvest::test::read_exchanges_with_client;
using harvest::test::read_outcome;
using harvest::test::read_with_client;

constexpr std::uint64_t max_body = 4096;
constexpr std::size_t read_sizes[] = {0, 1, 2, 3, 5, 8, 13};

struct expected_reading {
    std::string error;  // a fetch_error kind, or empty for a response
    unsigned status = 0;
    std::string body;
    bool keep_alive = false;
};

expected_reading failure(std::string kind) {
    return {std::move(kind), 0, "", false};
}

struct connection_case {
    std::string name;
    std::vector<std::string> exchanges;
    std::vector<expected_reading> expect;
};

boost::system::error_code error_named(const std::string& kind) {
    if (kind == "protocol") {
        return fetch_error::protocol;
    }
    if (kind == "reset") {
        return fetch_error::reset;
    }
    if (kind == "body_too_large") {
        return fetch_error::body_too_large;
    }
    FAIL("unknown error kind in the test data: " << kind);
    return {};
}

std::vector<connection_case> load_llhttp_cases() {
    std::ifstream in(HARVEST_TEST_DATA_DIR "/llhttp_response/cases.json", std::ios::binary);
    REQUIRE(in);
    std::stringstream text;
    text << in.rdbuf();
    const auto root = boost::json::parse(text.str()).as_object();
    std::vector<connection_case> cases;
    for (const auto& item : root.at("cases").as_array()) {
        const auto& object = item.as_object();
        connection_case c;
        c.name = boost::json::value_to<std::string>(object.at("name"));
        for (const auto& wire : object.at("exchanges").as_array()) {
            c.exchanges.push_back(boost::json::value_to<std::string>(wire));
        }
        for (const auto& e : object.at("expect").as_array()) {
            const auto& want = e.as_object();
            expected_reading r;
            if (const auto* error = want.if_contains("error")) {
                r.error = boost::json::value_to<std::string>(*error);
            } else {
                r.status = static_cast<unsigned>(want.at("status").to_number<std::int64_t>());
                r.body = boost::json::value_to<std::string>(want.at("body"));
                r.keep_alive = want.at("keep_alive").as_bool();
            }
            c.expect.push_back(std::move(r));
        }
        cases.push_back(std::move(c));
    }
    return cases;
}

// The same bytes with each exchange's leading CR/LF moved to the end of the one before: the
// stray CRLF arrives with the previous response instead of before the next one.
std::vector<std::string> crlf_moved_back(std::vector<std::string> exchanges) {
    for (std::size_t i = 1; i < exchanges.size(); ++i) {
        const std::size_t n = exchanges[i].find_first_not_of("\r\n");
        exchanges[i - 1] += exchanges[i].substr(0, n);
        exchanges[i].erase(0, n);
    }
    return exchanges;
}

void check_connection(const connection_case& c, const std::vector<std::string>& exchanges) {
    for (const std::size_t read_size : read_sizes) {
        INFO("case \"" << c.name << "\", read size " << read_size);
        const auto got = read_exchanges_with_client(exchanges, read_size, max_body);
        REQUIRE(got);  // the reads completed
        REQUIRE(got->size() == c.expect.size());
        for (std::size_t i = 0; i < got->size(); ++i) {
            INFO("response " << i);
            const read_outcome& ours = (*got)[i];
            const expected_reading& want = c.expect[i];
            if (!want.error.empty()) {
                CHECK(ours.ec == error_named(want.error));
                continue;
            }
            REQUIRE_FALSE(ours.ec);
            CHECK(ours.status == want.status);
            CHECK(ours.body == want.body);
            CHECK(ours.keep_alive == want.keep_alive);
        }
    }
}

// One response read alone, in every piece size: its outcome (the error kind, or the status,
// body and keep-alive).
void check_single(const std::string& wire, const expected_reading& want) {
    const connection_case c{wire, {wire}, {want}};
    check_connection(c, c.exchanges);
}

}  // namespace

TEST_CASE("llhttp's response cases read as llhttp reads them", "[unit][net][response_reader]") {
    const auto cases = load_llhttp_cases();
    REQUIRE(cases.size() >= 8);
    for (const auto& c : cases) {
        check_connection(c, c.exchanges);
        if (c.exchanges.size() > 1) {
            check_connection(c, crlf_moved_back(c.exchanges));
        }
    }
}

TEST_CASE("a status line without a reason phrase frames its body as any other",
          "[unit][net][response_reader]") {
    check_single("HTTP/1.1 301\r\nLocation: /next\r\nContent-Length: 2\r\n\r\nhi",
                 {"", 301, "hi", true});
    check_single("HTTP/1.0 200\r\n\r\nuntil close", {"", 200, "until close", false});
    check_single("HTTP/1.1 204\r\n\r\n", {"", 204, "", true});
    const auto headers = read_with_client("HTTP/1.1 302\r\nLocation: /a\r\n\r\n", 0, false, 10);
    REQUIRE(headers);
    REQUIRE(headers->headers.size() == 1);
    CHECK(headers->headers[0].second == "/a");
    // Only the SP before an empty reason is supplied: other damage stays a protocol error.
    check_single("HTTP/1.1 30\r\n\r\n", failure("protocol"));
    check_single("HTTP/1.1 3011\r\n\r\n", failure("protocol"));
    check_single("HTTP/1.1 301\rX\r\n\r\n", failure("protocol"));
    check_single("HTTP/1.1 301\nX-A: 1\r\n\r\n", failure("protocol"));
    check_single("HTTP/1.1 301", failure("reset"));
}

TEST_CASE("blank lines before a status line are skipped, a few bytes at most",
          "[unit][net][response_reader]") {
    check_single("\n\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", {"", 200, "x", true});
    check_single("\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", {"", 200, "x", true});
    check_single("\r\n\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", failure("protocol"));
    check_single("\r\n \r\nHTTP/1.1 200 OK\r\n\r\n", failure("protocol"));
    // A blank line and then the close: no response began (the client may resend the request).
    const auto closed = read_with_client("\r\n", 0, false, max_body);
    REQUIRE(closed);
    CHECK(closed->ec == fetch_error::reset);
    // After a response, a stray CRLF alone leaves the connection reusable; other bytes do not.
    const connection_case trailing{
        "stray CRLF after a response",
        {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx\r\n", "HTTP/1.1 204 No Content\r\n\r\n"},
        {{"", 200, "x", true}, {"", 204, "", true}}};
    check_connection(trailing, trailing.exchanges);
    // (Read whole: bytes that come after the response was read are the pool's to find.)
    const auto junk =
        read_with_client("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx\r\nX", 0, false, max_body);
    REQUIRE(junk);
    CHECK_FALSE(junk->ec);
    CHECK_FALSE(junk->keep_alive);
}

TEST_CASE("a Transfer-Encoding whose final coding is not chunked is read until the close",
          "[unit][net][response_reader]") {
    const std::string body = "3\r\nabc\r\n0\r\n\r\n";  // not decoded: the last coding is identity
    check_single(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n"
        "Transfer-Encoding: identity\r\nX-B: 2\r\n\r\n" +
            body,
        {"", 200, body, false});
    check_single(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n"
        "Transfer-Encoding: br\r\n\r\n" +
            body,
        {"", 200, body, false});
    // Still no body where the status forbids one, and the connection is not reused.
    check_single(
        "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n"
        "Transfer-Encoding: identity\r\n\r\n",
        {"", 204, "", false});
    // Every field is kept as sent, in order.
    const auto fields = read_with_client(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\ntransfer-encoding: identity\r\n\r\nx", 0,
        false, max_body);
    REQUIRE(fields);
    REQUIRE_FALSE(fields->ec);
    const harvest::net::header_list want{{"Transfer-Encoding", "chunked"},
                                         {"transfer-encoding", "identity"}};
    CHECK(fields->headers == want);
    // The until-close body is held to max_body like any other.
    check_single(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity"
        "\r\n\r\n" +
            std::string(max_body + 1, 'b'),
        failure("body_too_large"));
}

TEST_CASE("Transfer-Encoding that cannot be framed safely stays a protocol error",
          "[unit][net][response_reader]") {
    // chunked twice, and Transfer-Encoding with Content-Length (a smuggling shape).
    check_single(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked"
        "\r\n\r\n0\r\n\r\n",
        failure("protocol"));
    check_single(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n"
        "Transfer-Encoding: identity\r\n\r\nabc",
        failure("protocol"));
    check_single(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity"
        "\r\nContent-Length: 3\r\n\r\nabc",
        failure("protocol"));
    check_single(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity"
        "\r\n X-Folded: 1\r\n\r\nabc",
        failure("protocol"));
    // A header that never ends: cut short by the close, or over the header limit.
    check_single(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity"
        "\r\nX-A: 1",
        failure("reset"));
    check_single(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity"
        "\r\nX-A: " +
            std::string(harvest::net::detail::header_limit, 'a') + "\r\n\r\n",
        failure("protocol"));
}
