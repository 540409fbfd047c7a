// The /metrics endpoint on Beast: one accept loop and one coroutine per connection, all on one
// strand, tracked so that close() can end them and wait for them.

#include "engine/metrics/http/metrics_server.hpp"

#include "engine/core/exception_text.hpp"

#include "engine/metrics/exposition.hpp"
#include "engine/net/http_server_support.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <charconv>
#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>

namespace harvest::metrics {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::string_view text_plain = "text/plain; charset=utf-8";
// After a failed accept (out of file descriptors and the like): wait this long before the next,
// rather than spin.
constexpr auto accept_error_pause = std::chrono::milliseconds(100);
// Prometheus keeps one connection per target; a connection serving this many requests is
// closed anyway so that no loop is unbounded (the client just reconnects).
constexpr int max_requests_per_connection = 100'000;

[[noreturn]] void throw_bad_listen(const std::string& listen, std::string_view why) {
    throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                            "metrics.listen \"" + listen + "\": " + std::string(why));
}

tcp::endpoint parse_listen(const std::string& listen) {
    const std::string_view text = listen;
    std::string_view host;
    std::string_view port;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            throw_bad_listen(listen, "expected [address]:port");
        }
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            throw_bad_listen(listen, "expected host:port");
        }
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value > 65535) {
        throw_bad_listen(listen, "the port must be a number from 0 to 65535");
    }
    asio::ip::address address;
    if (host.empty()) {
        address = asio::ip::address_v4::any();
    } else if (host == "localhost") {
        address = asio::ip::address_v4::loopback();
    } else {
        boost::system::error_code parse_error;
        address = asio::ip::make_address(std::string(host), parse_error);
        if (parse_error) {
            throw_bad_listen(listen, "the host must be an IP address (e.g. 127.0.0.1, 0.0.0.0)");
        }
    }
    return {address, static_cast<unsigned short>(value)};
}

using request_type = http::request<http::string_body>;
using response_type = http::response<http::string_body>;

response_type make_response(http::status status, unsigned version, bool keep_alive,
                            std::string_view content_type, std::string body) {
    response_type res{status, version};
    res.set(http::field::server, "harvest");
    res.set(http::field::content_type, content_type);
    res.keep_alive(keep_alive);
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
}

}  // namespace

namespace detail {

struct metrics_server_state {
    metrics_server_state(asio::any_io_executor executor, std::function<std::string()> render_body,
                         metrics_server_limits server_limits)
        : strand(asio::make_strand(std::move(executor))),
          acceptor(strand),
          idle(strand),
          render(std::move(render_body)),
          limits(server_limits) {}

    // Everything below except `port`, `started` and `closed` is touched on `strand` only.
    asio::any_io_executor strand;
    tcp::acceptor acceptor;
    asio::steady_timer idle;  // close() sleeps on it; the last task to end cancels it
    std::function<std::string()> render;
    metrics_server_limits limits;

    std::atomic<unsigned short> port{0};
    std::atomic<bool> started{false};
    std::atomic<bool> closed{false};

    bool closing = false;
    std::size_t tasks = 0;  // accept loop + connection coroutines not yet completed
    std::uint64_t next_connection = 0;
    std::unordered_map<std::uint64_t, beast::tcp_stream*> connections;

    // Stops accepting and closes every connection: their pending reads and writes complete
    // with operation_aborted and their coroutines end.
    void shut() {
        closing = true;
        boost::system::error_code ignored;
        acceptor.close(ignored);
        for (auto& [id, stream] : connections) {
            stream->close();
        }
    }

    response_type respond(const request_type& req) const {
        std::string_view target = req.target();
        target = target.substr(0, target.find('?'));
        const bool keep_alive = req.keep_alive();
        if (target != "/metrics" && target != "/healthz") {
            return make_response(http::status::not_found, req.version(), keep_alive, text_plain,
                                 "not found; try /metrics\n");
        }
        if (req.method() != http::verb::get) {
            auto res = make_response(http::status::method_not_allowed, req.version(), keep_alive,
                                     text_plain, "only GET\n");
            res.set(http::field::allow, "GET");
            return res;
        }
        if (target == "/healthz") {
            return make_response(http::status::ok, req.version(), keep_alive, text_plain, "ok\n");
        }
        try {
            return make_response(http::status::ok, req.version(), keep_alive, content_type,
                                 render());
        } catch (const std::exception& e) {
            // A failing scrape must show as failing (Prometheus marks the target down), not
            // take the server with it.
            spdlog::error("/metrics: rendering failed: {}", e.what());
            return make_response(http::status::internal_server_error, req.version(), keep_alive,
                                 text_plain, "rendering failed\n");
        }
    }
};

}  // namespace detail

