#pragma once
// HTTP/1.1 and HTTP/2 client: a keep-alive connection pool per origin for HTTP/1.1, one
// multiplexed HTTP/2 session per origin (engine/net/h2_session.hpp), TLS (SNI, peer and host name
// verification), every timeout of `http.timeouts`, redirects and content decoding.
//
// Thread-safety: one client is shared by every fetch coroutine of a crawl, whatever thread
// runs them. The pool and DNS cache are internally synchronized; no lock is held across a
// suspension point.

#include "engine/core/cookie_jar.hpp"
#include "engine/core/proxy_url.hpp"
#include "engine/net/fetch_error.hpp"
#include "engine/net/options.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/system/result.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace harvest::net {

using header_list = std::vector<std::pair<std::string, std::string>>;

// Whether `headers` has a field `name` (compared case-insensitively).
bool has_header(const header_list& headers, std::string_view name) noexcept;

struct http_request {
    std::string method = "GET";
    std::string url;  // absolute http:// or https:// URL
    header_list headers;
    std::string body;
};

struct http_response {
    unsigned status = 0;
    header_list headers;
    // Decoded body. Its capacity is at least size() + 64 so simdjson can parse it in place.
    std::string body;
    std::string final_url;         // after redirects
    std::uint64_t wire_bytes = 0;  // body bytes received before decoding, all hops
    unsigned redirects = 0;
    std::chrono::steady_clock::duration elapsed{};  // first request sent .. last body byte
    // The protocol of the last hop, as ALPN names it: "http/1.1" or "h2".
    std::string_view protocol = "http/1.1";
    // The proxy that carried the answer (`proxies:`, set by crawl::proxy_set); null when it
    // came directly. A rendered page's own requests go through the same proxy.
    std::shared_ptr<const core::proxy_url> proxy;

    // Value of the first header with this name (ASCII case-insensitive); empty if absent.
    std::string_view header(std::string_view name) const noexcept;
};

struct client_options {
    std::string user_agent;  // sent unless the request carries its own User-Agent
    std::chrono::seconds dns_ttl{60};
    std::size_t max_idle_per_origin = 64;
    // Asked for every resolved address before connecting (redirect hops too): false = never
    // connect there. When no address is left the attempt fails with egress_denied, having
    // sent nothing. Empty = every address allowed. The bulk service's SSRF guard.
    std::function<bool(const boost::asio::ip::address&, unsigned short port)> allow_endpoint{};
};

// Connections and HTTP/2 streams of one client, for the crawl's metrics (docs/metrics.md,
// "Connections and HTTP/2"). Relaxed atomics: updated by fetches on any thread, read at any
// time.
struct client_stats {
    std::atomic<std::uint64_t> http1_connections{0};  // HTTP/1.1 connections opened
    std::atomic<std::uint64_t> h2_connections{0};     // HTTP/2 connections (sessions) opened
    std::atomic<std::int64_t> h2_streams{0};          // HTTP/2 streams in flight
    // Requests sent again, no failure of theirs: a GOAWAY or a REFUSED_STREAM said the server
    // had not processed them, or the connection broke unanswered after speaking HTTP/2.
    std::atomic<std::uint64_t> h2_goaway_resends{0};
    std::atomic<std::uint64_t> h2_refused_resends{0};
    std::atomic<std::uint64_t> h2_lost_resends{0};
};

class http_client {
  public:
    // `executor` is the io_context's executor; sockets are created on it. Completions resume
    // the calling coroutine on its own executor (e.g. its strand).
    http_client(boost::asio::any_io_executor executor, client_options options);
    ~http_client();
    http_client(const http_client&) = delete;
    http_client& operator=(const http_client&) = delete;

    // One logical request: connects (or reuses a pooled connection), sends, reads, decodes and
    // follows redirects, all before `deadline` (the `total` timeout, clamped per step).
    // Transport and protocol failures come back as fetch_error codes, never as exceptions.
    boost::asio::awaitable<boost::system::result<http_response>> fetch(
        http_request request, std::shared_ptr<const http_options> options,
        std::chrono::steady_clock::time_point deadline);
    // The same request through `proxy` (null = direct) and with a cookie `jar` (null = no
    // cookies handled).
    // - Proxies: http:// targets through an http:// proxy go in absolute form with
    //   Proxy-Authorization; https:// targets through a CONNECT tunnel, TLS end to end; socks5://
    //   and socks5h:// carry either. The egress hook is asked for the proxy's addresses, and for
    //   the target's when harvest resolves it (socks5). Pooled connections are keyed by (proxy,
    //   origin). Proxy failures come back as fetch_error::proxy_connect, proxy_auth (a 407 too)
    //   and proxy_tunnel. Through a proxy, requests go over HTTP/1.1.
    // - Cookies (RFC 6265): every hop, redirects included, sends the jar's cookies for its URL
    //   (after any Cookie header of the request's own) and stores the hop's Set-Cookie headers.
    boost::asio::awaitable<boost::system::result<http_response>> fetch(
        http_request request, std::shared_ptr<const http_options> options,
        std::chrono::steady_clock::time_point deadline,
        std::shared_ptr<const core::proxy_url> proxy, std::shared_ptr<core::cookie_jar> jar);

    // The User-Agent fetch() sends for `request` with `options`: the request's own, else
    // `options`' headers', else the client's ("" when none).
    [[nodiscard]] std::string user_agent_for(const http_request& request,
                                             const http_options& options) const;

    // Closes idle pooled connections and refuses nothing: in-flight fetches finish normally.
    void close_idle();

    // This client's figures; they outlive it (sessions still closing update them).
    [[nodiscard]] std::shared_ptr<const client_stats> stats() const noexcept;

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace harvest::net
