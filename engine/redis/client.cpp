#include "engine/redis/client.hpp"

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
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
#include <variant>

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
            case client_error::timed_out:
                return "redis did not answer in time";
            case client_error::not_primary:
                return "the server Sentinel named is not a primary (failover in progress)";
            case client_error::no_primary:
                return "no Sentinel named a primary";
            case client_error::cluster_down:
                return "no Redis Cluster node served the slot map, or a slot has no primary";
            case client_error::redirected:
                return "a command was still redirected after several attempts (cluster resharding)";
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

namespace {

// host[:port] of a Sentinel list entry ("[::1]:26379" for IPv6). False when malformed.
bool parse_host_port(std::string_view text, std::uint16_t default_port, server_address& out) {
    std::string_view host = text;
    std::string_view port;
    if (text.starts_with('[')) {
        const auto close = text.find(']');
        if (close == std::string_view::npos) {
            return false;
        }
        host = text.substr(1, close - 1);
        std::string_view rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                return false;
            }
            port = rest.substr(1);
        }
    } else if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    if (host.empty()) {
        return false;
    }
    out.host = std::string(host);
    out.port = default_port;
    if (!port.empty() || text.ends_with(':')) {
        unsigned value = 0;
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) {
            return false;
        }
        out.port = static_cast<std::uint16_t>(value);
    }
    return true;
}

bool parse_db(std::string_view text, unsigned& db) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), db);
    return ec == std::errc{} && end == text.data() + text.size() && !text.empty();
}

// [[user]:password@]host[:port][,host[:port]...]: the credentials into `where`, the hosts into
// `hosts`. Parsed by hand: a comma-separated host list is not a URL authority. False when
// malformed.
bool parse_host_list(std::string_view authority, std::uint16_t default_port, endpoint& where,
                     std::vector<server_address>& hosts) {
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
        std::string_view userinfo = authority.substr(0, at);
        authority = authority.substr(at + 1);
        const auto colon = userinfo.find(':');
        if (colon == std::string_view::npos) {
            return false;
        }
        where.user = std::string(userinfo.substr(0, colon));
        where.password = std::string(userinfo.substr(colon + 1));
    }
    while (!authority.empty()) {
        const auto comma = authority.find(',');
        server_address host;
        if (!parse_host_port(authority.substr(0, comma), default_port, host)) {
            return false;
        }
        hosts.push_back(std::move(host));
        if (comma == std::string_view::npos) {
            break;
        }
        authority.remove_prefix(comma + 1);
        if (authority.empty()) {
            return false;  // a trailing comma
        }
    }
    return !hosts.empty();
}

// redis-sentinel://[[user]:password@]host[:port][,host[:port]...]/master-name[/db].
boost::system::result<endpoint> parse_sentinel_url(std::string_view rest) {
    endpoint where;
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) {
        return make_error_code(client_error::bad_url);  // the master name is required
    }
    std::string_view path = rest.substr(slash + 1);
    if (!parse_host_list(rest.substr(0, slash), 26379, where, where.sentinels)) {
        return make_error_code(client_error::bad_url);
    }
    const auto db_slash = path.find('/');
    where.master_name = std::string(path.substr(0, db_slash));
    if (where.sentinels.empty() || where.master_name.empty()) {
        return make_error_code(client_error::bad_url);
    }
    if (db_slash != std::string_view::npos) {
        std::string_view db = path.substr(db_slash + 1);
        if (!db.empty() && !parse_db(db, where.db)) {
            return make_error_code(client_error::bad_url);
        }
    }
    where.host.clear();
    where.port = 0;
    return where;
}

// redis-cluster://[[user]:password@]host[:port][,host[:port]...][/[0]]: a cluster has db 0 only.
boost::system::result<endpoint> parse_cluster_url(std::string_view rest) {
    endpoint where;
    const auto slash = rest.find('/');
    const std::string_view path =
        slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (!path.empty() && path != "0") {
        return make_error_code(client_error::bad_url);
    }
    if (!parse_host_list(rest.substr(0, slash), 6379, where, where.cluster_nodes)) {
        return make_error_code(client_error::bad_url);
    }
    where.host = where.cluster_nodes.front().host;
    where.port = where.cluster_nodes.front().port;
    return where;
}

}  // namespace

boost::system::result<endpoint> parse_url(std::string_view url) {
    constexpr std::string_view sentinel_scheme = "redis-sentinel://";
    constexpr std::string_view cluster_scheme = "redis-cluster://";
    if (url.starts_with(sentinel_scheme)) {
        return parse_sentinel_url(url.substr(sentinel_scheme.size()));
    }
    if (url.starts_with(cluster_scheme)) {
        return parse_cluster_url(url.substr(cluster_scheme.size()));
    }
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
        if (!parse_db(path, where.db)) {
            return make_error_code(client_error::bad_url);
        }
    }
    return where;
}

// Everything below runs on `strand` except construction and the atomic counter.
struct client::impl : std::enable_shared_from_this<client::impl> {
    impl(asio::any_io_executor executor, std::chrono::milliseconds request_timeout)
        : strand(asio::make_strand(executor)),
          socket(strand),
          watchdog(strand),
          timeout(request_timeout),
          reader(redisReaderCreate()) {}
    ~impl() { redisReaderFree(reader); }
    impl(const impl&) = delete;
    impl& operator=(const impl&) = delete;

    struct waiter {
        std::size_t expected;  // replies that complete this request (1, or a pipeline's size)
        std::vector<reply> replies;
        std::shared_ptr<reply_channel> done;
        std::chrono::steady_clock::time_point deadline;  // with a timeout
    };

