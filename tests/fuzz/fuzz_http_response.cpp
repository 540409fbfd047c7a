// Fuzzes the HTTP/1.1 response path the client runs: the real receive_response template of
// engine/net/detail/exchange.hpp (its own reader of a plain header, else Beast's basic_parser
// with the client's header_limit and body_limit: status line, headers, chunked and
// content-length bodies, read piece by piece)
// over an in-memory stream fed the fuzz bytes, then decode_content on the Content-Encoding it
// got. With a fixed read size it also reads the bytes with Beast's own http::read and message
// parser, and traps when the two disagree on the outcome, status, fields, body or keep-alive;
// read whole, on success or failure and, on success, on the rest.
//
// Input: byte 0 = read size per read_some (1..64, or unlimited for 0) and the HEAD flag,
// the rest = the bytes the server sends, then EOF.

#include "engine/net/decode.hpp"
#include "tests/support/response_reading.hpp"

#include <boost/beast/core/string.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

namespace {

constexpr std::uint64_t max_body = 1 << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::size_t read_size = data[0] & 63;
    const bool head = (data[0] & 64) != 0;
    const std::string_view wire(reinterpret_cast<const char*>(data + 1), size - 1);

    // Nothing in the read path should throw (an exception ends the run as a crash).
    auto client = harvest::test::read_with_client(wire, read_size, head, max_body);
    if (!client) {
        __builtin_trap();  // the read must complete: the bytes end in EOF
    }
    auto& result = *client;
    // The reference, fed in the same pieces: Beast's message parser. (Reads as large as the
    // buffer split differently for the two, which can change the error kind of a malformed
    // header cut short; see tests/unit/net/response_reader_test.cpp.)
    // Bytes the client reads more leniently than Beast (blank lines before the status line, no
    // reason phrase, split Transfer-Encoding) are compared only where Beast can read them.
    // Read whole, a plain response takes the client's own header path (parse_plain_header), the
    // rest Beast's parser: both must succeed or fail with Beast's http::read, and read the same.
    const bool comparable = harvest::test::beast_equivalent(wire) == wire &&
                            harvest::test::transfer_encoding_lines(wire) <= 1;
    if (comparable) {
        const auto reference = harvest::test::read_with_beast(wire, read_size, head, max_body);
        if (read_size != 0 && !harvest::test::same_reading(result, reference)) {
            __builtin_trap();
        }
        if (read_size == 0 && (static_cast<bool>(result.ec) != static_cast<bool>(reference.ec) ||
                               (!result.ec && !harvest::test::same_reading(result, reference)))) {
            __builtin_trap();
        }
    }
    if (result.ec) {
        return 0;
    }
    if (result.body.size() > max_body) {
        __builtin_trap();
    }
    std::string_view encoding;
    for (const auto& [name, value] : result.headers) {
        if (boost::beast::iequals(name, "content-encoding")) {
            encoding = value;
        }
    }
    const auto decoded = harvest::net::decode_content(encoding, std::move(result.body), max_body);
    if (decoded && decoded->size() > max_body) {
        __builtin_trap();
    }
    return 0;
}
