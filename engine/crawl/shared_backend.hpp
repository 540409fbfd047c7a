#pragma once
// The crawler's side of a frontier shared by several workers (frontier.backend: redis).
//
// With a shared backend, the crawler's own frontier becomes a local stage: new requests (links,
// sitemap entries) go to the shared frontier, which deduplicates them cluster-wide; the backend
// leases requests back, within the cluster-wide per-host rate and breaker, and delivers them
// into the local frontier, where the usual scheduler sends them. A request that ends for good
// (success or final failure) is completed in the shared frontier; one left unfinished (a worker
// stopped or killed) is handed out again when its lease expires.
//
// Threading: every method is called on the scheduler strand and never suspends; the backend does
// its I/O in coroutines of its own on that same strand (started by `start`).

#include "engine/crawl/request.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace harvest::crawl {

class shared_backend {
  public:
    virtual ~shared_backend() = default;

    struct local_view {
        // Requests queued locally (ready + delayed): the backend leases more while this is low.
        std::function<std::size_t()> queued;
        // Leased requests for the local frontier; also called with none just to wake the
        // scheduler (e.g. when the crawl became finished).
        std::function<void(std::vector<crawl_request>)> deliver;
    };
    // `strand` is the scheduler's strand.
    virtual void start(boost::asio::any_io_executor strand, local_view local) = 0;

    // A new logical request. False when its URL cannot be parsed (the crawler fails it).
    virtual bool admit(crawl_request request) = 0;
    // A delivered request ended for good (success, final failure, refused by robots.txt, ...).
    virtual void complete(const crawl_request& request) = 0;
    // As complete, for a request whose page or failure went to the sink: the backend completes
    // it only once its items are written (written()), so a worker killed with items still
    // queued or buffered leaves the lease to expire and the request is fetched again.
    virtual void complete_when_written(const crawl_request& request) { complete(request); }
    // This worker's breaker for `origin` opened: hold every worker back for `open_for`.
    virtual void breaker_opened(const std::string& origin, std::chrono::milliseconds open_for) = 0;
    // This worker's half-open probes of `origin` succeeded: release every worker's hold on it.
    virtual void breaker_closed(const std::string& /*origin*/) {}
    // This worker read robots.txt of `origin` (engine.robots_txt: obey): the host's rate from
    // now on is `per_second` with `burst` (rate_limit's, or slower and with a burst of one when
    // robots.txt asks for a Crawl-delay; 0 = unlimited). Until a worker knows it, it leases one
    // request of the host at a time, so a Crawl-delay holds for the cluster from the start.
    virtual void robots_ready(const std::string& /*origin*/, double /*per_second*/,
                              double /*burst*/) {}
    // A redirect ended at the request `fingerprint` (of a URL of `origin`): mark it seen
    // cluster-wide and answer, on the scheduler strand, whether it was new (the redirected page
    // is then emitted) or some worker has it already (the page is its own request's to emit). A
    // backend that cannot tell answers true: at least once.
    virtual void claim(const std::string& /*origin*/, std::uint64_t /*fingerprint*/,
                       std::function<void(bool fresh)> answer) {
        answer(true);
    }
    // Nothing queued or leased anywhere in the cluster, and the seeds are loaded.
    virtual bool finished() const = 0;
    // The crawl is over for this worker: flush what is buffered and stop leasing.
    virtual void close() = 0;
};

}  // namespace harvest::crawl
