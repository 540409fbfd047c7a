// The client proper: request assembly, the keep-alive pool, redirects and decoding. No Beast
// templates here (they live in connection_*.cpp), so this file compiles quickly.

#include "engine/net/http_client.hpp"

#include "engine/core/text.hpp"
#include "engine/net/connection.hpp"
#include "engine/net/decode.hpp"
#include "engine/net/detail/tunnel.hpp"
#include "engine/net/dns_cache.hpp"
#include "engine/net/h2_session.hpp"
#include "engine/net/url.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace harvest::net {

bool has_header(const header_list& headers, std::string_view name) noexcept {
    return std::any_of(headers.begin(), headers.end(),
                       [name](const auto& h) { return core::iequals(h.first, name); });
}

namespace {

using core::iequals;

std::string_view find_header(const header_list& headers, std::string_view name) noexcept {
    for (const auto& [n, v] : headers) {
        if (iequals(n, name)) {
            return v;
        }
    }
    return {};
}

void erase_header(header_list& headers, std::string_view name) {
    std::erase_if(headers, [name](const auto& h) { return iequals(h.first, name); });
}

// The bytes a header name may not hold: those that would split the request, and those that
// would end the name early (space, tab, ':').
constexpr std::array<bool, 256> make_name_breakers() {
    std::array<bool, 256> breakers{};
    for (const char c : {'\r', '\n', '\0', ' ', '\t', ':'}) {
        breakers[static_cast<unsigned char>(c)] = true;
    }
    return breakers;
}
constexpr std::array<bool, 256> name_breakers = make_name_breakers();

// Headers the client owns (framing and Host), and anything that could split the request.
bool is_sendable(const std::pair<std::string, std::string>& header) noexcept {
    const auto& [name, value] = header;
    if (name.empty() || iequals(name, "Host") || iequals(name, "Content-Length") ||
        iequals(name, "Transfer-Encoding")) {
        return false;
    }
    // One table lookup per byte of the name: find_first_of(" \t:") besides the line-break
    // check cost a scan of the three bytes per byte (about 470 instructions a request).
    return std::none_of(name.begin(), name.end(),
                        [](char c) { return name_breakers[static_cast<unsigned char>(c)]; }) &&
           std::none_of(value.begin(), value.end(),
                        [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

// Requests refused by HTTP/2 servers (GOAWAY, REFUSED_STREAM) go again up to this many sends in
// all (and within the deadline) before the hop fails with `reset`: a server that keeps refusing
// is not answering. Generous, because a server that closes connections after a few requests
// (nginx keepalive_requests) refuses the streams beyond them each time while many requests
// compete for those few. The most refused go first on the next connection (end_h2_connect), so
// the sends a request needs grow with in-flight / per-connection: at most 26 measured over 16
// crawls at 2 to 6 per connection and up to 58 in flight (in arrival order, more than 32).
constexpr unsigned max_h2_sends = 32;

// Sends of a request whose connection broke unanswered after the server had spoken HTTP/2
// (h2_exchange_result::connection_lost): bounded, so a request that kills its server every
// time fails with `reset` (a few resends, then the retry policy decides).
constexpr unsigned max_lost_resends = 3;

// What TLS ALPN offers (wire format: length-prefixed names, preferred first).
std::string alpn_offer(http_version version) {
    using namespace std::string_literals;
    switch (version) {
        case http_version::http2:
            return "\x02h2"s;
        case http_version::automatic:
            return "\x02h2\x08http/1.1"s;
        case http_version::http1_1:
            return "\x08http/1.1"s;  // a connection that stays HTTP/1.1 (send_h1)
    }
    return {};
}

bool is_redirect(unsigned status) noexcept {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// An http:// target through an http:// proxy: the request itself goes to the proxy, in
// absolute form (no tunnel).
bool is_forwarded(const url_parts& parts, const core::proxy_url* proxy) {
    return proxy != nullptr && proxy->scheme == core::proxy_scheme::http && !parts.tls;
}

// A connection through a proxy serves only requests through the same proxy with the same
// credentials (the key is internal: never logged).
std::string pool_key(const url_parts& parts, const tls_options& tls, const core::proxy_url* proxy) {
    std::string key;
    if (proxy != nullptr) {
        key += "proxy:";
        key += std::to_string(static_cast<int>(proxy->scheme));
        key += proxy->label();
        key += '|';
        key += proxy->user;
        key += '|';
        key += proxy->password;
        key += '|';
    }
    key += parts.tls ? "https://" : "http://";
    key += parts.host;
    key += ':';
    key += std::to_string(parts.port);
    if (parts.tls) {
        // A connection verified under one TLS policy must not serve a request of another.
        key += tls.verify ? "|verify|" : "|noverify|";
        key += tls.ca_file;
    }
    return key;
}

// The headers a request is sent with: the request's own win over the crawl's (`options`),
// which win over the client's User-Agent; Accept-Encoding offers the codings `options` allows.
header_list merged_headers(const header_list& own, const http_options& options,
                           const std::string& user_agent) {
    header_list headers;
    for (const auto& header : own) {
        if (is_sendable(header)) {
            headers.push_back(header);
        }
    }
    for (const auto& header : options.headers) {
        if (is_sendable(header) && !has_header(headers, header.first)) {
            headers.push_back(header);
        }
    }
    if (!has_header(headers, "User-Agent") && !user_agent.empty()) {
        headers.emplace_back("User-Agent", user_agent);
    }
    if (!has_header(headers, "Accept-Encoding")) {
        std::string accept;
        auto offer = [&accept](bool on, std::string_view coding) {
            if (on) {
                accept.append(accept.empty() ? "" : ", ").append(coding);
            }
        };
        offer(options.gzip, "gzip");
        offer(options.deflate, "deflate");
        offer(options.br, "br");
        if (!accept.empty()) {
            headers.emplace_back("Accept-Encoding", std::move(accept));
        }
    }
    return headers;
}

// What add_jar_cookies did to a hop's headers, undone by take_jar_cookies_back.
struct cookie_edit {
    std::optional<std::size_t> own_size;  // set: the jar's cookies follow the request's own
    bool added = false;                   // a Cookie header of the jar's own was appended
};

// The jar's cookies follow the request's own Cookie header, for one hop only (the next hop may
// be another origin): added to `headers` for the send, then taken off again.
cookie_edit add_jar_cookies(header_list& headers, core::cookie_jar& jar, const url_parts& parts) {
    const core::cookie_url here{parts.host, parts.target, parts.tls};
    const std::string cookies = jar.cookie_header(here, std::chrono::system_clock::now());
    cookie_edit edit;
    if (cookies.empty()) {
        return edit;
    }
    const auto own = std::find_if(headers.begin(), headers.end(),
                                  [](const auto& h) { return iequals(h.first, "Cookie"); });
    if (own != headers.end()) {
        edit.own_size = own->second.size();
        own->second.append("; ").append(cookies);
    } else {
        headers.emplace_back("Cookie", cookies);
        edit.added = true;
    }
    return edit;
}

void take_jar_cookies_back(header_list& headers, const cookie_edit& edit) {
    if (edit.added) {
        headers.pop_back();
    } else if (edit.own_size) {
        const auto own = std::find_if(headers.begin(), headers.end(),
                                      [](const auto& h) { return iequals(h.first, "Cookie"); });
        own->second.resize(*edit.own_size);
    }
}

// Every hop's Set-Cookie counts, a redirect's too (a login's 302 sets the session).
void store_jar_cookies(core::cookie_jar& jar, const header_list& received, const url_parts& parts) {
    const core::cookie_url here{parts.host, parts.target, parts.tls};
    const auto now = std::chrono::system_clock::now();
    for (const auto& [name, value] : received) {
        if (iequals(name, "Set-Cookie")) {
            (void)jar.set_cookie(value, here, now);
        }
    }
}

// A request on its way through redirects: what the next hop sends.
struct hop_request {
    std::string& url;
    std::string& method;
    std::string& body;
    header_list& headers;
    unsigned redirects = 0;
};

enum class hop_verdict { answer, redirect };

// redirect when `hop` redirects and `next` now says where to (method, body and headers changed
// as the status asks); answer when `hop` is the answer. Errors: too_many_redirects, a Location
// that does not resolve (protocol) or leads off HTTP (unsupported_scheme).
boost::system::result<hop_verdict> follow_redirect(const detail::exchange_result& hop,
                                                   const url_parts& parts, hop_request& next,
                                                   const http_options& options) {
    const std::string_view location = find_header(hop.headers, "Location");
    if (!is_redirect(hop.status) || location.empty()) {
        return hop_verdict::answer;
    }
    if (next.redirects >= options.max_redirects) {
        return fetch_error::too_many_redirects;
    }
    auto target = resolve_url(next.url, location);
    if (!target) {
        return fetch_error::protocol;
    }
    auto target_parts = parse_http_url(*target);
    if (!target_parts) {
        return target_parts.error();  // e.g. unsupported_scheme for ftp:
    }
    ++next.redirects;
    const bool to_get = (hop.status == 303 && next.method != "HEAD") ||
                        ((hop.status == 301 || hop.status == 302) && next.method == "POST");
    if (to_get) {
        next.method = "GET";
        next.body.clear();
        erase_header(next.headers, "Content-Type");
    }
    if (pool_key(*target_parts, options.tls, nullptr) != pool_key(parts, options.tls, nullptr)) {
        // Credentials meant for one origin must not leak to another.
        erase_header(next.headers, "Authorization");
        erase_header(next.headers, "Cookie");
    }
    next.url = std::move(*target);
    return hop_verdict::redirect;
}

// The response of the last hop, its body decoded.
boost::system::result<http_response> final_response(detail::exchange_result&& hop,
                                                    std::string&& url, unsigned redirects,
                                                    std::uint64_t wire_bytes,
                                                    detail::clock::time_point first_sent,
                                                    const http_options& options) {
    http_response response;
    response.status = hop.status;
    response.redirects = redirects;
    response.wire_bytes = wire_bytes;
    const std::string encoding(find_header(hop.headers, "Content-Encoding"));
    response.headers = std::move(hop.headers);
    // An empty body (HEAD, 204, 304) has nothing to decode, whatever the header says.
    if (!encoding.empty() && !hop.body.empty()) {
        auto decoded = decode_content(encoding, std::move(hop.body), options.max_body,
                                      coding_set{options.gzip, options.deflate, options.br});
        if (!decoded) {
            return decoded.error();
        }
        response.body = std::move(*decoded);
    } else {
        response.body = std::move(hop.body);
    }
    response.body.reserve(response.body.size() + body_padding);
    response.final_url = std::move(url);
    response.protocol = hop.h2 ? "h2" : "http/1.1";
    response.elapsed = hop.last_byte - first_sent;
    return response;
}

}  // namespace

namespace detail {

bool is_valid_method(std::string_view method) noexcept {
    static constexpr std::string_view tchar_symbols = "!#$%&'*+-.^_`|~";
    return !method.empty() && std::all_of(method.begin(), method.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) ||
               tchar_symbols.find(c) != std::string_view::npos;
    });
}

std::string serialize_request(std::string_view method, std::string_view target,
                              std::string_view host_header, const header_list& headers,
                              std::string_view body) {
    std::string out;
    std::size_t size = method.size() + target.size() + host_header.size() + body.size() + 64;
    for (const auto& [name, value] : headers) {
        size += name.size() + value.size() + 4;
    }
    out.reserve(size);
    out.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ");
    out.append(host_header).append("\r\n");
    for (const auto& [name, value] : headers) {
        out.append(name).append(": ").append(value).append("\r\n");
    }
    // As Beast's prepare_payload: a body, or a method whose requests carry one, gets a length.
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
        out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
    }
    out.append("\r\n").append(body);
    return out;
}

}  // namespace detail

std::string_view http_response::header(std::string_view name) const noexcept {
    return find_header(headers, name);
}

struct http_client::impl {
    boost::asio::any_io_executor executor;
    client_options options;
    dns_cache dns;

