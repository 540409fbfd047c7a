#pragma once
// The Redis side of a distributed crawl: what N `harvest run` workers with the same config
// share. Every operation is one Lua script (EVALSHA, loaded once per connection), so it is
// atomic on the server and costs one round trip whatever its batch size.
//
// Keys, all under `harvest:<crawl name>:` (one Redis database may hold several crawls):
//   q:<host>    LIST   ready requests of one host (opaque payloads, FIFO)
//   hosts       SET    hosts whose queue is not empty
//   seen        SET    dedup fingerprints, 8 bytes each (big-endian 64-bit request fingerprint)
//   inflight    ZSET   lease id -> lease deadline (ms, Redis server clock)
//   leased      HASH   lease id -> "<host>\n<payload>", to re-queue an expired lease
//   rate:<host> STRING GCRA theoretical arrival time (µs, Redis server clock)
//   breaker:<host> STRING present while some worker holds the host's breaker open (PX = open_for)
//   seeding     STRING the worker loading the seeds (PX = lease, renewed while it loads them)
//   seeded      STRING present once the seeds are loaded
//   redelivered STRING count of expired leases handed out again
//   changes     STRING count of the scripts that changed the queues or the leases
//
// Redis Cluster (redis-cluster://): the keys above are split into `cluster_partitions`
// partitions, each under `harvest:{<crawl name>:<k>}:`. The hash tag puts a partition's keys in
// one slot, so every script still touches one slot and stays atomic. A host belongs to
// partition FNV-1a(host) mod cluster_partitions, with its queue, rate, breaker, leases and the
// dedup entries of its URLs: a fingerprint is of a URL, and a URL has one host, so dedup by
// host partition is dedup by fingerprint — and admitting (dedup, then queue) stays one atomic
// script. Operations on every host (requeue, counts, the ready hosts) visit every partition,
// one pipeline per primary. `seeding` lives in partition 0; `seeded` is written to every
// partition, so a failover that lost one shard's writes is seen as lost state.
// With one server (redis://, redis-sentinel://) there is one partition, the layout above.
//
// Reliable queue: `take` moves a request from q:<host> to inflight/leased with a deadline of
// now + lease; `complete` removes it; `requeue_expired` (any worker, periodically) puts requests
// whose lease ran out back at the head of their host's queue. A worker that dies (kill -9)
// therefore loses nothing: its leases come back after `lease`. A worker that is only slow may see
// its request handed out again (at-least-once fetching; the completion of a lease that expired
// is ignored).
//
// Clocks: lease deadlines and the rate limiter read Redis's TIME inside the scripts, so workers
// on machines with skewed clocks still agree.
//
// Idempotency (what makes sending a command again after a lost reply safe): admit dedups by
// fingerprint; complete and renew act on lease ids; requeue and counts act on current state;
// take and claims carry a token, and a take sent again returns the leases the first one made
// (`took:<token>`, kept for `lease`) instead of leasing more.
//
// Failover (Sentinel): replication is asynchronous, so a new primary may lack the old one's last
// writes. Each worker writes in order (a request's links before its completion), so a lost
// completion comes with its links lost too and the request is fetched again; lease ids are
// "<take token>:<n>", never reused, so a lost lease cannot make an id mean another request.
// A store that lost everything (no `seeded` marker) is seen by redis_backend, which loads the
// seeds again.
//
// Cluster-wide termination: the counts of several partitions are read one after the other, not
// as one snapshot. `counts` reads them twice and reports `settled` only when no partition's
// `changes` moved in between: then there was a moment at which every partition held what was
// read.

#include "engine/redis/client.hpp"
#include "engine/redis/cluster.hpp"
#include "engine/resilience/backoff.hpp"
#include "engine/resilience/options.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace harvest::redis {

// Losing Redis mid-crawl (a restart, a failover, a reset connection): every operation below is
// idempotent when sent again with the same arguments (see the scripts), so a command whose
// connection broke is sent again on a new connection, reconnecting with `backoff` until Redis
// answers or `give_up_after` has passed since it was lost (then client_error::unreachable).
struct reconnect_options {
    endpoint where;
    resilience::backoff_options backoff{resilience::backoff_strategy::full_jitter,
                                        std::chrono::milliseconds(100),
                                        std::chrono::milliseconds(2000)};
    std::chrono::milliseconds give_up_after{300000};  // frontier.redis.give_up_after
};

// The connection as metrics see it (harvest_redis_up, harvest_redis_reconnects_total): written
// by the shared frontier, read on any thread.
struct connection_health {
    std::atomic<bool> up{true};  // false from losing Redis until a command went through
    std::atomic<std::uint64_t> reconnects{0};  // connections made again after a loss
};

struct shared_frontier_options {
    std::string crawl_name;                  // the config's `name`: namespaces every key
    std::chrono::milliseconds lease{60000};  // frontier.lease
    // Unset: a broken connection fails every later operation (no reconnect).
    std::optional<reconnect_options> reconnect;
    std::shared_ptr<connection_health> health;  // optional: to read it from elsewhere
};

