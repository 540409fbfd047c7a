#pragma once
// A connected TCP socket whose reads and writes share one deadline, kept lazily: the client's
// stream type under HTTP/1.1, TLS and HTTP/2 once a connection is open (connecting, and a
// proxy's handshake, still use beast::tcp_stream). Internal to the network layer.
//
// beast::tcp_stream starts a timer wait with every read and write and cancels it when the
// operation ends: per request two timer-queue inserts and removals, two cancelled waits run as
// handlers, and a composed operation around each socket operation (2,379 of a JSON crawl's
// 63,432 instructions per request, bench/cost_bench.sh). Here setting a deadline only stores
// it. One timer wait is outstanding at a time; when it fires before the deadline (the deadline
// moved later since, as it does while a response's body comes in) it waits again for the new
// one. A deadline moved earlier than the wait's starts a new wait at once, and a deadline
// cleared cancels the wait, so an idle pooled connection leaves the io_context free to run out
// of work: one wait per request, not two.
//
// When the deadline passes the socket is shut down (::shutdown, not closed: the timer runs on
// the io_context's executor, not on the strand of the fetch that owns the socket, so it touches
// only the descriptor, under a lock the socket's close also takes). The pending operation then
// fails, and every failure after that is reported as beast::error::timeout, as the Beast stream
// reported it: callers map errors the same way for both types.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associator.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/system/error_code.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <utility>

namespace harvest::net::detail {

class timed_socket {
  public:
    using clock = std::chrono::steady_clock;
    using socket_type = boost::asio::ip::tcp::socket;
    using executor_type = socket_type::executor_type;

  private:
    static constexpr clock::rep never_ticks = clock::time_point::max().time_since_epoch().count();

    // Shared with the outstanding timer wait, which may outlive the socket object.
    struct state {
        explicit state(const executor_type& executor) : timer(executor) {}
        std::atomic<clock::rep> deadline{never_ticks};   // written by the socket's user
        std::atomic<bool> waiting{false};                // a timer wait is outstanding
        std::atomic<clock::rep> armed_for{never_ticks};  // when that wait fires
        std::atomic<bool> timed_out{false};
        std::mutex mutex;  // the timer, `fd` and the arming below
        boost::asio::steady_timer timer;
        int fd = -1;              // the descriptor to shut down; -1 once closed or destroyed
        unsigned generation = 0;  // of the current wait: a replaced wait's handler does nothing
    };

  public:
    using lowest_layer_type = socket_type;  // as boost::asio::ssl::stream expects of its layer

    explicit timed_socket(socket_type socket);
    ~timed_socket();
    timed_socket(const timed_socket&) = delete;
    timed_socket& operator=(const timed_socket&) = delete;

    executor_type get_executor() noexcept { return socket_.get_executor(); }
    socket_type& socket() noexcept { return socket_; }
    lowest_layer_type& lowest_layer() noexcept { return socket_; }
    const lowest_layer_type& lowest_layer() const noexcept { return socket_; }

    // Every operation pending or started from now on must end by then, or fails with
    // beast::error::timeout (and the socket with it).
    void expires_after(clock::duration after) { expires_at(clock::now() + after); }
    void expires_at(clock::time_point deadline);
    // No deadline (an outstanding wait is cancelled).
    void expires_never() noexcept;
    // The deadline passed while the socket was in use: it is shut down and of no further use.
    bool timed_out() const noexcept { return state_->timed_out.load(); }

    // Shuts the socket down and closes it; the timer is cancelled.
    void close() noexcept;

    template <class MutableBuffers, class Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, const MutableBuffers& b) {
                socket_.async_read_some(
                    b, timeout_mapped<decltype(handler)>{std::move(handler), state_});
            },
            token, buffers);
    }

    template <class ConstBuffers, class Token>
    auto async_write_some(const ConstBuffers& buffers, Token&& token) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, const ConstBuffers& b) {
                socket_.async_write_some(
                    b, timeout_mapped<decltype(handler)>{std::move(handler), state_});
            },
            token, buffers);
    }

    // What a handler sees: its own executor, allocator and cancellation slot (see the
    // associator below), and beast::error::timeout for any failure once the deadline passed.
    template <class Handler>
    struct timeout_mapped {
        Handler handler;
        std::shared_ptr<const state> keep;  // for timed_out, whatever becomes of the socket

        void operator()(boost::system::error_code ec, std::size_t n) {
            if (ec && keep->timed_out.load()) {
                ec = boost::beast::error::timeout;
            }
            keep.reset();
            std::move(handler)(ec, n);
        }
    };

  private:
    static void arm(const std::shared_ptr<state>& s, clock::rep at);  // under s->mutex
    static void on_timer(const std::shared_ptr<state>& s, unsigned generation);
    static void cancel_wait(state& s);  // under s.mutex

    socket_type socket_;
    std::shared_ptr<state> state_;
};

}  // namespace harvest::net::detail

// A timeout_mapped handler keeps its inner handler's associations: the executor it resumes on
// (a fetch's strand), its allocator and its cancellation slot.
template <template <typename, typename> class Associator, typename Handler,
          typename DefaultCandidate>
struct boost::asio::associator<
    Associator, harvest::net::detail::timed_socket::timeout_mapped<Handler>, DefaultCandidate> {
    using type = typename Associator<Handler, DefaultCandidate>::type;
    static type get(const harvest::net::detail::timed_socket::timeout_mapped<Handler>& h) noexcept {
        return Associator<Handler, DefaultCandidate>::get(h.handler);
    }
    static auto get(const harvest::net::detail::timed_socket::timeout_mapped<Handler>& h,
                    const DefaultCandidate& c) noexcept
        -> decltype(Associator<Handler, DefaultCandidate>::get(h.handler, c)) {
        return Associator<Handler, DefaultCandidate>::get(h.handler, c);
    }
};