    asio::strand<asio::any_io_executor> strand;
    asio::ip::tcp::socket socket;
    // Armed for the oldest request's deadline while requests wait (and `timeout` is set).
    asio::steady_timer watchdog;
    bool watchdog_armed = false;
    std::chrono::milliseconds timeout;
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
        waiting.push_back(
            waiter{expected, {}, std::move(done), std::chrono::steady_clock::now() + timeout});
        in_flight.fetch_add(1, std::memory_order_relaxed);
        start_write();
        arm_watchdog();
    }

    // Replies come in order, so the oldest request is the one to watch: when its deadline passes
    // unanswered, the server is stuck (or the route is) and the connection is given up. A timer
    // that fires after the oldest was answered re-arms for the next one.
    void arm_watchdog() {
        if (watchdog_armed || waiting.empty() || broken || timeout.count() <= 0) {
            return;
        }
        watchdog_armed = true;
        watchdog.expires_at(waiting.front().deadline);
        watchdog.async_wait(asio::bind_executor(strand, [self = shared_from_this()](error_code ec) {
            self->watchdog_armed = false;
            if (ec || self->broken || self->waiting.empty()) {
                return;
            }
            if (std::chrono::steady_clock::now() >= self->waiting.front().deadline) {
                self->fail(make_error_code(client_error::timed_out));
                return;
            }
            self->arm_watchdog();
        }));
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
        watchdog.cancel();
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

namespace {

using connect_result = boost::system::result<std::shared_ptr<client>>;

}  // namespace

// One server at `address`: TCP (bounded by the timeout), then AUTH and SELECT when asked.
asio::awaitable<connect_result> client::connect_to(asio::any_io_executor executor,
                                                   const server_address& address,
                                                   const endpoint& where, bool setup) {
    using namespace boost::asio::experimental::awaitable_operators;
    auto state = std::make_shared<impl>(executor, where.timeout);
    asio::ip::tcp::resolver resolver(executor);
    std::string port = std::to_string(address.port);
    auto [resolve_ec, results] =
        co_await resolver.async_resolve(address.host, port, asio::as_tuple(asio::use_awaitable));
    if (resolve_ec) {
        co_return resolve_ec;
    }
    error_code connect_ec;
    if (where.timeout.count() > 0) {
        // Whichever ends first cancels the other: a blackholed address fails after `timeout`.
        asio::steady_timer timer(executor, where.timeout);
        auto outcome = co_await (
            asio::async_connect(state->socket, results, asio::as_tuple(asio::use_awaitable)) ||
            timer.async_wait(asio::as_tuple(asio::use_awaitable)));
        connect_ec = outcome.index() == 0 ? std::get<0>(std::get<0>(outcome))
                                          : make_error_code(client_error::timed_out);
    } else {
        auto [ec, connected] = co_await asio::async_connect(state->socket, results,
                                                            asio::as_tuple(asio::use_awaitable));
        connect_ec = ec;
    }
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

    std::vector<std::vector<std::string>> commands;
    if (setup && !where.password.empty()) {
        if (where.user.empty()) {
            commands.push_back({"AUTH", where.password});
        } else {
            commands.push_back({"AUTH", where.user, where.password});
        }
    }
    if (setup && where.db != 0) {
        commands.push_back({"SELECT", std::to_string(where.db)});
    }
    if (!commands.empty()) {
        auto replies = co_await c->pipeline(std::move(commands));
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

// Asks the Sentinels, in the order given, where the primary is; connects there and checks with
// ROLE that it is one (a Sentinel may still name the old primary while a failover runs).
asio::awaitable<connect_result> client::connect_through_sentinels(asio::any_io_executor executor,
                                                                  const endpoint& where) {
    error_code last = make_error_code(client_error::no_primary);
    for (const auto& sentinel : where.sentinels) {
        auto asked = co_await connect_to(executor, sentinel, where, /*setup=*/false);
        if (!asked) {
            last = asked.error();
            continue;
        }
        // GCC 12 miscompiles braced lists inside co_await expressions: built beforehand.
        std::vector<std::string> ask{"SENTINEL", "get-master-addr-by-name", where.master_name};
        auto named = co_await (*asked)->command(std::move(ask));
        (*asked)->close();
        if (!named) {
            last = named.error();
            continue;
        }
        if (named->type != reply::kind::array || named->elements.size() != 2) {
            last = make_error_code(client_error::no_primary);  // nil: it does not know the name
            continue;
        }
        server_address primary;
        unsigned port = 0;
        const std::string& port_text = named->elements[1].str;
        auto [end, ec] =
            std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
        if (ec != std::errc{} || port == 0 || port > 65535) {
            last = make_error_code(client_error::unexpected_reply);
            continue;
        }
        primary.host = named->elements[0].str;
        primary.port = static_cast<std::uint16_t>(port);
        auto connected = co_await connect_to(executor, primary, where, /*setup=*/true);
        if (!connected) {
            last = connected.error();
            continue;
        }
        std::vector<std::string> role_command{"ROLE"};
        auto role = co_await (*connected)->command(std::move(role_command));
        if (!role) {
            last = role.error();
            continue;
        }
        if (role->type != reply::kind::array || role->elements.empty() ||
            role->elements[0].str != "master") {
            (*connected)->close();
            last = make_error_code(client_error::not_primary);
            continue;
        }
        co_return *connected;
    }
    co_return last;
}

asio::awaitable<connect_result> client::connect(asio::any_io_executor executor, endpoint where) {
    // Named locals, not temporaries: GCC 12 destroys a temporary of a co_await expression twice.
    if (!where.sentinels.empty()) {
        auto through = co_await connect_through_sentinels(std::move(executor), where);
        co_return through;
    }
    const server_address address{where.host, where.port};
    auto direct = co_await connect_to(std::move(executor), address, where, /*setup=*/true);
    co_return direct;
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
