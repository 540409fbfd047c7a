#pragma once
// Redis Cluster, and the one connection type the shared frontier talks through.
//
// A Redis Cluster splits its keys into 16,384 hash slots (CRC16 of the key, or of the part in
// {braces}: the hash tag), each served by one primary. `cluster` keeps the slot map (CLUSTER
// SLOTS, asked of any node that answers: the ones in the URL first, then those it learned) and
// one `client` per primary, opened when first needed. Every command carries the slot it is for;
// a pipeline is split per primary (one round trip each) and the replies put back in order.
//
// Redirections: MOVED (the slot lives elsewhere now: a resharding) points the slot at the node
// named and sends the command again; ASK (the slot is being migrated and this key has moved
// already) sends ASKING and the command to the node named, once. A command still
// redirected after `max_redirects` attempts fails with client_error::redirected.
//
// Failure model, as `client`'s: a broken connection to any node fails the pipeline with its
// error and closes that node's connection; the caller (the shared frontier) backs off and opens
// a new `cluster`, which reads the slot map again, so a failover (a replica promoted) is
// followed. CLUSTERDOWN and TRYAGAIN are error replies, left to the caller.

#include "engine/redis/client.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace harvest::redis {

constexpr std::uint16_t cluster_slots = 16384;

// The hash slot of `key`: CRC16-XMODEM of the key's hash tag (the text between the first '{'
// and the next '}', when not empty) or of the whole key, modulo 16,384.
std::uint16_t key_slot(std::string_view key) noexcept;

// A command and the hash slot it must run on (ignored on a single server).
struct routed_command {
    std::vector<std::string> args;
    std::uint16_t slot = 0;
};

class cluster {
  public:
    static constexpr int max_redirects = 5;

    // Asks the nodes of `where.cluster_nodes` in turn for the slot map; fails with the last
    // node's error (or cluster_down) when none gives one.
    static boost::asio::awaitable<boost::system::result<std::shared_ptr<cluster>>> connect(
        boost::asio::any_io_executor executor, endpoint where);

    // One reply per command, in order, each from the primary serving its slot.
    boost::asio::awaitable<boost::system::result<std::vector<reply>>> pipeline(
        std::vector<routed_command> commands);

    void close();

    // The primaries of the slot map, "host:port" (for tests and logs).
    std::vector<std::string> primaries() const;

  private:
    explicit cluster(boost::asio::any_io_executor executor, endpoint where);
    boost::asio::awaitable<boost::system::error_code> refresh();
    // MOVED: `slot` is served by `primary` from now on.
    void assign(std::uint16_t slot, const server_address& primary);
    boost::asio::awaitable<boost::system::result<std::shared_ptr<client>>> node(
        const server_address& address);

    static std::string name_of(const server_address& address);

    boost::asio::any_io_executor executor_;
    endpoint where_;                     // credentials and timeout for every node
    std::vector<server_address> known_;  // asked for the slot map: the URL's nodes, then learned
    std::vector<server_address> primaries_;
    std::array<std::uint16_t, cluster_slots> owner_{};  // index into primaries_, or no_owner
    std::map<std::string, std::shared_ptr<client>> connections_;  // by "host:port"
    bool closed_ = false;
};

// What the shared frontier sends through: one server (direct, or the primary Sentinel names) or
// a Redis Cluster. Opened from an endpoint; the slots of the commands matter only for Cluster.
class connection {
  public:
    static boost::asio::awaitable<boost::system::result<std::shared_ptr<connection>>> open(
        boost::asio::any_io_executor executor, endpoint where);
    // An open connection to one server.
    static std::shared_ptr<connection> wrap(std::shared_ptr<client> single);

    bool clustered() const noexcept { return cluster_ != nullptr; }

    boost::asio::awaitable<boost::system::result<std::vector<reply>>> pipeline(
        std::vector<routed_command> commands);
    void close();

  private:
    std::shared_ptr<client> single_;
    std::shared_ptr<cluster> cluster_;
};

}  // namespace harvest::redis
