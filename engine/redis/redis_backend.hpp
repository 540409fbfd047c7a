#pragma once
// frontier.backend: redis — the crawler's shared_backend on a shared_frontier (DESIGN: the
// scheduler still owns the local frontier; this only feeds it and reports back).
//
// One coroutine on the scheduler strand does all the Redis I/O, in batches: it connects, loads
// the seeds if this worker wins the claim, then loops: flush buffered admissions, completions
// and breaker openings (in that order, so no worker can see the crawl as finished while a link
// is on its way), re-queue expired leases, renew this worker's own leases (a live worker never
// loses its requests to a lease, a killed one does after `lease`), lease more for the hosts
// with queued work when the local frontier runs low, and check whether the whole cluster is
// done.
//
// Losing Redis mid-crawl (a restart, a reset connection): the shared frontier reconnects with
// backoff and sends again what was in flight (every script is idempotent); meanwhile this worker
// finishes what it leased and holds its completions and links (beyond buffer_limit it leases
// nothing: backpressure), flushed when Redis is back. After frontier.redis.give_up_after it
// stops (failed() is true) with its state in Redis intact: its leases come back after `lease`.
// A Redis unreachable at start fails at once.
//
// A Redis that freezes (SIGSTOP) is caught by frontier.redis.command_timeout and handled as lost.
// With redis-sentinel:// the primary is asked of Sentinel at every (re)connection, so a failover
// is followed; a primary demoted to replica (READONLY) is left for the new one.
//
// With redis-cluster:// the frontier is split into hash-tagged partitions (shared_frontier.hpp).
//
// Not supported yet with this backend: --resume (the shared frontier is the crawl's state), the
// idempotency key of POST seeds (seeds are queued before the crawler sees them).

#include "engine/crawl/seeds.hpp"
#include "engine/crawl/shared_backend.hpp"
#include "engine/redis/options.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <memory>
#include <span>

namespace harvest::redis {

class redis_backend : public crawl::shared_backend,
                      public std::enable_shared_from_this<redis_backend> {
  public:
    // `seeds` are loaded into the shared frontier by the first worker of the crawl only.
    redis_backend(backend_options options, crawl::seed_stream seeds);
    ~redis_backend() override;

    void start(boost::asio::any_io_executor strand, local_view local) override;
    bool admit(crawl::crawl_request request) override;
    void complete(const crawl::crawl_request& request) override;
    void complete_when_written(const crawl::crawl_request& request) override;
    // The sink wrote (and flushed) the items or failure lines of these requests: complete
    // those waiting for it. Any thread; after start().
    void written(std::span<const std::uint64_t> fingerprints);
    void breaker_opened(const std::string& origin, std::chrono::milliseconds open_for) override;
    void breaker_closed(const std::string& origin) override;
    void claim(const std::string& origin, std::uint64_t fingerprint,
               std::function<void(bool fresh)> answer) override;
    void robots_ready(const std::string& origin, double per_second, double burst) override;
    bool finished() const override;
    void close() override;

    // Redis could not be reached or failed mid-crawl (logged): the worker's crawl is incomplete.
    bool failed() const noexcept;
    // This worker loaded the crawl's seeds.
    bool seeded_here() const noexcept;

    // For metrics, on any thread: Redis answers now; connections made again after a loss;
    // discovered links and completions held for Redis (not written to it yet).
    bool redis_up() const noexcept;
    std::uint64_t redis_reconnects() const noexcept;
    std::size_t buffered_links() const noexcept;
    std::size_t buffered_completions() const noexcept;

  private:
    struct state;
    static boost::asio::awaitable<void> run(std::shared_ptr<state> s);
    static boost::asio::awaitable<bool> connect_and_seed(std::shared_ptr<state> s);
    static boost::asio::awaitable<bool> load_seeds(std::shared_ptr<state> s);
    static boost::asio::awaitable<bool> watch_seeding(std::shared_ptr<state> s);
    static boost::asio::awaitable<bool> flush(std::shared_ptr<state> s);
    static boost::asio::awaitable<bool> maintain(std::shared_ptr<state> s);
    static boost::asio::awaitable<bool> lease_more(std::shared_ptr<state> s,
                                                   std::chrono::microseconds* retry_in);
    static boost::asio::awaitable<bool> check_finished(std::shared_ptr<state> s);

    std::shared_ptr<state> state_;
};

// The default worker name: hostname-pid.
std::string default_worker_name();

}  // namespace harvest::redis
