#pragma once
// The HTTP/1.1 half of a connection: one request/response exchange over any stream whose lowest
// layer is a timed_socket (a plain response's header read by parse_plain_header, any other
// by Beast's parser), and the single mapping of Asio/Beast/OpenSSL errors to
// fetch_error. An implementation detail of engine/net: included by connection_plain.cpp,
// connection_tls.cpp and tls_receive.cpp (and the tests and fuzzer of the response reader), so
// its templates are instantiated once per stream type.

#include "engine/core/text.hpp"
#include "engine/net/body_pool.hpp"
#include "engine/net/connection.hpp"
#include "engine/net/decode.hpp"
#include "engine/net/detail/timed_socket.hpp"
#include "engine/net/fetch_error.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/optional/optional.hpp>

#include <sys/socket.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace harvest::net::detail {

namespace beast = boost::beast;
namespace http = boost::beast::http;

// Larger header blocks are a protocol error: no real site needs more, and it bounds memory.
inline constexpr std::size_t header_limit = std::size_t{64} << 10;

// A pooled connection keeps read_room of buffer; a large chunked or close-delimited body may
// grow it to max_read_room for one response, given back afterwards (a Content-Length body is
// read straight into the response's body: see receive_response).
inline constexpr std::size_t read_room = std::size_t{4} << 10;
inline constexpr std::size_t max_read_room = std::size_t{64} << 10;

inline void reserve_read_room(beast::flat_buffer& buffer, std::size_t room) {
    if (buffer.capacity() - buffer.size() < room) {
        buffer.reserve(buffer.size() + room);
    }
}

// Beast's HTTP/1.1 parser (status line, fields, chunked and content-length bodies, limits)
// with the message going straight into an exchange_result: no beast::http::fields to build
// (an allocation and a sorted-set insert per field, then a copy of each into the header list)
// and the body appended piece by piece, never zero-filled first. A known length is reserved at
// once, with the simdjson padding the client adds later, so a body is allocated once.
//
// `masked` lists field names in the bytes about to be parsed whose Transfer-Encoding was hidden
// from Beast (see recover_transfer_encoding): they are reported under their own name.
class response_reader final : public http::basic_parser<false> {
  public:
    explicit response_reader(exchange_result& out, std::vector<const char*> masked = {})
        : out_(out), masked_(std::move(masked)) {}

    int version() const noexcept { return version_; }

    // While set, body bytes handed to put() are already at the end of the body (read there by
    // receive_response): the parser only accounts for them, nothing is appended.
    void body_in_place(bool in_place) noexcept { body_in_place_ = in_place; }

  private:
    void on_request_impl(http::verb /*method*/, beast::string_view /*method_str*/,
                         beast::string_view /*target*/, int /*version*/,
                         beast::error_code& ec) override {
        ec = http::error::bad_method;  // unreachable: this is a response parser
    }

    void on_response_impl(int code, beast::string_view /*reason*/, int version,
                          beast::error_code& /*ec*/) override {
        out_.status = static_cast<unsigned>(code);
        version_ = version;
        out_.headers.reserve(12);
    }

    void on_field_impl(http::field /*name*/, beast::string_view name, beast::string_view value,
                       beast::error_code& /*ec*/) override {
        auto& field = out_.headers.emplace_back(std::string(name), std::string(value));
        if (!masked_.empty() &&
            std::find(masked_.begin(), masked_.end(), name.data()) != masked_.end()) {
            field.first[masked_name_at] = masked_name_from;
        }
    }

    void on_header_impl(beast::error_code& /*ec*/) override {}

    void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                           beast::error_code& ec) override {
        if (length) {
            if (*length > out_.body.max_size() - body_padding) {
                ec = http::error::buffer_overflow;
                return;
            }
            const auto capacity = static_cast<std::size_t>(*length) + body_padding;
            if (out_.body.empty()) {
                out_.body = take_body_buffer(capacity);
            } else {
                out_.body.reserve(capacity);
            }
        }
    }

    std::size_t on_body_impl(beast::string_view body, beast::error_code& /*ec*/) override {
        if (!body_in_place_) {
            out_.body.append(body.data(), body.size());
        }
        return body.size();
    }

    void on_chunk_header_impl(std::uint64_t /*size*/, beast::string_view /*extensions*/,
                              beast::error_code& /*ec*/) override {}

    std::size_t on_chunk_body_impl(std::uint64_t /*remain*/, beast::string_view body,
                                   beast::error_code& /*ec*/) override {
        out_.body.append(body.data(), body.size());
        return body.size();
    }

    void on_finish_impl(beast::error_code& /*ec*/) override {}

  public:
    // A Transfer-Encoding name hidden from Beast: its '-' made '_' (any other field to Beast).
    static constexpr std::size_t masked_name_at = 8;
    static constexpr char masked_name_from = '-';
    static constexpr char masked_name_to = '_';

  private:
    exchange_result& out_;
    std::vector<const char*> masked_;
    int version_ = 11;
    bool body_in_place_ = false;
};