namespace {

using impl_ptr = std::shared_ptr<detail::metrics_server_state>;

// The co_spawn completion of every task: logs what escaped and, when closing, wakes close()
// once the last task has ended. Bound to the strand, like the tasks.
auto task_completion(impl_ptr self, const char* what) {
    return asio::bind_executor(self->strand, [self, what](const std::exception_ptr& error) {
        if (error) {
            spdlog::error("metrics server: {} ended with an exception: {}", what,
                          core::exception_text(error));
        }
        if (--self->tasks == 0 && self->closing) {
            self->idle.cancel();
        }
    });
}

asio::awaitable<void> serve_connection(impl_ptr self, tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    const std::uint64_t id = self->next_connection++;
    self->connections.emplace(id, &stream);
    // Unregisters however the coroutine ends (also when its frame is destroyed unfinished).
    struct registration {
        impl_ptr self;
        std::uint64_t id;
        ~registration() { self->connections.erase(id); }
    } const registered{self, id};

    beast::flat_buffer buffer;
    for (int served = 0; served < max_requests_per_connection && !self->closing; ++served) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(self->limits.header_limit);
        parser.body_limit(self->limits.body_limit);
        // Covers the keep-alive idle time too: an idle or trickling client is dropped.
        stream.expires_after(self->limits.read_timeout);
        auto [read_error, read_bytes] =
            co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
        if (read_error) {
            if (const auto status = net::status_for_read_error(read_error);
                status && !self->closing) {
                auto res = make_response(*status, 11, false, text_plain,
                                         std::string(http::obsolete_reason(*status)) + "\n");
                stream.expires_after(self->limits.write_timeout);
                co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
            }
            break;
        }
        if (self->closing) {
            break;
        }
        auto res = self->respond(parser.get());
        if (!co_await net::write_response(stream, res, self->limits.write_timeout)) {
            break;
        }
    }
    net::close_connection(stream);
}

asio::awaitable<void> accept_loop(impl_ptr self) {
    const auto closing = [self] { return self->closing; };
    const auto serve = [self](tcp::socket socket) {
        if (self->connections.size() >= self->limits.max_connections) {
            boost::system::error_code ignored;
            socket.close(ignored);
            return;
        }
        ++self->tasks;
        asio::co_spawn(self->strand, serve_connection(self, std::move(socket)),
                       task_completion(self, "a /metrics connection"));
    };
    co_await net::accept_loop(self->acceptor, accept_error_pause, "metrics server", closing, serve);
}

asio::awaitable<void> close_on_strand(impl_ptr self) {
    // Each round closes whatever is open and sleeps until the last task ends (or 1 s, then
    // closes again): tasks end promptly once their sockets are closed.
    while (true) {
        self->shut();
        if (self->tasks == 0) {
            break;
        }
        self->idle.expires_after(std::chrono::seconds(1));
        co_await self->idle.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    self->closed = true;
}

}  // namespace

metrics_server::metrics_server(asio::any_io_executor executor, std::string listen,
                               std::function<std::string()> render, metrics_server_limits limits)
    : listen_(std::move(listen)),
      impl_(std::make_shared<detail::metrics_server_state>(std::move(executor), std::move(render),
                                                           limits)) {}

metrics_server::~metrics_server() {
    if (impl_->started && !impl_->closed) {
        // Not closed: end the connections whenever the executor next runs. The coroutines own
        // `impl`, so it outlives this object. (The executor's context must still exist.)
        asio::post(impl_->strand, [self = impl_] { self->shut(); });
    }
}

void metrics_server::start() {
    if (impl_->started.exchange(true)) {
        throw std::logic_error("metrics_server::start called twice");
    }
    const tcp::endpoint endpoint = parse_listen(listen_);
    auto fail = [this](const boost::system::error_code& ec) {
        boost::system::error_code ignored;
        impl_->acceptor.close(ignored);
        throw std::system_error(std::error_code(ec.value(), std::system_category()),
                                "cannot listen on " + listen_ + " for /metrics");
    };
    boost::system::error_code ec;
    impl_->acceptor.open(endpoint.protocol(), ec);
    if (ec) {
        fail(ec);
    }
    // Lets a restarted crawl rebind while old connections sit in TIME_WAIT; on Linux it does
    // not allow two listeners on one port, so "port in use" is still reported.
    impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    impl_->acceptor.bind(endpoint, ec);
    if (ec) {
        fail(ec);
    }
    impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        fail(ec);
    }
    impl_->port = impl_->acceptor.local_endpoint(ec).port();
    // Counted on the strand, before any close() posted after this call can look.
    asio::post(impl_->strand, [self = impl_] {
        if (self->closing) {
            return;
        }
        ++self->tasks;
        asio::co_spawn(self->strand, accept_loop(self), task_completion(self, "the accept loop"));
    });
}

unsigned short metrics_server::port() const noexcept {
    return impl_->port;
}

asio::awaitable<void> metrics_server::close() {
    // Runs on the strand; the caller resumes on its own executor.
    co_await asio::co_spawn(impl_->strand, close_on_strand(impl_), asio::use_awaitable);
}

}  // namespace harvest::metrics
