// The lazily kept deadline of a connected socket. See detail/timed_socket.hpp.

#include "engine/net/detail/timed_socket.hpp"

#include <sys/socket.h>

namespace harvest::net::detail {

timed_socket::timed_socket(socket_type socket)
    : socket_(std::move(socket)), state_(std::make_shared<state>(socket_.get_executor())) {
    state_->fd = socket_.native_handle();
}

timed_socket::~timed_socket() {
    close();
}

void timed_socket::close() noexcept {
    {
        const std::lock_guard lock(state_->mutex);
        state_->fd = -1;  // a wait firing from now on shuts nothing down
        state_->deadline.store(never_ticks);
        cancel_wait(*state_);
    }
    boost::system::error_code ignored;
    socket_.shutdown(socket_type::shutdown_both, ignored);
    socket_.close(ignored);
}

void timed_socket::expires_at(clock::time_point deadline) {
    const clock::rep at = deadline.time_since_epoch().count();
    state_->deadline.store(at);
    // The common case, a kept-alive connection's next request: a wait is outstanding that fires
    // no later than `at`, and finds then that the deadline moved.
    if (state_->waiting.load() && state_->armed_for.load() <= at) {
        return;
    }
    const std::lock_guard lock(state_->mutex);
    if (!state_->waiting.load() || state_->armed_for.load() > at) {
        arm(state_, at);
    }
}

void timed_socket::expires_never() noexcept {
    state_->deadline.store(never_ticks);
    if (!state_->waiting.load()) {
        return;
    }
    // Cancelled, not left to fire: an outstanding wait would keep the io_context from running
    // out of work while the connection sits idle in the pool.
    const std::lock_guard lock(state_->mutex);
    if (state_->deadline.load() == never_ticks && state_->waiting.load()) {
        cancel_wait(*state_);
    }
}

void timed_socket::cancel_wait(state& s) {
    ++s.generation;
    s.waiting.store(false);
    s.armed_for.store(never_ticks);
    s.timer.cancel();
}

void timed_socket::arm(const std::shared_ptr<state>& s, clock::rep at) {
    s->armed_for.store(at);
    s->waiting.store(true);
    const unsigned generation = ++s->generation;
    // Replaces a wait still outstanding; that wait's handler sees a stale generation.
    s->timer.expires_at(clock::time_point(clock::duration(at)));
    s->timer.async_wait([weak = std::weak_ptr<state>(s), generation](boost::system::error_code) {
        if (const auto s = weak.lock()) {
            on_timer(s, generation);
        }
    });
}

void timed_socket::on_timer(const std::shared_ptr<state>& s, unsigned generation) {
    const std::lock_guard lock(s->mutex);
    if (generation != s->generation) {
        return;  // replaced or cancelled since
    }
    s->waiting.store(false);
    // Loaded after `waiting` is cleared: a user who saw the wait outstanding and so did not arm
    // stored the deadline first, and it is seen here (both are sequentially consistent).
    const clock::rep deadline = s->deadline.load();
    if (deadline == never_ticks) {
        return;
    }
    if (clock::now().time_since_epoch().count() < deadline) {
        arm(s, deadline);  // moved later since this wait began
        // A user who cleared the deadline after the load above may have seen no wait
        // outstanding (cleared above) and so left this one to stand: seen here, and cancelled.
        if (s->deadline.load() == never_ticks) {
            cancel_wait(*s);
        }
        return;
    }
    s->timed_out.store(true);
    if (s->fd != -1) {
        // Ends the pending read (end of stream) or write (broken pipe) at once; the handler
        // reports either as the timeout.
        ::shutdown(s->fd, SHUT_RDWR);
    }
}

}  // namespace harvest::net::detail