// Parses what `buffer` holds. need_more (cleared to success) when the parser wants more bytes
// than are there, which includes a parse that consumed nothing.
inline beast::error_code parse_buffered(response_reader& parser, beast::flat_buffer& buffer,
                                        bool& need_more) {
    need_more = true;
    if (buffer.size() == 0) {
        return {};
    }
    beast::error_code ec;
    const std::size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == http::error::need_more) {
        return {};
    }
    need_more = !ec && used == 0;
    return ec;
}

// Leniencies of browsers and curl that Beast's parser lacks, applied to the bytes before it sees
// them (docs/config.md, "HTTP/1.1 responses"). Each is bounded and leaves malformed input to
// Beast, which fails it as before.

// Blank-line bytes (CR or LF) skipped before a status line: the stray CRLF some servers send
// after a body arrives with that response or before the next one on a kept-alive connection.
// RFC 9112 section 2.2 asks a recipient to ignore at least one empty line before a start line;
// Chromium takes up to 4 bytes of anything before "HTTP". More is a protocol error.
inline constexpr std::size_t max_blank_bytes = 4;

inline bool is_blank_byte(char c) noexcept {
    return c == '\r' || c == '\n';
}

// Drops up to `budget` CR/LF bytes from the front of `buffer`; returns how many.
inline std::size_t skip_blank_bytes(beast::flat_buffer& buffer, std::size_t budget) {
    const auto* p = static_cast<const char*>(buffer.data().data());
    std::size_t n = 0;
    while (n < budget && n < buffer.size() && is_blank_byte(p[n])) {
        ++n;
    }
    buffer.consume(n);
    return n;
}

// "HTTP/d.d ddd\r": a status line with no reason phrase and no SP before it, which Beast rejects
// (RFC 9112 section 4 requires the SP; nginx, curl and browsers do without). The SP is inserted
// so Beast reads an empty reason. False while fewer than 13 bytes are buffered (Beast cannot
// have parsed or rejected such a line before it holds 13 bytes either); true once decided.
inline bool settle_status_line(beast::flat_buffer& buffer) {
    constexpr std::size_t at = 12;  // after "HTTP/1.1 301"
    if (buffer.size() <= at) {
        return false;
    }
    const auto* p = static_cast<const char*>(buffer.data().data());
    const auto digit = [](char c) { return c >= '0' && c <= '9'; };
    const bool reasonless = std::memcmp(p, "HTTP/", 5) == 0 && digit(p[5]) && p[6] == '.' &&
                            digit(p[7]) && p[8] == ' ' && digit(p[9]) && digit(p[10]) &&
                            digit(p[11]) && p[at] == '\r';
    if (reasonless) {
        const std::size_t size = buffer.size();
        buffer.prepare(1);  // may move the bytes: take the pointer again
        auto* bytes = static_cast<char*>(buffer.data().data());
        std::memmove(bytes + at + 1, bytes + at, size - at);
        bytes[at] = ' ';
        buffer.commit(1);
    }
    return true;
}

// True when the last coding of a Transfer-Encoding value is chunked.
inline bool ends_in_chunked(std::string_view value) noexcept {
    const auto comma = value.rfind(',');
    std::string_view last = comma == std::string_view::npos ? value : value.substr(comma + 1);
    while (!last.empty() && (last.front() == ' ' || last.front() == '\t')) {
        last.remove_prefix(1);
    }
    while (!last.empty() && (last.back() == ' ' || last.back() == '\t')) {
        last.remove_suffix(1);
    }
    return beast::iequals(last, "chunked");
}

