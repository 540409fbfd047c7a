#pragma once
// The crawl's side of crawl::subrequest_gate (renderer.hpp): what a rendered page's scripts ask
// of the page's own host waits for that host's guard (token bucket and breaker, not a
// concurrency slot: those requests run under the page's) and tells it their answers.
//
// Threading: the guard is the scheduler strand's; every touch of it runs there. admit() may be
// awaited from any executor (the renderer's strand).

#include "engine/crawl/renderer.hpp"
#include "engine/resilience/host_guard.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <map>
#include <memory>

namespace harvest::crawl {

class host_render_gate final : public subrequest_gate,
                               public std::enable_shared_from_this<host_render_gate> {
  public:
    // Tells the guard (and what listens to it: stats, logs) one sub-request's answer; called on
    // `strand`.
    using recorder =
        std::function<void(const resilience::breaker_permit&, const resilience::attempt_outcome&)>;

    // `guard` must live as long as anything runs on `strand` (the crawl's host states do).
    host_render_gate(boost::asio::any_io_executor strand, resilience::host_guard& guard,
                     recorder record);

    boost::asio::awaitable<std::optional<ticket>> admit(
        std::chrono::steady_clock::time_point deadline) override;
    void record(ticket permit, std::optional<unsigned> status) override;
    void cancel(ticket permit) override;

  private:
    static boost::asio::awaitable<std::optional<ticket>> admit_on_strand(
        std::shared_ptr<host_render_gate> self, std::chrono::steady_clock::time_point deadline);

    boost::asio::any_io_executor strand_;
    resilience::host_guard* guard_;
    recorder record_;
    // Strand only: the permits of requests sent and not yet answered.
    std::map<ticket, resilience::breaker_permit> permits_;
    ticket next_ = 1;
};

}  // namespace harvest::crawl
