#pragma once
// The network shards of a crawl (`engine.network_threads` > 1): one io_context per network
// thread, each run by that thread alone. Shard 0 is the crawl's own io_context (the scheduler,
// the outputs' writer, the metrics endpoint); this class owns and runs the others. Each host is
// given one shard when its first fetch starts (in turn, so hosts spread evenly), and its fetches,
// its robots.txt and its connections live there: a shard's handlers are serialized by its
// thread, so a fetch needs no strand and takes no lock, and a fetch's socket is registered with
// the loop its coroutine runs on. What crosses shards is explicit: a fetch's outcome is posted
// to the scheduler on shard 0, a page goes to the sink's channel.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <memory>
#include <thread>
#include <vector>

namespace harvest::crawl {

class network_shards {
  public:
    // Starts `extra` io_contexts with a thread each (0: none, the crawl has one shard).
    explicit network_shards(unsigned extra);
    // stop_and_join().
    ~network_shards();
    network_shards(const network_shards&) = delete;
    network_shards& operator=(const network_shards&) = delete;

    // The executors of the shards this class runs (shard 1, 2, ...).
    std::vector<boost::asio::any_io_executor> executors() const;

    // Stops every shard's loop (what is still queued there is destroyed with it, later) and
    // waits for its thread. Idempotent; never from a shard's own thread.
    void stop_and_join() noexcept;

  private:
    struct shard {
        boost::asio::io_context io{1};
        boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{
            io.get_executor()};
        std::thread thread;
    };
    std::vector<std::unique_ptr<shard>> shards_;
};

}  // namespace harvest::crawl
