#pragma once
// A real redis-server for tests: started on a free loopback port with its files in a fresh
// temporary folder (no persistence unless asked: redis_server_options), ready when the constructor
// returns, stopped by pid (and its folder removed) on destruction. POSIX only, no Asio, so both the
// unit and the integration test binaries can use it.
//
// Throws std::runtime_error when redis-server cannot be started: a broken test environment is a
// failed test, not a skipped one.

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace harvest::test {

struct redis_server_options {
    bool append_only = false;  // --appendonly yes (fsync everysec): what survives a restart
    int replica_of = 0;        // a port on 127.0.0.1: start as its replica (--replicaof)
    // Non-empty: run as a Sentinel (redis-server CONFIG --sentinel) monitoring the primary
    // 127.0.0.1:`sentinel_primary` under this name, quorum 1, down after 1 s, so that a lone
    // Sentinel fails over a killed primary within a few seconds.
    std::string sentinel_of;
    int sentinel_primary = 0;
    // A Redis Cluster node (cluster-enabled, node timeout 2 s, its bus on a free port of its
    // own); redis_cluster joins several into a cluster.
    bool cluster_node = false;

    // The usual shapes (no designated initializers: they warn on the members left out).
    static redis_server_options persistent() {
        redis_server_options o;
        o.append_only = true;
        return o;
    }
    static redis_server_options replica(int primary_port) {
        redis_server_options o;
        o.replica_of = primary_port;
        return o;
    }
    static redis_server_options node_of_cluster() {
        redis_server_options o;
        o.cluster_node = true;
        return o;
    }
    static redis_server_options sentinel(std::string name, int primary_port) {
        redis_server_options o;
        o.sentinel_of = std::move(name);
        o.sentinel_primary = primary_port;
        return o;
    }
};

class redis_server {
  public:
    redis_server() : redis_server(redis_server_options{}) {}
    explicit redis_server(redis_server_options options);
    ~redis_server();
    redis_server(const redis_server&) = delete;
    redis_server& operator=(const redis_server&) = delete;

    int port() const { return port_; }
    bool running() const { return pid_ > 0; }
    std::string url() const;  // redis://127.0.0.1:PORT/0
    const std::filesystem::path& dir() const { return dir_; }
    // Runs redis-cli against this server and returns its stdout (for test setup and checks).
    std::string cli(const std::string& arguments) const;
    // SIGTERM (redis-server writes its AOF and exits), SIGKILL after 5 s.
    void stop();
    // SIGKILL: a crash, nothing written.
    void kill();
    // SIGSTOP / SIGCONT: a frozen server whose connections stay open.
    void pause();
    void resume();
    // Starts redis-server again on the same port and folder (with append_only, it reloads its
    // AOF), ready when this returns. Throws when it cannot (e.g. the port was taken meanwhile).
    void start_again();

  private:
    bool try_start();
    bool start_on_port();

    redis_server_options options_;
    std::filesystem::path dir_;
    int port_ = 0;
    int bus_port_ = 0;  // cluster nodes: the cluster bus
    int pid_ = -1;
};

// A Redis Cluster on loopback: `primaries` primaries with `replicas_each` replicas each, joined
// with `redis-cli --cluster create` (slots spread evenly over the primaries), ready (every node
// says cluster_state:ok) when the constructor returns. Throws when it cannot be made.
class redis_cluster {
  public:
    explicit redis_cluster(int primaries = 3, int replicas_each = 1);

    // redis-cluster://127.0.0.1:P1,127.0.0.1:P2,... (every node).
    std::string url() const;
    std::vector<std::unique_ptr<redis_server>>& nodes() { return nodes_; }
    // The node serving `slot` now (asked of CLUSTER SLOTS); null when none does.
    redis_server* primary_of(int slot);
    // Waits until every running node says cluster_state:ok (after a failover, say); false after
    // `seconds`.
    bool wait_ok(int seconds);

  private:
    std::vector<std::unique_ptr<redis_server>> nodes_;
};

}  // namespace harvest::test