    std::mutex pool_mutex;  // guards idle; never held across co_await
    std::unordered_map<std::string, std::vector<std::unique_ptr<detail::connection>>> idle;

    // A fetch waiting for another to connect: woken through `woken` by end_h2_connect (any
    // thread; the channel keeps the wake if it comes before the wait).
    struct h2_waiter {
        explicit h2_waiter(const boost::asio::any_io_executor& ex) : woken(ex, 1) {}
        boost::asio::experimental::concurrent_channel<void(boost::system::error_code)> woken;
        unsigned sends = 0;  // of the waiting request so far (refused ones); under h2_mutex
    };
    // What the client knows of an origin's HTTP/2 (pool_key): its session, replaced when it
    // stops taking streams; whether a fetch is connecting one now (the others wait for it:
    // one connection per origin, woken when it is done); whether ALPN said http/1.1 (the
    // origin is not tried again).
    struct h2_slot {
        std::shared_ptr<detail::h2_session> session;
        bool connecting = false;
        bool http1_only = false;
        std::vector<std::shared_ptr<h2_waiter>> waiters;  // while `connecting`
    };
    std::mutex h2_mutex;  // guards h2_slots; never held across co_await
    std::unordered_map<std::string, h2_slot> h2_slots;

    std::mutex tls_mutex;  // guards tls_contexts
    std::map<std::pair<bool, std::string>, std::shared_ptr<boost::asio::ssl::context>> tls_contexts;

