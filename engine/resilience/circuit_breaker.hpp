#pragma once
// Per-host circuit breaker over a count-based sliding window (circuit_breaker in config.md).
//
//   closed ──(failures/calls >= failure_rate, calls >= min_calls)──► open (for min_open_for)
//   open ──(its duration elapsed, on the next try_acquire)──► half_open
//   half_open ──(half_open_probes probes all succeed)──► closed (window cleared)
//   half_open ──(any probe fails)──► open (for twice the last duration, at most open_for)
//
// Every state change starts a new generation; a permit carries the generation it was granted
// in, and a result recorded with a permit of an earlier generation is ignored (it answers a
// question the breaker no longer asks). Not thread-safe: one host's breaker is touched from one
// place at a time.

#include "engine/resilience/clock.hpp"
#include "engine/resilience/options.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

namespace harvest::resilience {

enum class breaker_state { closed = 0, half_open = 1, open = 2 };

// neutral: the server answered, but the answer says nothing about its health (4xx, 429).
enum class call_outcome { success, failure, neutral };

struct breaker_permit {
    bool probe = false;  // granted while half-open: its result decides the state
    std::uint64_t generation = 0;
};

class circuit_breaker {
  public:
    // window 0 is treated as 1; min_calls above window as window (otherwise it never opens);
    // half_open_probes 0 as 1.
    explicit circuit_breaker(breaker_options options);

    // A permit to send a request now, or nullopt while open (or half-open with every probe
    // slot taken). Moves open → half_open once open_for has elapsed.
    [[nodiscard]] std::optional<breaker_permit> try_acquire(clock::time_point now);

    // The result of a request sent under `permit`. A neutral outcome is not counted in the
    // window; on a probe it counts as success (the server answered).
    void record(const breaker_permit& permit, call_outcome outcome, clock::time_point now);

    // A permit whose request was never completed (cancelled, shut down): frees its probe slot
    // without deciding anything.
    void cancel(const breaker_permit& permit);

    // The state as a gauge shows it: open whose open_for has elapsed reads as half_open.
    [[nodiscard]] breaker_state state(clock::time_point now) const;

    // When open: when half-open begins. Otherwise the last such time (not meaningful).
    clock::time_point next_attempt_at() const { return next_attempt_; }

    // How long the current (or last) opening lasts: min_open_for, doubled per failed probe.
    clock::duration open_duration() const { return open_duration_; }

    // Start of the current unbroken open/half-open period (for give_up_after); nullopt while
    // closed.
    std::optional<clock::time_point> open_since() const { return open_since_; }

    // Half-open probes that failed since open_since(): give_up_after fails a host's waiting
    // requests only once a probe was tried and failed, never on time alone.
    std::uint64_t failed_probes() const { return failed_probes_; }

    // How many times the breaker moved to `to` since construction.
    std::uint64_t transitions_to(breaker_state to) const {
        return transitions_[static_cast<std::size_t>(to)];
    }

    std::uint64_t generation() const { return generation_; }
    // Calls and failures in the window now (closed state).
    unsigned window_calls() const { return calls_; }
    unsigned window_failures() const { return failures_; }

  private:
    void transition(breaker_state to, clock::time_point now);
    void clear_window();

    breaker_options options_;
    unsigned window_;
    unsigned min_calls_;
    unsigned probes_;
    breaker_state state_ = breaker_state::closed;
    std::uint64_t generation_ = 0;
    // Ring of the last `window_` counted outcomes (true = failure).
    std::vector<bool> ring_;
    unsigned next_slot_ = 0;
    unsigned calls_ = 0;
    unsigned failures_ = 0;
    // Half-open bookkeeping.
    unsigned probes_granted_ = 0;
    unsigned probes_succeeded_ = 0;
    clock::time_point next_attempt_{};
    clock::duration open_duration_{};
    std::optional<clock::time_point> open_since_;
    std::uint64_t failed_probes_ = 0;
    std::array<std::uint64_t, 3> transitions_{};
};

}  // namespace harvest::resilience