// A request to admit: `payload` is opaque here (the crawler serializes its request into it).
struct admission {
    std::string host;  // the unit of per-host queues and limits (the crawler's origin)
    std::uint64_t fingerprint = 0;
    bool dedup = true;  // false: queue it even if the fingerprint was seen (e.g. a retry)
    std::string payload;
};

// A fingerprint to mark seen, with the host whose partition holds it.
struct seen_mark {
    std::string host;
    std::uint64_t fingerprint = 0;
};

struct leased_request {
    std::string lease_id;
    std::string payload;
};

// Cluster-wide token bucket of one host, as GCRA: `per_second` requests a second on average,
// up to `burst` at once. per_second <= 0 = unlimited.
struct host_rate {
    double per_second = 0;
    double burst = 1;
};

struct take_result {
    std::vector<leased_request> requests;
    // When the host had queued requests that could not be taken now: how long until the next
    // token or until its shared breaker closes. Zero when the queue is empty (or all was taken).
    std::chrono::microseconds retry_in{0};
    bool breaker_open = false;  // some worker holds this host's breaker open
    // Redis's clock when the script ran (µs since the epoch): when the tokens were granted.
    std::chrono::microseconds server_time{0};
};

struct frontier_counts {
    std::uint64_t queued = 0;     // in every host queue
    std::uint64_t in_flight = 0;  // leased, not completed, lease not yet re-queued
    std::uint64_t seen = 0;       // fingerprints in the dedup set
    std::uint64_t redelivered = 0;
    // False when (Redis Cluster) some partition changed while the partitions were read: zero
    // totals then do not mean an empty frontier. Always true with one server.
    bool settled = true;
};

// Partitions of a crawl on Redis Cluster: enough to spread a crawl over dozens of primaries,
// few enough that visiting every partition stays one cheap pipeline per primary.
constexpr std::size_t cluster_partitions = 64;

class shared_frontier {
  public:
    shared_frontier(std::shared_ptr<connection> link, shared_frontier_options options);
    // On one server.
    shared_frontier(std::shared_ptr<client> single, shared_frontier_options options);

    // SCRIPT LOAD of every script (once; a NOSCRIPT answer later, e.g. after a Redis restart,
    // loads them again transparently).
    boost::asio::awaitable<boost::system::result<void>> load_scripts();

    // Dedup and queue, all in one round trip. One flag per admission: true = queued, false =
    // its fingerprint was already in the shared dedup set.
    boost::asio::awaitable<boost::system::result<std::vector<bool>>> admit(
        std::vector<admission> requests);

    // Leases up to `max` requests of `host`, as many as the shared breaker and the host's
    // cluster-wide rate allow right now.
    boost::asio::awaitable<boost::system::result<take_result>> take(std::string host,
                                                                    std::size_t max,
                                                                    host_rate rate);

    // The leases' requests are done (success or final failure). Returns how many leases were
    // still held: a lease that had expired was handed to someone else and is not touched.
    boost::asio::awaitable<boost::system::result<std::size_t>> complete(
        std::vector<std::string> lease_ids);

    // Moves the deadline of leases still held to now + lease (a live worker keeps its
    // requests however long they wait locally). Returns how many were still held.
    boost::asio::awaitable<boost::system::result<std::size_t>> renew(
        std::vector<std::string> lease_ids);

    // Puts requests whose lease deadline has passed back at the head of their host's queue (at
    // most `limit` per partition and call). Returns how many.
    boost::asio::awaitable<boost::system::result<std::size_t>> requeue_expired(
        std::size_t limit = 1000);

    // One worker's breaker opened: every worker holds the host back for `open_for` (a longer
    // opening already shared is kept). `close_breaker`: a half-open probe succeeded.
    boost::asio::awaitable<boost::system::result<void>> open_breaker(
        std::string host, std::chrono::milliseconds open_for);
    boost::asio::awaitable<boost::system::result<void>> close_breaker(std::string host);

    // Seeds are loaded once per crawl: the worker whose claim wins loads them and then calls
    // `mark_seeded`; the others wait until `seeded` is true before judging the crawl finished.
    // True when `worker` holds the claim after the call. The claim expires after `lease`: the
    // seeding worker calls this again (same name) to renew it while it loads; a worker that finds
    // neither `seeded` nor a live claim wins it and loads the seeds again (dedup makes the
    // seeds already queued harmless). False once the seeds are loaded.
    boost::asio::awaitable<boost::system::result<bool>> claim_seeding(std::string worker);
    boost::asio::awaitable<boost::system::result<void>> mark_seeded();
    // True when every partition holds the `seeded` marker.
    boost::asio::awaitable<boost::system::result<bool>> seeded();
    // Removes the marker everywhere, and the seeding claim (the store lost part of the crawl's
    // state): the next claim_seeding is won and the seeds are loaded again.
    boost::asio::awaitable<boost::system::result<void>> forget_seeded();