    std::shared_ptr<client_stats> stats = std::make_shared<client_stats>();

    impl(boost::asio::any_io_executor ex, client_options opts)
        : executor(ex), options(std::move(opts)), dns(ex, options.dns_ttl) {}

    // The most recently used idle connection of the origin that is still fit for reuse.
    std::unique_ptr<detail::connection> acquire(const std::string& key) {
        std::vector<std::unique_ptr<detail::connection>> stale;
        std::unique_ptr<detail::connection> found;
        {
            std::lock_guard lock(pool_mutex);
            auto it = idle.find(key);
            if (it == idle.end()) {
                return nullptr;
            }
            auto& list = it->second;
            // Bounded by max_idle_per_origin.
            while (!list.empty()) {
                auto candidate = std::move(list.back());
                list.pop_back();
                if (candidate->reusable()) {
                    found = std::move(candidate);
                    break;
                }
                stale.push_back(std::move(candidate));
            }
            if (list.empty()) {
                idle.erase(it);
            }
        }
        for (auto& conn : stale) {
            conn->close();
        }
        return found;
    }

    void release(const std::string& key, std::unique_ptr<detail::connection> conn) {
        {
            std::lock_guard lock(pool_mutex);
            auto& list = idle[key];
            if (list.size() < options.max_idle_per_origin) {
                list.push_back(std::move(conn));
                return;
            }
        }
        conn->close();
    }

