// The client proper: request assembly, the keep-alive pool, redirects and decoding. No Beast
// templates here (they live in connection_*.cpp), so this file compiles quickly.

#include "engine/net/http_client.hpp"

#include "engine/core/text.hpp"
#include "engine/net/connection.hpp"
#include "engine/net/decode.hpp"
#include "engine/net/detail/tunnel.hpp"
#include "engine/net/dns_cache.hpp"
#include "engine/net/url.hpp"

#include <boost/asio/ssl/context.hpp>

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace harvest::net {

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

bool has_header(const header_list& headers, std::string_view name) noexcept {
    return std::any_of(headers.begin(), headers.end(),
                       [name](const auto& h) { return iequals(h.first, name); });
}

void erase_header(header_list& headers, std::string_view name) {
    std::erase_if(headers, [name](const auto& h) { return iequals(h.first, name); });
}

// Headers the client owns (framing and Host), and anything that could split the request.
bool is_sendable(const std::pair<std::string, std::string>& header) noexcept {
    const auto& [name, value] = header;
    if (name.empty() || iequals(name, "Host") || iequals(name, "Content-Length") ||
        iequals(name, "Transfer-Encoding")) {
        return false;
    }
    auto bad = [](char c) { return c == '\r' || c == '\n' || c == '\0'; };
    return std::none_of(name.begin(), name.end(), bad) &&
           std::none_of(value.begin(), value.end(), bad) &&
           name.find_first_of(" \t:") == std::string::npos;
}

bool is_redirect(unsigned status) noexcept {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// A connection through a proxy serves only requests through the same proxy with the same
// credentials (the key is internal: never logged).
std::string pool_key(const url_parts& parts, const crawl::tls_options& tls,
                     const core::proxy_url* proxy) {
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

    std::mutex tls_mutex;  // guards tls_contexts
    std::map<std::pair<bool, std::string>, std::shared_ptr<boost::asio::ssl::context>> tls_contexts;

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
        const crawl::tls_options& tls) {
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
    boost::asio::awaitable<boost::system::result<std::unique_ptr<detail::connection>>> connect(
        const url_parts& parts, const crawl::http_options& options,
        std::chrono::steady_clock::time_point deadline, const core::proxy_url* proxy) {
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
        if (!parts.tls) {
            auto conn =
                co_await detail::connect_plain(executor, std::move(*endpoints), limits, through);
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
        co_return co_await detail::connect_tls(executor, std::move(*context), options.tls.verify,
                                               parts.host, parts.host_is_ip, std::move(*endpoints),
                                               limits, through);
    }

    // One hop: a pooled or new connection, one exchange. A reused connection that fails before
    // any response byte was probably closed by the server while idle: the request goes again,
    // once, on a fresh connection.
    // `parts`, `request` views and `options` live in the fetch frame, which awaits this call
    // (a reference, not a copy of three strings per request).
    boost::asio::awaitable<boost::system::result<detail::exchange_result>> send_one(
        const url_parts& parts, detail::wire_request request, const crawl::http_options& options,
        std::chrono::steady_clock::time_point deadline, const core::proxy_url* proxy) {
        const std::string key = pool_key(parts, options.tls, proxy);
        const detail::exchange_limits limits{options.timeouts.response_headers,
                                             options.timeouts.idle_read, deadline,
                                             options.max_body};
        for (int attempt = 0; attempt < 2; ++attempt) {
            std::unique_ptr<detail::connection> conn;
            if (attempt == 0) {
                conn = acquire(key);
            }
            const bool reused = conn != nullptr;
            if (!conn) {
                auto fresh = co_await connect(parts, options, deadline, proxy);
                if (!fresh) {
                    co_return fresh.error();
                }
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
};

http_client::http_client(boost::asio::any_io_executor executor, client_options options)
    : impl_(std::make_unique<impl>(std::move(executor), std::move(options))) {}

http_client::~http_client() {
    close_idle();
}

void http_client::close_idle() {
    std::unordered_map<std::string, std::vector<std::unique_ptr<detail::connection>>> idle;
    {
        std::lock_guard lock(impl_->pool_mutex);
        idle.swap(impl_->idle);
    }
    for (auto& [key, list] : idle) {
        for (auto& conn : list) {
            conn->close();
        }
    }
}

boost::asio::awaitable<boost::system::result<http_response>> http_client::fetch(
    http_request request, std::shared_ptr<const crawl::http_options> options,
    std::chrono::steady_clock::time_point deadline) {
    // Not a coroutine: the awaitable of the direct fetch itself, no frame in between.
    return fetch(std::move(request), std::move(options), deadline, nullptr);
}

boost::asio::awaitable<boost::system::result<http_response>> http_client::fetch(
    http_request request, std::shared_ptr<const crawl::http_options> options,
    std::chrono::steady_clock::time_point deadline, std::shared_ptr<const core::proxy_url> proxy) {
    if (!options) {
        options = std::make_shared<const crawl::http_options>();
    }
    // Request wins over the crawl's headers, which win over the client's defaults.
    header_list headers;
    for (const auto& header : request.headers) {
        if (is_sendable(header)) {
            headers.push_back(header);
        }
    }
    for (const auto& header : options->headers) {
        if (is_sendable(header) && !has_header(headers, header.first)) {
            headers.push_back(header);
        }
    }
    if (!has_header(headers, "User-Agent") && !impl_->options.user_agent.empty()) {
        headers.emplace_back("User-Agent", impl_->options.user_agent);
    }
    if (!has_header(headers, "Accept-Encoding")) {
        std::string accept;
        auto offer = [&accept](bool on, std::string_view coding) {
            if (on) {
                accept.append(accept.empty() ? "" : ", ").append(coding);
            }
        };
        offer(options->gzip, "gzip");
        offer(options->deflate, "deflate");
        offer(options->br, "br");
        if (!accept.empty()) {
            headers.emplace_back("Accept-Encoding", std::move(accept));
        }
    }

    http_response response;
    std::string url = std::move(request.url);
    std::string method = std::move(request.method);
    std::string body = std::move(request.body);
    std::optional<std::chrono::steady_clock::time_point> first_sent;
    // Bounded: each iteration either returns or follows one of at most max_redirects redirects.
    for (;;) {
        auto parts = parse_http_url(url);
        if (!parts) {
            co_return parts.error();
        }
        if (!detail::is_valid_method(method)) {
            co_return fetch_error::protocol;
        }
        // An http:// target through an http:// proxy: the absolute form, and the proxy's
        // credentials on the request itself (RFC 9112 section 3.2.2).
        const bool forward = proxy && proxy->scheme == core::proxy_scheme::http && !parts->tls;
        std::string bytes;
        if (forward) {
            const std::string absolute = "http://" + parts->host_header + parts->target;
            header_list sent = headers;
            if (proxy->has_credentials()) {
                sent.emplace_back("Proxy-Authorization",
                                  detail::basic_credentials(proxy->user, proxy->password));
            }
            bytes = detail::serialize_request(method, absolute, parts->host_header, sent, body);
        } else {
            bytes =
                detail::serialize_request(method, parts->target, parts->host_header, headers, body);
        }
        const detail::wire_request wire{bytes, method == "HEAD"};
        auto hop = co_await impl_->send_one(*parts, wire, *options, deadline, proxy.get());
        if (!hop) {
            co_return hop.error();
        }
        if (forward && hop->status == 407) {
            co_return fetch_error::proxy_auth;
        }
        if (!first_sent) {
            first_sent = hop->sent;
        }
        response.wire_bytes += hop->body.size();

        const std::string_view location = find_header(hop->headers, "Location");
        if (is_redirect(hop->status) && !location.empty()) {
            if (response.redirects >= options->max_redirects) {
                co_return fetch_error::too_many_redirects;
            }
            auto next = resolve_url(url, location);
            if (!next) {
                co_return fetch_error::protocol;
            }
            auto next_parts = parse_http_url(*next);
            if (!next_parts) {
                co_return next_parts.error();  // e.g. unsupported_scheme for ftp:
            }
            ++response.redirects;
            const bool to_get = (hop->status == 303 && method != "HEAD") ||
                                ((hop->status == 301 || hop->status == 302) && method == "POST");
            if (to_get) {
                method = "GET";
                body.clear();
                erase_header(headers, "Content-Type");
            }
            if (pool_key(*next_parts, options->tls, nullptr) !=
                pool_key(*parts, options->tls, nullptr)) {
                // Credentials meant for one origin must not leak to another.
                erase_header(headers, "Authorization");
                erase_header(headers, "Cookie");
            }
            url = std::move(*next);
            continue;
        }

        response.status = hop->status;
        const std::string encoding(find_header(hop->headers, "Content-Encoding"));
        response.headers = std::move(hop->headers);
        // An empty body (HEAD, 204, 304) has nothing to decode, whatever the header says.
        if (!encoding.empty() && !hop->body.empty()) {
            auto decoded = decode_content(encoding, std::move(hop->body), options->max_body,
                                          coding_set{options->gzip, options->deflate, options->br});
            if (!decoded) {
                co_return decoded.error();
            }
            response.body = std::move(*decoded);
        } else {
            response.body = std::move(hop->body);
        }
        response.body.reserve(response.body.size() + body_padding);
        response.final_url = std::move(url);
        response.elapsed = hop->last_byte - *first_sent;
        co_return response;
    }
}

}  // namespace harvest::net
