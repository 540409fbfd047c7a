#include "engine/crawl/permit_wait.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace harvest::crawl {
namespace asio = boost::asio;
using resilience::clock;

asio::awaitable<resilience::admission> wait_for_permit(
    asio::any_io_executor strand, std::function<resilience::admission(clock::time_point)> ask,
    clock::duration recheck, clock::time_point deadline) {
    asio::steady_timer timer(strand);
    for (;;) {
        const auto now = clock::now();
        resilience::admission admitted = ask(now);
        if (admitted.permit) {
            co_return admitted;
        }
        // not_before is max when only an event decides (a free slot, a probe's answer): asked
        // again soon.
        const auto next = admitted.not_before == clock::time_point::max()
                              ? now + recheck
                              : std::max(admitted.not_before, now);
        if (next >= deadline) {
            co_return admitted;
        }
        timer.expires_at(next);
        auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        (void)ec;
    }
}

}  // namespace harvest::crawl