    boost::system::result<std::shared_ptr<boost::asio::ssl::context>> tls_context(
        const tls_options& tls) {
        std::lock_guard lock(tls_mutex);
        auto key = std::make_pair(tls.verify, tls.ca_file);
        auto it = tls_contexts.find(key);
        if (it != tls_contexts.end()) {
            return it->second;
        }
        auto context = detail::make_tls_context(tls.verify, tls.ca_file);
        if (context) {
            tls_contexts.emplace(std::move(key), *context);
        }
        return context;
    }

    enum class h2_turn { use_session, connect, use_http1, wait };

    // One look at the origin's slot. `connect` makes the caller the one fetch that connects;
    // `wait` registers `waiter` (made on `ex` the first time), woken when that connect ends.
    h2_turn take_h2_turn(const std::string& key, std::shared_ptr<detail::h2_session>& session,
                         std::shared_ptr<h2_waiter>& waiter, const boost::asio::any_io_executor& ex,
                         unsigned sends) {
        std::lock_guard lock(h2_mutex);
        auto& slot = h2_slots[key];
        if (slot.http1_only) {
            return h2_turn::use_http1;
        }
        if (slot.session && slot.session->usable()) {
            session = slot.session;
            return h2_turn::use_session;
        }
        slot.session.reset();  // an unusable one ends by itself once its streams are done
        if (slot.connecting) {
            if (!waiter) {
                waiter = std::make_shared<h2_waiter>(ex);
            }
            waiter->sends = sends;
            slot.waiters.push_back(waiter);
            return h2_turn::wait;
        }
        slot.connecting = true;
        return h2_turn::connect;
    }

    // The connecting fetch's result: a session, ALPN's http/1.1, or nothing (failed).
    void end_h2_connect(const std::string& key, std::shared_ptr<detail::h2_session> session,
                        bool http1_only) {
        std::vector<std::shared_ptr<h2_waiter>> waiters;
        {
            std::lock_guard lock(h2_mutex);
            auto& slot = h2_slots[key];
            slot.connecting = false;
            slot.session = std::move(session);
            slot.http1_only = slot.http1_only || http1_only;
            waiters.swap(slot.waiters);
            // The requests refused most often first: they submit, and so get the lowest stream
            // ids, in this order. A server that takes a few requests per connection (GOAWAY
            // after N) serves the lowest ids; woken in arrival order, the same requests kept
            // coming last and some were refused max_h2_sends times in a row.
            std::stable_sort(waiters.begin(), waiters.end(),
                             [](const auto& a, const auto& b) { return a->sends > b->sends; });
        }
        for (const auto& waiter : waiters) {
            // A full channel holds a wake already; a closed one's fetch has gone.
            (void)waiter->woken.try_send(boost::system::error_code{});
        }
    }

