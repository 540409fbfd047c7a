#include "engine/redis/client.hpp"

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/url/parse.hpp>

#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <charconv>
#include <deque>
#include <exception>

namespace harvest::redis {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

class client_category_impl final : public boost::system::error_category {
  public:
    const char* name() const noexcept override { return "harvest.redis"; }
    std::string message(int value) const override {
        switch (static_cast<client_error>(value)) {
            case client_error::protocol:
                return "redis protocol error";
            case client_error::closed:
                return "redis connection closed";
            case client_error::bad_url:
                return "bad redis URL";
            case client_error::unexpected_reply:
                return "unexpected redis reply";
            case client_error::unreachable:
                return "redis unreachable for longer than frontier.redis.give_up_after";
        }
        return "unknown redis client error";
    }
};

// Copies hiredis's reply tree into owned values, so the tree can be freed at once.
reply convert(const redisReply& from) {
    reply to;
    switch (from.type) {
        case REDIS_REPLY_STRING:
            to.type = reply::kind::string;
            to.str.assign(from.str, from.len);
            break;
        case REDIS_REPLY_STATUS:
            to.type = reply::kind::status;
            to.str.assign(from.str, from.len);
            break;
        case REDIS_REPLY_ERROR:
            to.type = reply::kind::error;
            to.str.assign(from.str, from.len);
            break;
        case REDIS_REPLY_INTEGER:
            to.type = reply::kind::integer;
            to.integer = from.integer;
            break;
        case REDIS_REPLY_ARRAY:
            to.type = reply::kind::array;
            to.elements.reserve(from.elements);
            for (std::size_t i = 0; i < from.elements; ++i) {
                to.elements.push_back(convert(*from.element[i]));
            }
            break;
        default:
            to.type = reply::kind::nil;
            break;
    }
    return to;
}

// RESP bytes of one command, formatted by hiredis (binary-safe: lengths are passed).
boost::system::result<std::string> format(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    argv.reserve(args.size());
    lengths.reserve(args.size());
    for (const auto& a : args) {
        argv.push_back(a.data());
        lengths.push_back(a.size());
    }
    char* out = nullptr;
    int length =
        redisFormatCommandArgv(&out, static_cast<int>(args.size()), argv.data(), lengths.data());
    if (length < 0 || out == nullptr) {
        return make_error_code(client_error::protocol);
    }
    std::string bytes(out, static_cast<std::size_t>(length));
    redisFreeCommand(out);
    return bytes;
}

using reply_channel = asio::experimental::concurrent_channel<void(error_code, std::vector<reply>)>;

}  // namespace

const boost::system::error_category& client_category() noexcept {
    static const client_category_impl category;
    return category;
}

error_code make_error_code(client_error e) noexcept {
    return {static_cast<int>(e), client_category()};
}

boost::system::result<endpoint> parse_url(std::string_view url) {
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed || parsed->scheme() != "redis" || !parsed->has_authority()) {
        return make_error_code(client_error::bad_url);
    }
    endpoint where;
    where.host = std::string(parsed->encoded_host_address());
    if (where.host.empty()) {
        return make_error_code(client_error::bad_url);
    }
    if (parsed->has_port()) {
        if (parsed->port().empty() || parsed->port_number() == 0) {
            return make_error_code(client_error::bad_url);
        }
        where.port = parsed->port_number();
    }
    if (parsed->has_password()) {
        where.user = parsed->user();
        where.password = parsed->password();
    }
    std::string_view path = parsed->encoded_path();
    if (!path.empty() && path != "/") {
        path.remove_prefix(1);
        unsigned db = 0;
        auto [end, ec] = std::from_chars(path.data(), path.data() + path.size(), db);
        if (ec != std::errc{} || end != path.data() + path.size()) {
            return make_error_code(client_error::bad_url);
        }
        where.db = db;
    }
    return where;
}

// Everything below runs on `strand` except construction and the atomic counter.
struct client::impl : std::enable_shared_from_this<client::impl> {
    explicit impl(asio::any_io_executor executor)
        : strand(asio::make_strand(executor)), socket(strand), reader(redisReaderCreate()) {}
    ~impl() { redisReaderFree(reader); }
    impl(const impl&) = delete;
    impl& operator=(const impl&) = delete;

    struct waiter {
        std::size_t expected;  // replies that complete this request (1, or a pipeline's size)
        std::vector<reply> replies;
        std::shared_ptr<reply_channel> done;
    };

    asio::strand<asio::any_io_executor> strand;
    asio::ip::tcp::socket socket;
    redisReader* reader;
    std::deque<waiter> waiting;  // in the order their bytes were queued for writing
    std::string outgoing;        // formatted, waiting for the current write to finish
    std::string writing;         // owned by the async_write in progress
    bool write_active = false;
    error_code broken;  // first failure; set once, then every request fails with it
    std::array<char, 64 * 1024> read_buffer{};
    std::atomic<std::size_t> in_flight{0};

    void submit(std::string bytes, std::size_t expected, std::shared_ptr<reply_channel> done) {
        if (broken) {
            done->try_send(broken, std::vector<reply>{});
            return;
        }
        outgoing += bytes;
        waiting.push_back(waiter{expected, {}, std::move(done)});
        in_flight.fetch_add(1, std::memory_order_relaxed);
        start_write();
    }