    // Adds each fingerprint to the shared dedup set; true for those it did not hold. Idempotent:
    // each call carries a token of its own, and a fingerprint this very call added answers true
    // again when the call is sent again after a lost reply.
    boost::asio::awaitable<boost::system::result<std::vector<bool>>> mark_seen(
        std::vector<seen_mark> marks);

    // Hosts that have queued requests.
    boost::asio::awaitable<boost::system::result<std::vector<std::string>>> ready_hosts();
    boost::asio::awaitable<boost::system::result<frontier_counts>> counts();

    // Where the keys of `host` are (the prefix of its partition).
    const std::string& key_prefix(std::string_view host) const;
    // 1 on one server, cluster_partitions on Redis Cluster.
    std::size_t partitions() const noexcept { return partitions_.size(); }

    // Closes the connection (the crawl is over for this worker).
    void close();
    // Redis answers (false from losing it until a command went through again). Times Redis was
    // reconnected to after a loss.
    bool up() const noexcept { return health_->up.load(std::memory_order_relaxed); }
    std::uint64_t reconnects() const noexcept {
        return health_->reconnects.load(std::memory_order_relaxed);
    }

    // The 8-byte dedup member of a fingerprint (big-endian, so it sorts like the number).
    static std::string fingerprint_bytes(std::uint64_t fingerprint);

  private:
    enum script_id : std::size_t {
        renew_script,
        admit_script,
        take_script,
        complete_script,
        requeue_script,
        breaker_script,
        counts_script,
        seeding_script,
        claim_script,
        script_count
    };

    struct partition {
        std::string prefix;      // harvest:<crawl>: or harvest:{<crawl>:<k>}:
        std::uint16_t slot = 0;  // the hash slot of every key under the prefix (Cluster)
    };
    using script_call = std::pair<std::size_t, std::vector<std::string>>;  // partition, ARGV

    std::size_t partition_of(std::string_view host) const noexcept;
    std::size_t partition_of_lease(std::string_view lease_id) const noexcept;

    // Runs script `id` once per call, each on its partition (ARGV[1] is the partition's prefix,
    // KEYS[1] a key of it, which routes it on Cluster): one pipeline per primary. A node without
    // the scripts (restarted, flushed, or not asked yet) gets them loaded, and the calls it
    // refused are sent again.
    boost::asio::awaitable<boost::system::result<std::vector<reply>>> eval_each(
        script_id id, std::vector<script_call> calls);
    boost::asio::awaitable<boost::system::result<reply>> eval(script_id id, std::size_t partition,
                                                              std::vector<std::string> args);
    // Script `id` on every partition k with `args[k]` (those with `members[k]` not empty), each
    // answering one 0/1 flag per member: the flags put back in the places `members` names, of
    // `count` in all.
    boost::asio::awaitable<boost::system::result<std::vector<bool>>> eval_flags(
        script_id id, std::vector<std::vector<std::size_t>> members,
        std::vector<std::vector<std::string>> args, std::size_t count, const char* what);
    // Script `id` on every partition k whose `args[k]` is not empty; the sum of the integers
    // they answer.
    boost::asio::awaitable<boost::system::result<std::size_t>> eval_sum(
        script_id id, std::vector<std::vector<std::string>> args, const char* what);
    boost::asio::awaitable<boost::system::result<void>> load_scripts_on(std::uint16_t slot);
    // The breaker script for `host`: `open_ms` its shared opening in milliseconds, "0" closes
    // it. `what` names the call in an unexpected reply's error.
    boost::asio::awaitable<boost::system::result<void>> set_breaker(std::string host,
                                                                    std::string open_ms,
                                                                    const char* what);
    // `verb` on the key `key` of every partition, then `trailing` ({"SET", prefix + "seeded",
    // "1"}, ...): one reply per partition.
    boost::asio::awaitable<boost::system::result<std::vector<reply>>> on_every_partition(
        std::string verb, std::string key, std::vector<std::string> trailing);
    // The counts of every partition, one reply each.
    boost::asio::awaitable<boost::system::result<std::vector<reply>>> count_partitions();

    // Sends `commands` (one round trip per server), reconnecting and sending them again while
    // Redis is away (when options_.reconnect is set): only for commands that are idempotent.
    boost::asio::awaitable<boost::system::result<std::vector<reply>>> call(
        std::vector<routed_command> commands);

    std::shared_ptr<connection> link_;  // null while Redis is away
    shared_frontier_options options_;
    std::shared_ptr<connection_health> health_;
    std::vector<partition> partitions_;
    std::array<std::string, script_count> shas_;
    // Names this instance's take and claim calls (worker restarts get a new one): a call sent
    // again after a lost reply is recognized by its token.
    std::string instance_;
    std::uint64_t call_seq_ = 0;
    std::optional<std::chrono::steady_clock::time_point> away_since_;
    boost::system::error_code lost_with_;
    std::mt19937_64 rng_;
};

}  // namespace harvest::redis
