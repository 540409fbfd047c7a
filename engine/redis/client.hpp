#pragma once
// A Redis client driven by the engine's Asio executor: hiredis formats the commands
// (redisFormatCommandArgv) and parses the replies (redisReader); Asio owns the socket. No call
// blocks a thread.
//
// Pipelining: any number of commands may be in flight on the one connection. Requests are
// written in the order they were issued and Redis answers in that order, so the replies are
// matched to their callers first-in first-out.
//
// Thread-safety: the connection's state lives on a strand of its own; `command` and `pipeline`
// may be called from any coroutine on any thread and resume it on its own executor.
//
// Failure model: a transport or protocol error breaks the connection; every request in flight
// and every later one fails with that error (no reconnect: the caller decides, e.g. the shared
// frontier reconnects with backoff). A Redis error reply ("-ERR ...") is not a transport error:
// it comes back as a reply of kind `error`.
//
// A server that stops answering without closing the connection (SIGSTOP, a frozen host, a
// dropped route) is caught by `endpoint::timeout`: a request not answered within it breaks the
// connection with client_error::timed_out (replies come in order, so one lost reply leaves the
// stream unusable), and a connection attempt that takes longer fails the same way.
//
// Sentinel: with `endpoint::sentinels` set, `connect` asks each Sentinel in turn for the primary
// of `master_name` and connects there, after checking with ROLE that the server it reached is a
// primary (during a failover Sentinel may still name the old one).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace harvest::redis {

// Errors of the client itself (not Redis error replies).
enum class client_error {
    protocol = 1,      // the server sent bytes hiredis cannot parse
    closed,            // the connection was closed (by `close` or by the server)
    bad_url,           // not redis://[user:password@]host[:port][/db]
    unexpected_reply,  // a reply of another shape than the command's contract
    unreachable,       // reconnecting failed for longer than frontier.redis.give_up_after
    timed_out,         // no reply (or no connection) within endpoint::timeout
    not_primary,       // the server named by Sentinel is a replica (a failover in progress)
    no_primary,        // no Sentinel answered with a primary for endpoint::master_name
    cluster_down,      // no Redis Cluster node answered with a slot map, or a slot has no primary
    redirected,        // a command still redirected (MOVED / ASK) after several attempts
};
const boost::system::error_category& client_category() noexcept;
boost::system::error_code make_error_code(client_error e) noexcept;

// One reply, owned (converted from hiredis's reply tree, which is freed at once).
struct reply {
    enum class kind { string, array, integer, nil, status, error };
    kind type = kind::nil;
    std::string str;              // string, status and error replies
    long long integer = 0;        // integer replies
    std::vector<reply> elements;  // array replies

    bool is_error() const noexcept { return type == kind::error; }
};

struct server_address {
    std::string host;
    std::uint16_t port = 0;
};

// Where a server is and how to talk to it, parsed from
//   redis://[[user]:password@]host[:port][/db]                (default port 6379, db 0)
//   redis-sentinel://[[user]:password@]host[:port][,host[:port]...]/master-name[/db]
//                                                              (default Sentinel port 26379)
//   redis-cluster://[[user]:password@]host[:port][,host[:port]...][/]
//                                                              (default port 6379; db 0 only)
// With Sentinel, the credentials and db are the primary's; the Sentinels are asked without.
// With Cluster, the nodes listed are where the slot map is first asked; the credentials are
// every node's.
struct endpoint {
    std::string host = "127.0.0.1";
    std::uint16_t port = 6379;
    std::string user;
    std::string password;
    unsigned db = 0;
    std::vector<server_address> sentinels;      // non-empty: ask these where the primary is
    std::string master_name;                    // the name the Sentinels monitor it under
    std::vector<server_address> cluster_nodes;  // non-empty: a Redis Cluster (see cluster.hpp)
    // How long one request (or one connection attempt) may wait for its answer; zero = forever.
    std::chrono::milliseconds timeout{0};
};
boost::system::result<endpoint> parse_url(std::string_view url);

class client : public std::enable_shared_from_this<client> {
  public:
    // Connects (through the Sentinels when `where` names them), authenticates when the URL has a
    // password, selects the database.
    static boost::asio::awaitable<boost::system::result<std::shared_ptr<client>>> connect(
        boost::asio::any_io_executor executor, endpoint where);

    ~client();
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    // One command, e.g. {"SET", key, value}. Arguments are binary-safe.
    boost::asio::awaitable<boost::system::result<reply>> command(std::vector<std::string> args);
    // Several commands written together (one write, one round trip); one reply per command, in
    // order.
    boost::asio::awaitable<boost::system::result<std::vector<reply>>> pipeline(
        std::vector<std::vector<std::string>> commands);

    // Closes the connection; requests in flight fail with client_error::closed.
    void close();

    // Requests written and not answered yet (for tests and metrics; read on any thread).
    std::size_t in_flight() const noexcept;

  private:
    struct impl;
    explicit client(std::shared_ptr<impl> state);
    static boost::asio::awaitable<boost::system::result<std::shared_ptr<client>>> connect_to(
        boost::asio::any_io_executor executor, const server_address& address, const endpoint& where,
        bool setup);
    static boost::asio::awaitable<boost::system::result<std::shared_ptr<client>>>
    connect_through_sentinels(boost::asio::any_io_executor executor, const endpoint& where);
    std::shared_ptr<impl> impl_;
};

}  // namespace harvest::redis

template <>
struct boost::system::is_error_code_enum<harvest::redis::client_error> : std::true_type {};
