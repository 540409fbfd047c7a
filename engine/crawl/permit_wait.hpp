#pragma once
// Waiting on the strand for a permit of a host's guard, until a deadline: the one loop behind a
// `login:` request's admission (crawl sessions) and a rendered page's own requests
// (render_gate). The guard says when to ask again; waiting costs a timer, not a slot.
//
// Threading: `ask` touches the guard, which is the scheduler strand's: the coroutine runs on
// `strand` and sleeps on a timer of it.

#include "engine/resilience/host_guard.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <functional>

namespace harvest::crawl {

// Asks `ask(now)` until it grants a permit. Each refusal sleeps until the time the guard names
// (a token, a half-open breaker) or, when it waits for an event (a free slot, a probe's end),
// `recheck`; none past `deadline`. Returns the admission with its permit, or the last refusal
// (no permit; its `why` says what was waited for) once the next try would be at or past
// `deadline`.
boost::asio::awaitable<resilience::admission> wait_for_permit(
    boost::asio::any_io_executor strand,
    std::function<resilience::admission(resilience::clock::time_point)> ask,
    resilience::clock::duration recheck, resilience::clock::time_point deadline);

}  // namespace harvest::crawl
