#pragma once
// One HTTP/2 connection (RFC 9113) carrying many requests at once; nghttp2 does the framing,
// HPACK and flow control, Asio coroutines the I/O. Internal to the network layer: the client
// (http_client.cpp) keeps one session per origin and sends each hop of a fetch through it.
//
// Per connection: one reader coroutine feeding received bytes to nghttp2, whose callbacks fill
// the per-stream results and wake the streams' waiters; one writer coroutine flushing what
// nghttp2 queued (requests, WINDOW_UPDATE, SETTINGS and PING acks), so writes never overlap.
// Woken, the writer first lets the handlers already queued run (a few turns of the loop, no
// timer), so the requests a burst of finished streams starts leave in one write.
//
// Thread-safety: every nghttp2 call and socket operation runs on the session's strand. Fetch
// coroutines on any thread call exchange(), which runs the stream on that strand and resumes
// the caller on its own executor. usable() and close() may be called from any thread.

#include "engine/net/connection.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace harvest::net::detail {

// The views and `headers` point into the caller's frame, which awaits exchange(): nothing is
// copied per request but the body (a stream may need it after exchange() returned).
struct h2_request {
    std::string_view method;
    std::string_view scheme;     // "http" or "https"
    std::string_view authority;  // host[:port], as the Host header of HTTP/1.1
    std::string_view path;       // path and query
    const header_list* headers =
        nullptr;  // merged and checked by the client; any case; null = none
    std::string body;
};

struct h2_exchange_result {
    exchange_result result;
    // The server did not process the request (REFUSED_STREAM, or a stream above a GOAWAY's
    // last_stream_id, or the session no longer took requests): sending it again is safe and
    // is no failure of the URL (RFC 9113 section 8.7).
    bool refused = false;
    // The connection broke before any byte of this stream's response came, after the server
    // had spoken HTTP/2 on it: most likely it closed the connection after its last request
    // (nginx after keepalive_requests), and the TCP reset caused by requests still arriving
    // took its GOAWAY with it. The request was probably not processed; the client sends it
    // again a few times, as HTTP/1.1 resends a request whose reused connection died unanswered.
    bool connection_lost = false;
    // Of a refused request: a GOAWAY refused it (else REFUSED_STREAM did).
    bool goaway = false;
};

// Settings a session announces. The stream window is what the server may send on one stream
// before we acknowledge it; the connection window is shared by all streams.
struct h2_settings {
    std::uint32_t stream_window = std::uint32_t{1} << 20;
    std::uint32_t connection_window = std::uint32_t{16} << 20;
    std::uint32_t max_header_list = 64u << 10;  // also enforced on what arrives
    // Streams in flight on this session are added to it (requests submitted, their state not
    // yet released); null = not counted. Shared by the client's sessions (metrics).
    std::shared_ptr<std::atomic<std::int64_t>> open_streams;
};

class h2_session {
  public:
    virtual ~h2_session() = default;

    // Sends one request on a new stream and waits for the whole response, applying the same
    // limits as HTTP/1.1: response_headers from the moment the stream is opened, idle_read
    // between DATA frames, the deadline, max_body (the stream is reset past it; with
    // `discard_oversized_body` the status and headers come back with an empty body).
    virtual boost::asio::awaitable<h2_exchange_result> exchange(h2_request request,
                                                                exchange_limits limits,
                                                                bool discard_oversized_body) = 0;

    // Takes new streams: open, no GOAWAY received or sent. Any thread.
    virtual bool usable() const noexcept = 0;

    // No stream in flight: closing it would fail nothing. Any thread.
    virtual bool idle() const noexcept = 0;

    // Fails the streams in flight with `cancelled` and closes the connection. Any thread.
    virtual void close() noexcept = 0;
};

// Starts a client session on `conn` (connected; with TLS, ALPN chose h2; without, prior
// knowledge): sends the connection preface and SETTINGS and spawns the reader and writer on
// a strand of `executor`. They keep the session alive until the connection ends.
std::shared_ptr<h2_session> start_h2_session(boost::asio::any_io_executor executor,
                                             std::unique_ptr<connection> conn,
                                             h2_settings settings);

}  // namespace harvest::net::detail