    // Until `waiter` is woken or the deadline passes.
    static boost::asio::awaitable<void> wait_for_connect(h2_waiter& waiter,
                                                         detail::clock::time_point deadline) {
        using namespace boost::asio::experimental::awaitable_operators;
        boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
        timer.expires_at(deadline);
        co_await (waiter.woken.async_receive(boost::asio::as_tuple(boost::asio::use_awaitable)) ||
                  timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable)));
    }

    // Ends the connect turn however the connecting fetch leaves (a failure, or its frame
    // destroyed at shutdown), so waiters never wait for nothing.
    struct h2_connect_turn {
        impl* owner;
        const std::string* key;
        bool open = true;
        void end(std::shared_ptr<detail::h2_session> session, bool http1_only) {
            if (open) {
                open = false;
                owner->end_h2_connect(*key, std::move(session), http1_only);
            }
        }
        ~h2_connect_turn() { end(nullptr, false); }
        h2_connect_turn(impl* o, const std::string* k) : owner(o), key(k) {}
        h2_connect_turn(const h2_connect_turn&) = delete;
        h2_connect_turn& operator=(const h2_connect_turn&) = delete;
    };

    bool allowed(const boost::asio::ip::tcp::endpoint& endpoint) const {
        return !options.allow_endpoint ||
               options.allow_endpoint(endpoint.address(), endpoint.port());
    }

    // The tunnel to the target through `proxy`, or nullopt when there is none to open (an
    // http:// target through an http:// proxy: the request itself goes to the proxy).
    boost::asio::awaitable<boost::system::result<std::optional<detail::tunnel_request>>> tunnel_for(
        const url_parts& parts, const core::proxy_url& proxy) {
        if (proxy.scheme == core::proxy_scheme::http && !parts.tls) {
            co_return std::optional<detail::tunnel_request>{};
        }
        detail::tunnel_request tunnel;
        tunnel.type = proxy.scheme == core::proxy_scheme::http
                          ? detail::tunnel_request::kind::http_connect
                          : detail::tunnel_request::kind::socks5;
        tunnel.host = parts.host;
        tunnel.port = parts.port;
        tunnel.user = proxy.user;
        tunnel.password = proxy.password;
        if (proxy.scheme == core::proxy_scheme::socks5) {
            // harvest resolves the target, so the egress hook judges its address too.
            auto target = co_await dns.resolve(parts.host, parts.port);
            if (!target) {
                co_return target.error();
            }
            std::erase_if(*target, [this](const auto& endpoint) { return !allowed(endpoint); });
            if (target->empty()) {
                co_return fetch_error::egress_denied;
            }
            tunnel.address = target->front().address();
        }
        co_return std::optional<detail::tunnel_request>(std::move(tunnel));
    }

    // `parts`, `options` and `proxy` are owned by the fetch frame, which awaits this call.
    // `alpn`: the protocols offered on TLS (detail::connect_tls).
    boost::asio::awaitable<boost::system::result<std::unique_ptr<detail::connection>>> connect(
        const url_parts& parts, const http_options& options,
        std::chrono::steady_clock::time_point deadline, const core::proxy_url* proxy,
        std::string alpn) {
        std::optional<detail::tunnel_request> tunnel;
        if (proxy != nullptr) {
            auto planned = co_await tunnel_for(parts, *proxy);
            if (!planned) {
                co_return planned.error();
            }
            tunnel = std::move(*planned);
        }
        // Through a proxy, the connection goes to the proxy's addresses.
        const std::string& host = proxy != nullptr ? proxy->host : parts.host;
        const auto port = proxy != nullptr ? proxy->port : parts.port;
        auto endpoints = co_await dns.resolve(host, port);
        if (!endpoints && proxy != nullptr) {
            co_return fetch_error::proxy_connect;  // the proxy's name did not resolve
        }
        if (!endpoints) {
            co_return endpoints.error();
        }
        // `options` here is the request's http_options; the client's are this->options.
        if (this->options.allow_endpoint) {
            std::erase_if(*endpoints, [this](const auto& endpoint) { return !allowed(endpoint); });
            if (endpoints->empty()) {
                co_return fetch_error::egress_denied;
            }
        }
        const detail::tunnel_request* through = tunnel ? &*tunnel : nullptr;
        detail::connect_limits limits{options.timeouts.connect, options.timeouts.tls, deadline};
        // The connection lives on the loop of the fetch that opens it (a crawl's network shard
        // for its host), so its reads complete where the fetch runs.
        const boost::asio::any_io_executor own = co_await boost::asio::this_coro::executor;
        if (!parts.tls) {
            auto conn = co_await detail::connect_plain(own, std::move(*endpoints), limits, through);
            if (!conn && proxy != nullptr && through == nullptr &&
                (conn.error() == fetch_error::connect || conn.error() == fetch_error::timeout)) {
                // A forward proxy (no tunnel): failing to connect is failing to reach the proxy.
                co_return fetch_error::proxy_connect;
            }
            co_return conn;
        }
        auto context = tls_context(options.tls);
        if (!context) {
            co_return context.error();
        }
        co_return co_await detail::connect_tls(own, std::move(*context), options.tls.verify,
                                               parts.host, parts.host_is_ip, std::move(*endpoints),
                                               limits, std::move(alpn), through);
    }

    // One hop over HTTP/2 when the version and the server say so, else over HTTP/1.1. Not a
    // coroutine: the awaitable of send_h1 or send_h2 itself, so a request waiting for its answer
    // holds one frame here, and an HTTP/1.1 frame has no room for the HTTP/2 path's locals.
    // `parts`, `method`, `headers`, `body` and `options` live in the fetch frame, which awaits
    // this call. `proxy`: null = direct. Through a proxy the request goes over HTTP/1.1 (in a
    // CONNECT or SOCKS5 tunnel, or in absolute form to an http:// proxy): HTTP/2 is for direct
    // connections.
    boost::asio::awaitable<boost::system::result<detail::exchange_result>> send_one(
        const url_parts& parts, const std::string& method, const header_list& headers,
        const std::string& body, const http_options& options,
        std::chrono::steady_clock::time_point deadline, const core::proxy_url* proxy) {
        std::string key = pool_key(parts, options.tls, proxy);
        const detail::exchange_limits limits{options.timeouts.response_headers,
                                             options.timeouts.idle_read, deadline,
                                             options.max_body};
        const auto version = options.version;
        if (proxy == nullptr &&
            (version == http_version::http2 || (version == http_version::automatic && parts.tls))) {
            return send_h2(std::move(key), parts, method, headers, body, limits, options);
        }
        return send_h1(std::move(key), parts, h1_request_bytes(parts, method, headers, body, proxy),
                       method == "HEAD", limits, options, nullptr, false, proxy);
    }

    // The bytes of an HTTP/1.1 request. An http:// target through an http:// proxy: the
    // absolute form, and the proxy's credentials on the request itself (RFC 9112 section 3.2.2).
    static std::string h1_request_bytes(const url_parts& parts, const std::string& method,
                                        const header_list& headers, const std::string& body,
                                        const core::proxy_url* proxy) {
        if (!is_forwarded(parts, proxy)) {
            return detail::serialize_request(method, parts.target, parts.host_header, headers,
                                             body);
        }
        const std::string absolute = "http://" + parts.host_header + parts.target;
        header_list sent = headers;
        if (proxy->has_credentials()) {
            sent.emplace_back("Proxy-Authorization",
                              detail::basic_credentials(proxy->user, proxy->password));
        }
        return detail::serialize_request(method, absolute, parts.host_header, sent, body);
    }

    // One hop over HTTP/1.1: a pooled or new connection, one exchange. A reused connection that
    // fails before any response byte was probably closed by the server while idle: the request
    // goes again, once, on a fresh connection. The frame owns the pool key and the request's
    // bytes; `parts` and `options` live in the fetch frame, which awaits this call.
    // `first`: a connection to use for the first attempt (pooled when `first_reused`, else
    // fresh from an ALPN that chose http/1.1); null = from the pool or new. `proxy`: null = direct.
    boost::asio::awaitable<boost::system::result<detail::exchange_result>> send_h1(
        std::string key, const url_parts& parts, std::string bytes, bool head,
        detail::exchange_limits limits, const http_options& options,
        std::unique_ptr<detail::connection> first, bool first_reused,
        const core::proxy_url* proxy) {
        const detail::wire_request request{bytes, head};
        for (int attempt = 0; attempt < 2; ++attempt) {
            std::unique_ptr<detail::connection> conn;
            bool reused = false;
            if (attempt == 0 && first) {
                reused = first_reused;
                conn = std::move(first);
            } else if (attempt == 0) {
                conn = acquire(key);
                reused = conn != nullptr;
            }
            if (!conn) {
                // With http.version auto, a server with h2 is reached here only when its
                // session could not take the request: this connection stays HTTP/1.1.
                std::string alpn = parts.tls && options.version == http_version::automatic
                                       ? alpn_offer(http_version::http1_1)
                                       : std::string();
                auto fresh =
                    co_await connect(parts, options, limits.deadline, proxy, std::move(alpn));
                if (!fresh) {
                    co_return fresh.error();
                }
                stats->http1_connections.fetch_add(1, std::memory_order_relaxed);
                conn = std::move(*fresh);
            }
            auto result = co_await conn->exchange(request, limits);
            if (result.ec) {
                conn->close();
                if (reused && !result.got_response_bytes && result.ec == fetch_error::reset) {
                    continue;
                }
                if (options.discard_oversized_body && result.ec == fetch_error::body_too_large &&
                    result.status != 0) {
                    // The status line came (a body over the limit shows at its Content-Length
                    // or while it is read); the body is dropped, never read beyond max_body.
                    result.ec = {};
                    result.body.clear();
                    result.keep_alive = false;
                    result.last_byte = std::chrono::steady_clock::now();
                    co_return result;
                }
                co_return result.ec;
            }
            if (result.keep_alive) {
                release(key, std::move(conn));
            } else {
                conn->close();
            }
            co_return result;
        }
        co_return fetch_error::reset;  // the retry on a fresh connection failed the same way
    }

    // One hop over HTTP/2 (direct connections only): a stream on the origin's session, opened
    // by whichever fetch comes first while the others wait for it. Falls back to HTTP/1.1 when
    // http.version is auto and the server's ALPN chose http/1.1, or when the origin is known to
    // speak only HTTP/1.1.
    boost::asio::awaitable<boost::system::result<detail::exchange_result>> send_h2(
        std::string key, const url_parts& parts, const std::string& method,
        const header_list& headers, const std::string& body, detail::exchange_limits limits,
        const http_options& options) {
        const auto version = options.version;
        const auto deadline = limits.deadline;
        std::unique_ptr<detail::connection> first;
        bool resent_after_reset = false;
        unsigned lost_resends = 0;
        bool use_http1 = false;
        // Bounded by max_h2_sends; each turn sends once or returns.
        const boost::asio::any_io_executor own = co_await boost::asio::this_coro::executor;
        std::shared_ptr<h2_waiter> waiter;  // made when first needed
        for (unsigned sends = 0; sends < max_h2_sends && !use_http1; ++sends) {
            std::shared_ptr<detail::h2_session> session;
            h2_turn turn = h2_turn::wait;
            // Waits while another fetch connects to the origin, woken when it is done
            // (end_h2_connect), bounded by the deadline. Each wake ends one connect turn.
            while ((turn = take_h2_turn(key, session, waiter, own, sends)) == h2_turn::wait) {
                if (detail::clock::now() >= deadline) {
                    co_return fetch_error::timeout;
                }
                co_await wait_for_connect(*waiter, deadline);
            }
            if (turn == h2_turn::use_http1) {
                use_http1 = true;
                break;
            }
            const bool reused = turn == h2_turn::use_session;
            if (turn == h2_turn::connect) {
                h2_connect_turn connecting(this, &key);
                std::string alpn = alpn_offer(version);
                auto fresh = co_await connect(parts, options, deadline, nullptr, std::move(alpn));
                if (!fresh) {
                    co_return fresh.error();
                }
                if (parts.tls && (*fresh)->alpn() != "h2") {
                    if (version == http_version::http2) {
                        (*fresh)->close();
                        co_return fetch_error::protocol;  // http.version "2" needs h2
                    }
                    connecting.end(nullptr, true);
                    stats->http1_connections.fetch_add(1, std::memory_order_relaxed);
                    first = std::move(*fresh);
                    use_http1 = true;
                    break;
                }
                detail::h2_settings settings;
                settings.open_streams =
                    std::shared_ptr<std::atomic<std::int64_t>>(stats, &stats->h2_streams);
                session = detail::start_h2_session(own, std::move(*fresh), settings);
                connecting.end(session, false);
                if (!session) {
                    co_return fetch_error::protocol;
                }
                stats->h2_connections.fetch_add(1, std::memory_order_relaxed);
            }
            detail::h2_request request{
                method, parts.tls ? "https" : "http", parts.host_header, parts.target, &headers,
                body};
            auto sent = co_await session->exchange(std::move(request), limits,
                                                   options.discard_oversized_body);
            if (sent.refused) {
                if (detail::clock::now() >= deadline) {
                    co_return fetch_error::timeout;
                }
                if (sends + 1 < max_h2_sends) {
                    (sent.goaway ? stats->h2_goaway_resends : stats->h2_refused_resends)
                        .fetch_add(1, std::memory_order_relaxed);
                }
                continue;  // the server did not process it: no failure, send it again
            }
            if (sent.result.ec) {
                // As for HTTP/1.1: a reused connection that dies before answering was
                // probably closed while idle; the request goes once more on a fresh one.
                if (reused && !resent_after_reset && !sent.result.got_response_bytes &&
                    sent.result.ec == fetch_error::reset) {
                    resent_after_reset = true;
                    stats->h2_lost_resends.fetch_add(1, std::memory_order_relaxed);
                    continue;
                }
                if (sent.connection_lost && lost_resends < max_lost_resends) {
                    ++lost_resends;
                    stats->h2_lost_resends.fetch_add(1, std::memory_order_relaxed);
                    continue;
                }
                co_return sent.result.ec;
            }
            sent.result.h2 = true;
            co_return std::move(sent.result);
        }
        if (!use_http1) {
            co_return fetch_error::reset;  // refused max_h2_sends times
        }
        bool first_reused = false;
        if (!first) {
            first = acquire(key);
            first_reused = first != nullptr;
        }
        std::string bytes = h1_request_bytes(parts, method, headers, body, nullptr);
        co_return co_await send_h1(std::move(key), parts, std::move(bytes), method == "HEAD",
                                   limits, options, std::move(first), first_reused, nullptr);
    }
};

