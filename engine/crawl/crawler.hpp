#pragma once
// The crawl: seeds → frontier → scheduler → fetcher → classifier → sink (DESIGN.md).
//
// Executor model: the scheduler runs on one strand of the runner's io_context and alone owns
// the frontier and every per-host policy (queues, buckets, breakers, budgets); each fetch runs
// as its own coroutine and posts its outcome back to the scheduler strand. So per-host limits
// hold globally without locks. When one thread runs the io_context
// (options.engine.single_thread_io) the strands are that thread's executor itself: no lock, no
// allocation. With options.engine.network_shards > 1 the crawler runs that many network shards
// (network_shards.hpp), the runner's io_context the first: each host's fetches run on its shard,
// with no strand either. A runner that runs one io_context on several threads without shards
// gets a strand per fetch. The engine's other threads are the sink's
// (pipelines/pipeline_sink.hpp: costly extraction goes there).

#include "engine/crawl/journal.hpp"
#include "engine/crawl/options.hpp"
#include "engine/crawl/seeds.hpp"
#include "engine/crawl/sink.hpp"
#include "engine/crawl/stats.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <memory>

namespace harvest::metrics {
struct crawl_metrics;
}

namespace harvest::crawl {

class shared_backend;
class page_renderer;

class crawler {
  public:
    // `metrics` may be null (no metrics); it must outlive the crawler.
    crawler(boost::asio::io_context& io, crawl_options options, std::shared_ptr<sink> out,
            seed_stream seeds, metrics::crawl_metrics* metrics = nullptr, journal* log = nullptr);

    // Resume (before run()): what the journal says a previous run admitted and left pending.
    void restore(journal_state recovered);
    // Distributed crawl (before run()): new requests go to `backend`, which leases them back;
    // the local frontier stops deduplicating (the backend does it cluster-wide).
    void set_shared_backend(std::shared_ptr<shared_backend> backend);
    // Rendering (before run()): pages matching options.render_rules go through `renderer`
    // after they were fetched and before the sink reads them. Without one, nothing is rendered.
    void set_renderer(std::shared_ptr<page_renderer> renderer);
    ~crawler();
    crawler(const crawler&) = delete;
    crawler& operator=(const crawler&) = delete;

    // Runs the crawl until every request has completed, or until `stop()` and the drain of
    // what was in flight. Closes the sink before returning.
    boost::asio::awaitable<void> run();

    // Thread-safe: no new requests are sent; in-flight ones finish (bounded by `total`).
    void stop();
    bool stopped() const noexcept;

    // `proxies_file` read again (SIGHUP in `harvest run`), from any thread: new proxies join,
    // removed ones get no new requests (in-flight ones finish), kept ones keep their health.
    // A file that cannot be read, a malformed line (logged at its file:line:col) or an empty
    // list keeps the proxies in use; so does a crawl without proxies_file or that started
    // without proxies. False when nothing changed.
    bool reload_proxies();

    const crawl_stats& stats() const noexcept;

  private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

// The default User-Agent: "harvest/VERSION".
std::string default_user_agent();

}  // namespace harvest::crawl