enum class te_recovery { need_more, recovered, refused };

// Beast fails a Transfer-Encoding field that follows one ending in chunked (its duplicate check),
// though RFC 9112 section 6.3 reads such a response until the close when the last coding (of
// all Transfer-Encoding lines taken together) is not chunked, as llhttp and curl do. Called after
// that failure, with `buffer` starting at the offending field line: once the rest of the header
// is buffered, checks that the last Transfer-Encoding line is not chunked and that there is no
// Content-Length (Transfer-Encoding with Content-Length stays a protocol error: it is how requests
// are smuggled) and no obs-fold, then hides those Transfer-Encoding names from Beast and lists
// them in `masked`. A fresh parser then reads the rest of the header with no framing field:
// the body runs to the close. Bounded by header_limit.
inline te_recovery recover_transfer_encoding(const header_list& parsed, beast::flat_buffer& buffer,
                                             std::vector<const char*>& masked) {
    for (const auto& field : parsed) {
        if (beast::iequals(field.first, "Content-Length")) {
            return te_recovery::refused;
        }
    }
    auto* bytes = static_cast<char*>(buffer.data().data());
    const std::string_view rest(bytes, buffer.size());
    const auto end = rest.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        return rest.size() >= header_limit ? te_recovery::refused : te_recovery::need_more;
    }
    constexpr std::string_view te = "Transfer-Encoding";
    bool last_chunked = false;
    std::vector<std::size_t> te_lines;
    for (std::size_t at = 0; at < end + 2;) {
        const auto eol = rest.find("\r\n", at);
        const std::string_view line = rest.substr(at, eol - at);
        if (line.front() == ' ' || line.front() == '\t') {
            return te_recovery::refused;  // obs-fold: left to Beast
        }
        const auto colon = line.find(':');
        const std::string_view name = line.substr(0, colon);
        if (beast::iequals(name, "Content-Length")) {
            return te_recovery::refused;
        }
        if (colon != std::string_view::npos && beast::iequals(name, te)) {
            te_lines.push_back(at);
            last_chunked = ends_in_chunked(line.substr(colon + 1));
        }
        at = eol + 2;
    }
    if (te_lines.empty() || te_lines.front() != 0 || last_chunked) {
        return te_recovery::refused;  // not the case above, or chunked applied twice
    }
    masked.clear();
    for (const std::size_t at : te_lines) {
        bytes[at + response_reader::masked_name_at] = response_reader::masked_name_to;
        masked.push_back(bytes + at);
    }
    return te_recovery::recovered;
}

// Maps an error of the exchange (write, read, parse) to its fetch_error. Connect and handshake
// errors are mapped where they happen, because there the same codes mean something else.
inline boost::system::error_code map_exchange_error(const boost::system::error_code& ec) {
    if (ec.category() == fetch_error_category()) {
        return ec;
    }
    if (ec == beast::error::timeout) {
        return fetch_error::timeout;
    }
    if (ec.category() == http::make_error_code(http::error::end_of_stream).category()) {
        if (ec == http::error::end_of_stream || ec == http::error::partial_message) {
            return fetch_error::reset;  // closed before the headers, or before the body ended
        }
        if (ec == http::error::body_limit) {
            return fetch_error::body_too_large;
        }
        return fetch_error::protocol;  // bad syntax, header_limit, bad chunk, ...
    }
    if (ec == boost::asio::error::operation_aborted) {
        return fetch_error::cancelled;
    }
    if (ec == boost::asio::error::connection_refused ||
        ec == boost::asio::error::host_unreachable ||
        ec == boost::asio::error::network_unreachable) {
        return fetch_error::connect;
    }
    // eof, connection_reset, broken_pipe, stream_truncated, TLS record errors: the transport
    // went away or was corrupted under us.
    return fetch_error::reset;
}

// A connection that finished an exchange this recently is not probed before its next request:
// a server that closed it since is caught by the client's one resend on a fresh connection.
inline constexpr std::chrono::milliseconds k_probe_after_idle{500};

