#include "engine/crawl/render_gate.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

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
    asio::steady_timer timer(self->strand_);
    for (;;) {
        const auto now = steady::now();
        const auto admitted = self->guard_->admit_unslotted(now);
        if (admitted.permit) {
            const auto id = self->next_++;
            self->permits_.emplace(id, *admitted.permit);
            co_return id;
        }
        // not_before is max when only an event decides (a probe's answer): asked again soon.
        const auto next = admitted.not_before == resilience::clock::time_point::max()
                              ? now + recheck
                              : std::max(admitted.not_before, now);
        if (next >= deadline) {
            co_return std::nullopt;  // not before the page has to be done
        }
        timer.expires_at(next);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
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
