// Beast server of the bulk API (api_server.hpp).

#include "service/api_server.hpp"

#include "engine/net/http_server_support.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <charconv>
#include <iterator>
#include <list>
#include <map>
#include <system_error>

namespace harvest::service {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// After an accept error (e.g. EMFILE): the next accept may work once connections close.
constexpr auto accept_error_pause = std::chrono::milliseconds(50);

tcp::endpoint parse_listen(const std::string& listen) {
    std::string host;
    std::string port;
    if (!listen.empty() && listen.front() == '[') {
        const auto close = listen.find("]:");
        if (close == std::string::npos) {
            throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                    "bad listen address " + listen);
        }
        host = listen.substr(1, close - 1);
        port = listen.substr(close + 2);
    } else {
        const auto colon = listen.rfind(':');
        if (colon == std::string::npos) {
            throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                    "bad listen address " + listen + " (expected host:port)");
        }
        host = listen.substr(0, colon);
        port = listen.substr(colon + 1);
    }
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    boost::system::error_code parse_error;
    auto address = host == "localhost" ? asio::ip::address(asio::ip::address_v4::loopback())
                                       : asio::ip::make_address(host, parse_error);
    if (ec != std::errc() || end != port.data() + port.size() || value > 65535 || parse_error) {
        throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                "bad listen address " + listen + " (expected IP:port)");
    }
    return {address, static_cast<unsigned short>(value)};
}

using response_type = http::response<http::string_body>;

response_type to_beast(const api_response& answer, unsigned version, bool keep_alive) {
    response_type res{static_cast<http::status>(answer.status), version};
    res.set(http::field::server, "harvest");
    res.set(http::field::content_type, answer.content_type);
    for (const auto& [name, value] : answer.headers) {
        res.set(name, value);
    }
    res.keep_alive(keep_alive);
    res.body() = answer.body;
    res.prepare_payload();
    return res;
}

}  // namespace

struct api_server::state : std::enable_shared_from_this<api_server::state> {
    state(asio::any_io_executor ex, std::string listen_address, handler_type h, api_server_limits l)
        : executor(ex),
          acceptor(ex),
          listen(std::move(listen_address)),
          handler(std::move(h)),
          limits(l) {}

    // One open connection, as the accept loop sees it.
    struct connection {
        beast::tcp_stream* stream = nullptr;
        asio::ip::address peer;
        // Reading a request (line, headers, body) or idle between two: not being served yet.
        bool awaiting_request = true;
        std::chrono::steady_clock::time_point awaiting_since;
        bool evicted = false;  // closed to make room; leaves `connections` when its coroutine ends
    };

    asio::any_io_executor executor;
    tcp::acceptor acceptor;
    std::string listen;
    handler_type handler;
    api_server_limits limits;
    unsigned short port = 0;
    bool closing = false;
    std::list<connection> connections;
    std::map<asio::ip::address, std::size_t> per_ip;  // open connections by client address
    std::size_t evicted = 0;                          // entries of `connections` being closed

    std::size_t open_count() const { return connections.size() - evicted; }

    // Closes the connection that has waited longest for its request (headers or body: a body
    // sent slowly holds a connection as long as slow headers would). False when every open
    // connection is being served.
    bool evict_oldest_waiting() {
        connection* oldest = nullptr;
        for (auto& c : connections) {  // at most max_connections entries, only under pressure
            if (!c.evicted && c.awaiting_request &&
                (oldest == nullptr || c.awaiting_since < oldest->awaiting_since)) {
                oldest = &c;
            }
        }
        if (oldest == nullptr) {
            return false;
        }
        oldest->evicted = true;
        ++evicted;
        oldest->stream->close();  // its pending read ends with operation_aborted
        return true;
    }