http_client::http_client(boost::asio::any_io_executor executor, client_options options)
    : impl_(std::make_unique<impl>(std::move(executor), std::move(options))) {}

http_client::~http_client() {
    close_idle();
    std::lock_guard lock(impl_->h2_mutex);
    for (auto& [key, slot] : impl_->h2_slots) {
        if (slot.session) {
            slot.session->close();
        }
    }
}

std::shared_ptr<const client_stats> http_client::stats() const noexcept {
    return impl_->stats;
}

std::string http_client::user_agent_for(const http_request& request,
                                        const http_options& options) const {
    for (const auto* headers : {&request.headers, &options.headers}) {
        for (const auto& header : *headers) {
            if (iequals(header.first, "User-Agent") && is_sendable(header)) {
                return header.second;
            }
        }
    }
    return impl_->options.user_agent;
}

void http_client::close_idle() {
    std::unordered_map<std::string, std::vector<std::unique_ptr<detail::connection>>> idle;
    {
        std::lock_guard lock(impl_->pool_mutex);
        idle.swap(impl_->idle);
    }
    {
        // An HTTP/2 session with no stream in flight is idle; one a fetch picks meanwhile
        // refuses it (nothing sent), and the fetch opens a new one.
        std::lock_guard lock(impl_->h2_mutex);
        for (auto& [key, slot] : impl_->h2_slots) {
            if (slot.session && (slot.session->idle() || !slot.session->usable())) {
                slot.session->close();
                slot.session.reset();
            }
        }
    }
    for (auto& [key, list] : idle) {
        for (auto& conn : list) {
            conn->close();
        }
    }
}

