#pragma once
// The crawl's scheduler (DESIGN.md: frontier → scheduler → fetcher). On the crawl strand it
// admits requests into the frontier (dedup, engine.max_requests, idempotency keys), streams
// the seeds in, takes what the hosts' guards let go and spawns a fetch attempt for it
// (fetch_attempt.hpp) or a robots.txt fetch (robots_fetch.hpp), and does the bookkeeping of
// each completion: the guard, a retry, the links and sitemap entries, a redirect's final URL
// claimed before its page is emitted, a session's retirement. It ends the crawl when nothing
// is left (or after stop() and the drain of what was in flight).
//
// Threading: everything here runs on context->strand; the attempts it spawns run on strands
// of their own and post their completion back. Every coroutine holds the scheduler, which
// holds the crawl's context and sessions.

#include "engine/crawl/crawl_context.hpp"
#include "engine/crawl/fetch_attempt.hpp"
#include "engine/crawl/host_gauges.hpp"
#include "engine/crawl/seeds.hpp"
#include "engine/crawl/sessions.hpp"

#include <boost/asio/awaitable.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

namespace harvest::crawl {

class scheduler : public std::enable_shared_from_this<scheduler> {
  public:
    scheduler(std::shared_ptr<crawl_context> context, std::shared_ptr<session_keeper> sessions,
              seed_stream seeds);

    // Before schedule(): how many requests a previous run admitted (--resume), counted
    // against engine.max_requests.
    void restore_admitted(std::uint64_t admitted) noexcept { admitted_ = admitted; }

    // Runs on the strand until every request has completed, or until stop and the drain of
    // what was in flight; then closes the shared frontier, the sink and the journal.
    boost::asio::awaitable<void> schedule();

  private:
    void publish_client_stats();
    bool request_limit_reached() const noexcept;
    bool seeds_done() const noexcept;
    void admit(crawl_request&& request, clock::time_point now);
    void refill_seeds(clock::time_point now);
    bool publish_gauges(clock::time_point now, bool force = false);
    void start_attempt(const std::shared_ptr<scheduler>& self, taken_request&& taken);
    static boost::asio::awaitable<void> fetch_robots(std::shared_ptr<scheduler> self,
                                                     host_state* host);
    void claim_redirect(completion done);
    void deliver_claimed(completion done, bool fresh);
    static boost::asio::awaitable<void> deliver_redirected(std::shared_ptr<scheduler> self,
                                                           fetched_page page, completion done);
    void complete(completion&& done);

    static constexpr auto gauge_interval = std::chrono::milliseconds(100);

    // Strand only, all of them.
    std::shared_ptr<crawl_context> context_;
    std::shared_ptr<session_keeper> sessions_;
    seed_stream seeds_;
    host_gauges gauges_;
    clock::time_point last_publish_{};
    std::array<metrics::counter*, 5> net_cells_{};
    std::array<std::uint64_t, 5> net_published_{};
    metrics::gauge* h2_streams_ = nullptr;
    std::size_t in_flight_ = 0;
    std::size_t robots_in_flight_ = 0;
    std::uint64_t admitted_ = 0;
    std::vector<failure_record> pending_failures_;  // failed on the strand, to hand to the sink
    std::uint32_t next_seed_session_ = 0;
};

}  // namespace harvest::crawl
