// The response buffer's read room (engine/net/detail/exchange.hpp): bodies on both sides of every
// bound come through exact and padded for simdjson, one after another on one pooled connection,
// whether the server writes them at once or in small pieces.

#include "engine/net/decode.hpp"
#include "engine/net/http_client.hpp"
#include "tests/support/test_origin.hpp"

#include <catch2/catch.hpp>

#include <string>

using harvest::net::body_padding;
using harvest::net::http_client;
using harvest::net::http_request;
using harvest::test::http_response_bytes;
using harvest::test::peer;
using harvest::test::received_request;
using harvest::test::run_fetch;
using harvest::test::test_origin;

namespace {

// Body of the size the request path names ("/1234"), every byte depending on its offset.
std::string body_of_size(std::size_t size) {
    std::string body(size, '\0');
    for (std::size_t i = 0; i < size; ++i) {
        body[i] = static_cast<char>('a' + (i * 7 + i / 13) % 26);
    }
    return body;
}

const std::size_t sizes[] = {0,    1,    511,   512,   513,   1300,  4095,  4096,
                             4097, 8000, 65535, 65536, 65537, 70000, 200000};

}  // namespace

TEST_CASE("bodies around the read room bounds arrive exact and padded on one connection",
          "[unit][net][read_room]") {
    const bool in_pieces = GENERATE(false, true);
    CAPTURE(in_pieces);
    test_origin origin([in_pieces](peer& p) {
        while (auto request = p.read_request()) {
            const std::size_t size = std::stoul(request->target.substr(1));
            const std::string bytes = http_response_bytes(200, body_of_size(size));
            if (!in_pieces) {
                if (!p.write(bytes)) {
                    return;
                }
                continue;
            }
            // 700-byte writes: the client sees the response arrive over many reads.
            for (std::size_t at = 0; at < bytes.size(); at += 700) {
                if (!p.write(std::string_view(bytes).substr(at, 700))) {
                    return;
                }
            }
        }
    });
    boost::asio::io_context ioc;
    http_client client{ioc.get_executor(), {"harvest-test/1", std::chrono::seconds(60), 8}};
    for (const std::size_t size : sizes) {
        CAPTURE(size);
        http_request request;
        request.url = origin.url("/" + std::to_string(size));
        const auto result = run_fetch(client, ioc, request);
        REQUIRE(result);
        CHECK(result->status == 200);
        CHECK(result->body == body_of_size(size));
        CHECK(result->body.capacity() >= result->body.size() + body_padding);
    }
    CHECK(origin.connections() == 1);
}