    static asio::awaitable<void> serve(std::shared_ptr<state> self, tcp::socket socket,
                                       asio::ip::address peer) {
        beast::tcp_stream stream(std::move(socket));
        self->connections.push_back({&stream, peer, true, std::chrono::steady_clock::now(), false});
        ++self->per_ip[peer];
        struct registration {
            state* self;
            std::list<connection>::iterator entry;
            ~registration() {
                if (entry->evicted) {
                    --self->evicted;
                }
                if (auto it = self->per_ip.find(entry->peer); it != self->per_ip.end()) {
                    if (--it->second == 0) {
                        self->per_ip.erase(it);
                    }
                }
                self->connections.erase(entry);
            }
        } const registered{self.get(), std::prev(self->connections.end())};
        auto& entry = *registered.entry;
        beast::flat_buffer buffer;
        for (int served = 0; served < 10000 && !self->closing && !entry.evicted; ++served) {
            http::request_parser<http::string_body> parser;
            parser.header_limit(self->limits.header_limit);
            parser.body_limit(self->limits.body_limit);
            entry.awaiting_request = true;
            entry.awaiting_since = std::chrono::steady_clock::now();
            // One deadline for the request line and all headers, however slowly they trickle.
            stream.expires_after(self->limits.header_timeout);
            auto [read_error, read_bytes] = co_await http::async_read_header(
                stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
            if (!read_error && !parser.is_done()) {
                stream.expires_after(self->limits.read_timeout);
                auto [body_error, body_bytes] = co_await http::async_read(
                    stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
                read_error = body_error;
            }
            entry.awaiting_request = false;
            if (read_error) {
                std::optional<api_response> answer;
                if (const auto status = net::status_for_read_error(read_error)) {
                    if (*status == http::status::payload_too_large) {
                        answer =
                            error_response(413, "body_too_large",
                                           "the request body is larger than max_body (" +
                                               std::to_string(self->limits.body_limit) + " bytes)");
                    } else if (*status == http::status::request_header_fields_too_large) {
                        answer =
                            error_response(431, "headers_too_large", "request headers too large");
                    } else {
                        answer = error_response(400, "bad_request", "malformed HTTP request");
                    }
                }
                if (answer && !self->closing && !entry.evicted) {
                    auto res = to_beast(*answer, 11, false);
                    stream.expires_after(self->limits.write_timeout);
                    co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
                }
                break;
            }
            const auto& req = parser.get();
            api_request request;
            request.method = std::string(req.method_string());
            request.target = std::string(req.target());
            request.authorization = std::string(req[http::field::authorization]);
            request.idempotency_key = std::string(req["Idempotency-Key"]);
            request.body = req.body();
            api_response answer;
            try {
                answer = self->handler(request);
            } catch (const std::exception& e) {
                spdlog::error("{} {}: {}", request.method, request.target, e.what());
                answer = error_response(500, "internal", "internal error");
            }
            auto res = to_beast(answer, req.version(), req.keep_alive());
            if (!co_await net::write_response(stream, res, self->limits.write_timeout)) {
                break;
            }
        }
        net::close_connection(stream);
    }

    // Whether a new connection from `peer` may be served, making room when under pressure.
    bool admit(const asio::ip::address& peer) {
        if (const auto it = per_ip.find(peer);
            it != per_ip.end() && it->second >= limits.max_connections_per_ip) {
            return false;
        }
        const std::size_t max = std::max<std::size_t>(limits.max_connections, 1);
        const std::size_t pressure = max - std::min(limits.reserved_connections, max - 1);
        if (open_count() >= pressure) {
            // In the reserve: room comes from the slowest client waiting for its headers.
            if (!evict_oldest_waiting() && open_count() >= max) {
                return false;
            }
        }
        return open_count() < max;
    }

    static asio::awaitable<void> accept_loop(std::shared_ptr<state> self) {
        const auto closing = [self] { return self->closing; };
        const auto serve_socket = [self](tcp::socket socket) {
            boost::system::error_code peer_error;
            const auto peer = socket.remote_endpoint(peer_error).address();
            if (peer_error || !self->admit(peer)) {
                boost::system::error_code ignored;
                socket.close(ignored);
                return;
            }
            asio::co_spawn(self->executor, serve(self, std::move(socket), peer), asio::detached);
        };
        co_await net::accept_loop(self->acceptor, accept_error_pause, "bulk API", closing,
                                  serve_socket);
    }
};

api_server_limits api_server_limits::from(const config::service_config& config) {
    api_server_limits limits;
    limits.body_limit = static_cast<std::size_t>(config.max_body);
    limits.header_timeout = config.listener.header_timeout;
    limits.max_connections = config.listener.max_connections;
    limits.max_connections_per_ip = config.listener.max_connections_per_ip;
    limits.reserved_connections = config.listener.reserved_connections;
    return limits;
}

api_server::api_server(asio::any_io_executor executor, std::string listen, handler_type handler,
                       api_server_limits limits)
    : state_(std::make_shared<state>(executor, std::move(listen), std::move(handler), limits)) {}

api_server::~api_server() {
    close();
}

void api_server::start() {
    const auto endpoint = parse_listen(state_->listen);
    boost::system::error_code ec;
    auto& acceptor = state_->acceptor;
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) {
        acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    }
    if (!ec) {
        acceptor.bind(endpoint, ec);
    }
    if (!ec) {
        acceptor.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        throw std::system_error(ec, "cannot listen on " + state_->listen + " for the bulk API");
    }
    state_->port = acceptor.local_endpoint().port();
    asio::co_spawn(state_->executor, state::accept_loop(state_), asio::detached);
}

unsigned short api_server::port() const noexcept {
    return state_->port;
}

void api_server::close() {
    state_->closing = true;
    boost::system::error_code ignored;
    state_->acceptor.close(ignored);
    for (auto& c : state_->connections) {
        c.stream->close();
    }
}

}  // namespace harvest::service