    // Whatever accumulated while the previous write was in progress goes out in one write:
    // this is where concurrent callers' commands get pipelined together.
    void start_write() {
        if (write_active || outgoing.empty() || broken) {
            return;
        }
        writing.swap(outgoing);
        outgoing.clear();
        write_active = true;
        asio::async_write(
            socket, asio::buffer(writing),
            asio::bind_executor(strand, [self = shared_from_this()](error_code ec, std::size_t) {
                self->write_active = false;
                self->writing.clear();
                if (ec) {
                    self->fail(ec);
                    return;
                }
                self->start_write();
            }));
    }

    void fail(error_code ec) {
        if (!broken) {
            broken = ec;
        }
        error_code ignored;
        socket.close(ignored);
        for (auto& w : waiting) {
            w.done->try_send(broken, std::vector<reply>{});
        }
        in_flight.fetch_sub(waiting.size(), std::memory_order_relaxed);
        waiting.clear();
    }

    // Takes every complete reply out of the reader. False when the stream is broken.
    bool deliver_replies() {
        for (;;) {
            void* raw = nullptr;
            if (redisReaderGetReply(reader, &raw) != REDIS_OK) {
                return false;
            }
            if (raw == nullptr) {
                return true;
            }
            reply owned = convert(*static_cast<redisReply*>(raw));
            freeReplyObject(raw);
            if (waiting.empty()) {
                return false;  // a reply nobody asked for: the stream is out of step
            }
            waiter& front = waiting.front();
            front.replies.push_back(std::move(owned));
            if (front.replies.size() == front.expected) {
                front.done->try_send(error_code{}, std::move(front.replies));
                waiting.pop_front();
                in_flight.fetch_sub(1, std::memory_order_relaxed);
            }
        }
    }

    static asio::awaitable<void> read_loop(std::shared_ptr<impl> self) {
        for (;;) {
            auto buffer = asio::buffer(self->read_buffer);
            auto [ec, n] =
                co_await self->socket.async_read_some(buffer, asio::as_tuple(asio::use_awaitable));
            if (ec) {
                self->fail(ec == asio::error::eof ? make_error_code(client_error::closed) : ec);
                co_return;
            }
            if (redisReaderFeed(self->reader, self->read_buffer.data(), n) != REDIS_OK ||
                !self->deliver_replies()) {
                self->fail(make_error_code(client_error::protocol));
                co_return;
            }
        }
    }
};

client::client(std::shared_ptr<impl> state) : impl_(std::move(state)) {}

client::~client() {
    close();
}

void client::close() {
    asio::post(impl_->strand,
               [state = impl_] { state->fail(make_error_code(client_error::closed)); });
}

std::size_t client::in_flight() const noexcept {
    return impl_->in_flight.load(std::memory_order_relaxed);
}

asio::awaitable<boost::system::result<std::shared_ptr<client>>> client::connect(
    asio::any_io_executor executor, endpoint where) {
    auto state = std::make_shared<impl>(executor);
    asio::ip::tcp::resolver resolver(executor);
    std::string port = std::to_string(where.port);
    auto [resolve_ec, results] =
        co_await resolver.async_resolve(where.host, port, asio::as_tuple(asio::use_awaitable));
    if (resolve_ec) {
        co_return resolve_ec;
    }
    auto [connect_ec, connected] =
        co_await asio::async_connect(state->socket, results, asio::as_tuple(asio::use_awaitable));
    if (connect_ec) {
        co_return connect_ec;
    }
    error_code ignored;
    state->socket.set_option(asio::ip::tcp::no_delay(true), ignored);

    std::shared_ptr<client> c(new client(state));
    asio::co_spawn(state->strand, impl::read_loop(state), [](std::exception_ptr e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                spdlog::error("redis: reader stopped: {}", ex.what());
            }
        }
    });

    std::vector<std::vector<std::string>> setup;
    if (!where.password.empty()) {
        if (where.user.empty()) {
            setup.push_back({"AUTH", where.password});
        } else {
            setup.push_back({"AUTH", where.user, where.password});
        }
    }
    if (where.db != 0) {
        setup.push_back({"SELECT", std::to_string(where.db)});
    }
    if (!setup.empty()) {
        auto replies = co_await c->pipeline(std::move(setup));
        if (!replies) {
            co_return replies.error();
        }
        for (const auto& r : *replies) {
            if (r.is_error()) {
                spdlog::error("redis: connection setup refused: {}", r.str);
                co_return make_error_code(client_error::unexpected_reply);
            }
        }
    }
    co_return c;
}

asio::awaitable<boost::system::result<reply>> client::command(std::vector<std::string> args) {
    std::vector<std::vector<std::string>> one;
    one.push_back(std::move(args));
    auto replies = co_await pipeline(std::move(one));
    if (!replies) {
        co_return replies.error();
    }
    co_return std::move(replies->front());
}

asio::awaitable<boost::system::result<std::vector<reply>>> client::pipeline(
    std::vector<std::vector<std::string>> commands) {
    if (commands.empty()) {
        co_return std::vector<reply>{};
    }
    std::string bytes;
    for (const auto& args : commands) {
        auto formatted = format(args);
        if (!formatted) {
            co_return formatted.error();
        }
        bytes += *formatted;
    }
    auto done = std::make_shared<reply_channel>(impl_->strand, 1);
    asio::post(impl_->strand, [state = impl_, bytes = std::move(bytes), n = commands.size(),
                               done]() mutable { state->submit(std::move(bytes), n, done); });
    auto [ec, replies] = co_await done->async_receive(asio::as_tuple(asio::use_awaitable));
    if (ec) {
        co_return ec;
    }
    co_return std::move(replies);
}

}  // namespace harvest::redis
