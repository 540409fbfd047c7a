#include "engine/crawl/render_gate.hpp"

#include "engine/crawl/permit_wait.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace harvest::crawl {
namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

namespace {
// A wait with no time to it (a half-open breaker whose probes are all out): asked again this
// often until a probe's answer decides.
constexpr auto recheck = std::chrono::milliseconds(25);
}  // namespace

host_render_gate::host_render_gate(asio::any_io_executor strand, resilience::host_guard& guard,
                                   recorder record)
    : strand_(std::move(strand)), guard_(&guard), record_(std::move(record)) {}

asio::awaitable<std::optional<subrequest_gate::ticket>> host_render_gate::admit(
    steady::time_point deadline) {
    auto self = shared_from_this();
    co_return co_await asio::co_spawn(strand_, admit_on_strand(self, deadline),
                                      asio::use_awaitable);
}

asio::awaitable<std::optional<subrequest_gate::ticket>> host_render_gate::admit_on_strand(
    std::shared_ptr<host_render_gate> self, steady::time_point deadline) {
    resilience::host_guard* guard = self->guard_;
    const resilience::admission admitted = co_await wait_for_permit(
        self->strand_, [guard](steady::time_point now) { return guard->admit_unslotted(now); },
        recheck, deadline);
    if (!admitted.permit) {
        co_return std::nullopt;  // not before the page has to be done
    }
    const auto id = self->next_++;
    self->permits_.emplace(id, *admitted.permit);
    co_return id;
}

void host_render_gate::record(ticket permit, std::optional<unsigned> status) {
    asio::post(strand_, [self = shared_from_this(), permit, status] {
        const auto it = self->permits_.find(permit);
        if (it == self->permits_.end()) {
            return;
        }
        resilience::attempt_outcome outcome;
        if (status) {
            outcome.status = status;
        } else {
            // The browser names no cause the crawl's kinds would match; the host did not answer.
            outcome.error = net::fetch_error::reset;
        }
        const auto taken = it->second;
        self->permits_.erase(it);
        self->record_(taken, outcome);
    });
}

void host_render_gate::cancel(ticket permit) {
    asio::post(strand_, [self = shared_from_this(), permit] {
        if (const auto it = self->permits_.find(permit); it != self->permits_.end()) {
            self->guard_->cancel_unslotted(it->second);
            self->permits_.erase(it);
        }
    });
}

}  // namespace harvest::crawl