boost::asio::awaitable<boost::system::result<http_response>> http_client::fetch(
    http_request request, std::shared_ptr<const http_options> options,
    std::chrono::steady_clock::time_point deadline) {
    // Not a coroutine: the awaitable of the direct fetch itself, no frame in between.
    return fetch(std::move(request), std::move(options), deadline, nullptr, nullptr);
}

boost::asio::awaitable<boost::system::result<http_response>> http_client::fetch(
    http_request request, std::shared_ptr<const http_options> options,
    std::chrono::steady_clock::time_point deadline, std::shared_ptr<const core::proxy_url> proxy,
    std::shared_ptr<core::cookie_jar> jar) {
    // Every local here stays in the frame while the request waits for its answer: the work
    // between hops is in plain functions (merged_headers, follow_redirect, final_response).
    if (!options) {
        options = std::make_shared<const http_options>();
    }
    header_list headers = merged_headers(request.headers, *options, impl_->options.user_agent);
    hop_request next{request.url, request.method, request.body, headers};
    std::uint64_t wire_bytes = 0;
    std::optional<detail::clock::time_point> first_sent;
    // Bounded: each iteration either returns or follows one of at most max_redirects redirects.
    for (;;) {
        auto parts = parse_http_url(request.url);
        if (!parts) {
            co_return parts.error();
        }
        if (!detail::is_valid_method(request.method)) {
            co_return fetch_error::protocol;
        }
        const cookie_edit cookies = jar ? add_jar_cookies(headers, *jar, *parts) : cookie_edit{};
        auto hop = co_await impl_->send_one(*parts, request.method, headers, request.body, *options,
                                            deadline, proxy.get());
        take_jar_cookies_back(headers, cookies);
        if (!hop) {
            co_return hop.error();
        }
        if (hop->status == 407 && is_forwarded(*parts, proxy.get())) {
            co_return fetch_error::proxy_auth;
        }
        if (!first_sent) {
            first_sent = hop->sent;
        }
        wire_bytes += hop->body.size();
        if (jar) {
            store_jar_cookies(*jar, hop->headers, *parts);
        }
        const auto verdict = follow_redirect(*hop, *parts, next, *options);
        if (!verdict) {
            co_return verdict.error();
        }
        if (*verdict == hop_verdict::answer) {
            co_return final_response(std::move(*hop), std::move(request.url), next.redirects,
                                     wire_bytes, *first_sent, *options);
        }
    }
}

}  // namespace harvest::net