// True when a pooled socket is fit to carry another request: open, no FIN from the peer and
// no unread bytes (which would be the start of a response to nothing — or a TLS alert). The
// probe is a syscall: skipped for a connection idle less than k_probe_after_idle.
inline bool socket_reusable(timed_socket& stream, const beast::flat_buffer& buffer,
                            clock::time_point last_used) noexcept {
    auto& socket = stream.socket();
    if (!socket.is_open() || stream.timed_out() || buffer.size() != 0) {
        return false;
    }
    if (clock::now() - last_used < k_probe_after_idle) {
        return true;
    }
    char byte = 0;
    const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

// Starts (or starts again) the response parser of one exchange, with its limits.
inline void start_response_parser(std::optional<response_reader>& parser, exchange_result& out,
                                  std::vector<const char*> masked, bool head,
                                  std::uint64_t max_body) {
    parser.emplace(out, std::move(masked));
    parser->header_limit(header_limit);
    parser->body_limit(max_body);
    if (head) {
        parser->skip(true);
    }
}

// receive_response's step after Beast refused a Transfer-Encoding field (`buffer` starts at it):
// recover_transfer_encoding's verdict, and when it recovered, a new parser that has been given
// the status line again (its reason is not kept) and reads the rest as sent. A refusal sets
// `parse_ec`. A plain function, so its strings take no room in the coroutine's frame.
inline te_recovery resume_after_transfer_encoding(std::optional<response_reader>& parser,
                                                  exchange_result& out, beast::flat_buffer& buffer,
                                                  bool head, std::uint64_t max_body,
                                                  beast::error_code& parse_ec) {
    std::vector<const char*> masked;
    const te_recovery verdict = recover_transfer_encoding(out.headers, buffer, masked);
    if (verdict == te_recovery::refused) {
        parse_ec = http::error::bad_transfer_encoding;
    } else if (verdict == te_recovery::recovered) {
        const int version = parser->version();
        start_response_parser(parser, out, std::move(masked), head, max_body);
        const std::string line =
            "HTTP/1." + std::to_string(version % 10) + ' ' + std::to_string(out.status) + " \r\n";
        parser->put(boost::asio::buffer(line), parse_ec);
        if (parse_ec == http::error::need_more) {
            parse_ec = {};
        }
    }
    return verdict;
}

// The common response, read without Beast's parser: an HTTP/1.1 or 1.0 status line for a
// status that has a body (200 to 599 but 204 and 304), token field names, values of printable
// ASCII, SP and HTAB, CRLF line ends, and one Content-Length no larger than the body limit. That
// is what servers send for nearly every fetch, and Beast's field machinery (a field-name lookup,
// token-list parsing, a callback per field) was a tenth of the client's instructions per
// request. Anything else is declined, out of reach of this path, and read by Beast as before:
// obs-fold, obs-text, bare LF, Transfer-Encoding, Upgrade, Proxy-Connection, a second
// Content-Length or Connection, a Connection other than "close" or "keep-alive", a header
// cut short, HEAD. So this path accepts a subset of what Beast accepts and reads it the same
// (response_reader_test.cpp compares the two on generated responses).
struct plain_header {
    std::size_t size = 0;  // bytes up to and including the blank line
    std::uint64_t content_length = 0;
    bool keep_alive = false;
};

// The byte classes of parse_plain_header, one table lookup per byte: RFC 9110's tchar (a field
// name) and SP, HTAB and VCHAR (a reason phrase or field value; no CTL, no obs-text).
enum : unsigned char { plain_token = 1, plain_text = 2 };

inline constexpr auto plain_classes = [] {
    std::array<unsigned char, 256> table{};
    for (int c = ' '; c <= '~'; ++c) {
        table[static_cast<unsigned char>(c)] = plain_text;
    }
    table[static_cast<unsigned char>('\t')] = plain_text;
    for (const char c : std::string_view("0123456789abcdefghijklmnopqrstuvwxyz"
                                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ!#$%&'*+-.^_`|~")) {
        table[static_cast<unsigned char>(c)] |= plain_token;
    }
    return table;
}();

constexpr bool plain_is(char c, unsigned char kind) noexcept {
    return (plain_classes[static_cast<unsigned char>(c)] & kind) != 0;
}

// The first byte from `q` on that is not field-value text (VCHAR, SP or HTAB), or `end`.
// Sixteen bytes at a time with SSE2 while none is a control (HTAB included), DEL or non-ASCII;
// such a byte, and the last few (all of them without SSE2), one at a time. Values are most of a
// header's bytes.
inline const char* plain_text_end(const char* q, const char* end) noexcept {
    while (q < end) {
#if defined(__SSE2__)
        if (end - q >= 16) {
            const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
            // Signed bytes: from 0x80 up they are negative, so "less than ' '" finds them too.
            const __m128i odd = _mm_or_si128(_mm_cmplt_epi8(bytes, _mm_set1_epi8(0x20)),
                                             _mm_cmpeq_epi8(bytes, _mm_set1_epi8(0x7F)));
            const int mask = _mm_movemask_epi8(odd);
            if (mask == 0) {
                q += 16;
                continue;
            }
            q += std::countr_zero(static_cast<unsigned>(mask));
        }
#endif
        if (!plain_is(*q, plain_text)) {
            return q;
        }
        ++q;
    }
    return end;
}

// The fields parse_plain_header looks into, and those it leaves to Beast. Most names are none of
// them, which their length alone shows.
enum class plain_field { other, content_length, connection, unusual };

inline plain_field classify_plain_field(std::string_view name) {
    const auto is = [name](std::string_view lower) { return core::iequals(name, lower); };
    switch (name.size()) {
        case 14:
            return is("content-length") ? plain_field::content_length : plain_field::other;
        case 10:
            return is("connection") ? plain_field::connection : plain_field::other;
        case 7:
        case 16:
        case 17:
            return is("upgrade") || is("proxy-connection") || is("transfer-encoding")
                       ? plain_field::unusual
                       : plain_field::other;
        default:
            return plain_field::other;
    }
}

// Parses the header at the front of `bytes` into `out` (status and fields). nullopt when the
// header is not one plain_header describes, or not all there: `out` is then as it was.
inline std::optional<plain_header> parse_plain_header(std::string_view bytes, exchange_result& out,
                                                      std::uint64_t max_body) {
    const char* const begin = bytes.data();
    const char* const end = begin + std::min(bytes.size(), header_limit);
    const char* p = begin;
    // "HTTP/1.x ddd " then a reason phrase.
    if (end - p < 13 || std::memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
        p[8] != ' ' || !core::is_ascii_digit(p[9]) || !core::is_ascii_digit(p[10]) ||
        !core::is_ascii_digit(p[11]) || p[12] != ' ') {
        return std::nullopt;
    }
    const bool http11 = p[7] == '1';
    const auto status =
        static_cast<unsigned>((p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0'));
    if (status < 200 || status > 599 || status == 204 || status == 304) {
        return std::nullopt;
    }
    p = plain_text_end(p + 13, end);
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
        return std::nullopt;
    }
    p += 2;
    const auto decline = [&out] {
        out.headers.clear();
        return std::nullopt;
    };
    std::optional<std::uint64_t> length;
    bool connection_seen = false;
    bool close = false;
    bool keep_alive_token = false;
    out.headers.reserve(12);
    while (true) {
        if (end - p < 2) {
            return decline();
        }
        if (p[0] == '\r' && p[1] == '\n') {
            p += 2;
            break;
        }
        const char* q = p;
        while (q < end && plain_is(*q, plain_token)) {
            ++q;
        }
        if (q == p || q == end || *q != ':') {
            return decline();
        }
        const std::string_view name(p, static_cast<std::size_t>(q - p));
        ++q;
        while (q < end && (*q == ' ' || *q == '\t')) {
            ++q;
        }
        const char* const value_begin = q;
        q = plain_text_end(q, end);
        // The line ends in CRLF, and the byte after it is there and no obs-fold (Beast looks at
        // it too).
        if (end - q < 3 || q[0] != '\r' || q[1] != '\n' || q[2] == ' ' || q[2] == '\t') {
            return decline();
        }
        const char* const cr = q;
        const char* value_end = cr;
        while (value_end > value_begin && (value_end[-1] == ' ' || value_end[-1] == '\t')) {
            --value_end;
        }
        const std::string_view value(value_begin,
                                     static_cast<std::size_t>(value_end - value_begin));
        p = cr + 2;
        switch (classify_plain_field(name)) {
            case plain_field::content_length: {
                // Digits without a leading zero, short of any overflow, within the body limit.
                if (length || value.empty() || value.size() > 18 ||
                    (value.front() == '0' && value.size() > 1) ||
                    !std::all_of(value.begin(), value.end(), core::is_ascii_digit)) {
                    return decline();
                }
                std::uint64_t n = 0;
                for (const char c : value) {
                    n = n * 10 + static_cast<std::uint64_t>(c - '0');
                }
                if (n > max_body) {
                    return decline();
                }
                length = n;
                break;
            }
            case plain_field::connection:
                close = core::iequals(value, "close");
                keep_alive_token = core::iequals(value, "keep-alive");
                if (connection_seen || (!close && !keep_alive_token)) {
                    return decline();
                }
                connection_seen = true;
                break;
            case plain_field::unusual:
                return decline();
            case plain_field::other:
                break;
        }
        out.headers.emplace_back(name, value);
    }
    if (!length) {
        return decline();
    }
    out.status = status;
    plain_header header;
    header.size = static_cast<std::size_t>(p - begin);
    header.content_length = *length;
    header.keep_alive = http11 ? !close : keep_alive_token;
    return header;
}

// A Content-Length body is read in place, one read at a time, by both readers below: each read
// goes straight into the body's string at the end of what is in. body_read_room is the most
// one read asks for: at most max_read_room bytes, and up to body_padding bytes past the body's
// end when the read may finish it (the string has room for that padding, so nothing moves).
inline std::size_t body_read_room(std::size_t left) noexcept {
    return left > max_read_room ? max_read_room : left + body_padding;
}

// After a read of `n` bytes at `read` for a body that lacked `left` bytes: what followed the
// body (the next message, a stray CRLF) moves to `buffer`, where the keep-alive checks see it.
// Returns the body bytes read.
inline std::size_t settle_body_read(const char* read, std::size_t left, std::size_t n,
                                    beast::flat_buffer& buffer) {
    const std::size_t body_bytes = std::min(n, left);
    if (n > body_bytes) {
        const std::size_t extra = n - body_bytes;
        std::memcpy(buffer.prepare(extra).data(), read + body_bytes, extra);
        buffer.commit(extra);
    }
    return body_bytes;
}

// The rest of a Content-Length body of `length` bytes whose first `filled` are in, read into
// `out.body` (take_body_space: `length` + body_padding bytes, no zero-fill per read), each read
// under idle_read; the body is trimmed to what came. Sets out.ec on a failure.
template <class Stream>
boost::asio::awaitable<void> read_body_in_place(Stream& stream, beast::flat_buffer& buffer,
                                                exchange_result& out, std::size_t filled,
                                                std::size_t length, exchange_limits limits) {
    using boost::asio::as_tuple;
    using boost::asio::use_awaitable;
    auto& lowest = beast::get_lowest_layer(stream);
    while (filled < length) {
        const auto step = clamp_timeout(limits.idle_read, limits.deadline);
        if (step.count() <= 0) {
            out.ec = fetch_error::timeout;
            break;
        }
        lowest.expires_after(step);
        const std::size_t left = length - filled;
        char* const read = out.body.data() + filled;
        auto [ec, n] = co_await stream.async_read_some(
            boost::asio::buffer(read, body_read_room(left)), as_tuple(use_awaitable));
        filled += settle_body_read(read, left, n, buffer);
        if (ec == boost::asio::error::eof && filled < length) {
            out.ec = map_exchange_error(http::error::partial_message);  // cut short
            break;
        }
        if (ec && ec != boost::asio::error::eof) {
            out.ec = map_exchange_error(ec);
            break;
        }
    }
    out.body.resize(filled);
}

// The end of a response read whole, by either path: its connection is kept when the response
// allows it and no stray bytes follow (a stray CRLF after the message is no response to
// nothing: dropped, the connection stays).
template <class LowestLayer>
void finish_response(LowestLayer& lowest, beast::flat_buffer& buffer, exchange_result& out,
                     bool keep_alive) {
    out.got_response_bytes = true;
    lowest.expires_never();  // the header clock, or the last body read's
    out.last_byte = clock::now();
    if (keep_alive) {
        skip_blank_bytes(buffer, max_blank_bytes);
    }
    if (buffer.size() == 0 && buffer.capacity() > read_room) {
        buffer.shrink_to_fit();  // an idle connection holds no large buffer
    }
    out.keep_alive = keep_alive && buffer.size() == 0;
}

// Reads one response: headers under the clock run_exchange started, then the body piece by
// piece so idle_read bounds each wait, not the whole body. The loop is Beast's read_some (parse
// what is buffered, read only when that is not enough) without its composed operation: a body
// that came with the headers costs no second read, no post and no timer change.
template <class Stream>
boost::asio::awaitable<exchange_result> receive_response(Stream& stream, beast::flat_buffer& buffer,
                                                         bool head, exchange_limits limits) {
    using boost::asio::as_tuple;
    using boost::asio::use_awaitable;
    exchange_result out;
    auto& lowest = beast::get_lowest_layer(stream);
    // Replaced (once at most) by resume_after_transfer_encoding; references would dangle.
    std::optional<response_reader> parser;
    start_response_parser(parser, out, {}, head, limits.max_body);
    // Reads at most the buffer's free room (512 bytes when there is none): without room
    // reserved here, a small response took four recv calls, one per 512 bytes.
    reserve_read_room(buffer, read_room);
    bool in_body = false;           // the header is parsed: each read gets idle_read
    bool status_settled = false;    // settle_status_line decided
    std::size_t blank_skipped = 0;  // leading CR/LF dropped, at most max_blank_bytes
    bool te_pending = false;        // recover_transfer_encoding waits for the header's end
    bool te_recovered = false;
    bool plain_tried = false;  // parse_plain_header had its chance
    // Bounded: every read consumes bytes (or fails), and header and body are capped by limits.
    while (!parser->is_done()) {
        bool need_more = false;
        if (!status_settled) {
            if (!parser->got_some()) {
                blank_skipped += skip_blank_bytes(buffer, max_blank_bytes - blank_skipped);
            }
            status_settled = settle_status_line(buffer);
        }
        // The first bytes of the response decide: the whole header of a plain response is read
        // here, anything else (a header not all there included) by Beast from the start.
        if (!plain_tried && buffer.size() != 0 && !parser->got_some()) {
            plain_tried = true;
            const auto* bytes = static_cast<const char*>(buffer.data().data());
            const auto plain = head ? std::nullopt
                                    : parse_plain_header(std::string_view(bytes, buffer.size()),
                                                         out, limits.max_body);
            if (plain) {
                buffer.consume(plain->size);
                const auto length = static_cast<std::size_t>(plain->content_length);
                const std::size_t have = std::min(buffer.size(), length);
                if (have == length) {
                    out.body = take_body_buffer(length + body_padding);
                    out.body.append(static_cast<const char*>(buffer.data().data()), have);
                    buffer.consume(have);
                } else {
                    out.body = take_body_space(length + body_padding);
                    std::memcpy(out.body.data(), buffer.data().data(), have);
                    buffer.consume(have);
                    co_await read_body_in_place(stream, buffer, out, have, length, limits);
                    if (out.ec) {
                        out.got_response_bytes = true;
                        co_return out;
                    }
                }
                finish_response(lowest, buffer, out, plain->keep_alive);
                co_return out;
            }
        }
        beast::error_code parse_ec;
        if (te_pending) {
            if (resume_after_transfer_encoding(parser, out, buffer, head, limits.max_body,
                                               parse_ec) == te_recovery::recovered) {
                te_pending = false;
                te_recovered = true;
            }
            need_more = !parse_ec;
        }
        if (!te_pending && !parse_ec) {
            parse_ec = parse_buffered(*parser, buffer, need_more);
            if (parse_ec == http::error::bad_transfer_encoding && !te_recovered &&
                !parser->is_header_done()) {
                te_pending = true;  // buffer starts at the field Beast refused
                continue;
            }
        }
        if (parse_ec) {
            out.got_response_bytes = parser->got_some();
            out.ec = map_exchange_error(parse_ec);
            co_return out;
        }
        if (!in_body && parser->is_header_done()) {
            in_body = true;
            // From here on, one put() takes all the body bytes it is given; what came with the
            // header may already finish the message.
            parser->eager(true);
            continue;
        }
        if (!need_more || parser->is_done()) {
            continue;
        }
        if (in_body) {
            const auto step = clamp_timeout(limits.idle_read, limits.deadline);
            if (step.count() <= 0) {
                out.got_response_bytes = true;
                out.ec = fetch_error::timeout;
                co_return out;
            }
            lowest.expires_after(step);
        }
        // The rest of a Content-Length body is read straight into the body, which
        // on_body_init_impl reserved whole: no copy out of the connection's buffer, which so
        // never grows for a large body (nor is freed again once idle). Up to body_padding
        // bytes more are asked for, so what follows the body (a stray CRLF, stray bytes)
        // lands in the buffer as it did before, where the checks below see it.
        const auto body_left = in_body && !head && !te_pending && buffer.size() == 0
                                   ? parser->content_length_remaining()
                                   : boost::none;
        boost::system::error_code read_ec;
        std::size_t n = 0;
        if (body_left && *body_left > 0) {
            const auto left = static_cast<std::size_t>(*body_left);
            const std::size_t at = out.body.size();
            const std::size_t room = body_read_room(left);
            out.body.resize(at + room);  // within the reservation on_body_init_impl made
            auto [ec, got] = co_await stream.async_read_some(
                boost::asio::buffer(out.body.data() + at, room), as_tuple(use_awaitable));
            read_ec = ec;
            n = got;
            const std::size_t body_bytes = settle_body_read(out.body.data() + at, left, n, buffer);
            out.body.resize(at + body_bytes);
            if (body_bytes > 0) {
                beast::error_code put_ec;
                parser->body_in_place(true);
                parser->put(boost::asio::buffer(out.body.data() + at, body_bytes), put_ec);
                parser->body_in_place(false);
                if (put_ec && put_ec != http::error::need_more) {
                    out.got_response_bytes = true;
                    out.ec = map_exchange_error(put_ec);
                    co_return out;
                }
            }
        } else {
            const std::size_t room = std::min<std::size_t>(
                std::max<std::size_t>(512, buffer.capacity() - buffer.size()), max_read_room);
            auto [ec, got] =
                co_await stream.async_read_some(buffer.prepare(room), as_tuple(use_awaitable));
            read_ec = ec;
            n = got;
            buffer.commit(n);
        }
        if (read_ec == boost::asio::error::eof) {
            if (!parser->got_some()) {
                out.ec = map_exchange_error(http::error::end_of_stream);
                co_return out;
            }
            // A body delimited by the close ends here; anything else is cut short.
            beast::error_code eof_ec;
            if (te_pending) {
                eof_ec = http::error::partial_message;  // the header never ended
            } else {
                parser->put_eof(eof_ec);
            }
            if (eof_ec) {
                out.got_response_bytes = true;
                out.ec = map_exchange_error(eof_ec);
                co_return out;
            }
            continue;
        }
        if (read_ec) {
            out.got_response_bytes = parser->got_some() || n != 0;
            out.ec = map_exchange_error(read_ec);
            co_return out;
        }
    }
    // After a recovered Transfer-Encoding the first parser's Connection fields are not known to
    // the second: such a connection is never reused (its body runs to the close anyway).
    finish_response(lowest, buffer, out, parser->keep_alive() && !te_recovered);
    co_return out;
}

// One request/response exchange. `last_used` becomes the time the response ended (what
// socket_reusable weighs); only a response that ended well leaves the connection reusable.
// The request is already serialized (no Beast serializer instantiated per stream type, which
// was the costliest template of this file) and written here, in this coroutine: one frame
// fewer per request than a coroutine of its own. Writing starts the response_headers clock,
// which runs on through the header read in receive_response.
template <class Stream>
boost::asio::awaitable<exchange_result> run_exchange(Stream& stream, beast::flat_buffer& buffer,
                                                     clock::time_point& last_used,
                                                     wire_request request, exchange_limits limits) {
    const auto step = clamp_timeout(limits.response_headers, limits.deadline);
    if (step.count() <= 0) {
        exchange_result out;
        out.ec = fetch_error::timeout;
        co_return out;
    }
    beast::get_lowest_layer(stream).expires_after(step);
    const clock::time_point sent = clock::now();
    auto [write_ec, written] = co_await boost::asio::async_write(
        stream, boost::asio::buffer(request.bytes.data(), request.bytes.size()),
        boost::asio::as_tuple(boost::asio::use_awaitable));
    (void)written;
    if (write_ec) {
        exchange_result out;
        out.ec = map_exchange_error(write_ec);
        co_return out;
    }
    exchange_result out = co_await receive_response(stream, buffer, request.head, limits);
    out.sent = sent;
    last_used = out.last_byte;
    co_return out;
}

}  // namespace harvest::net::detail
