#pragma once

// Harvest's own Prometheus registry (prometheus-cpp is not packaged for Debian 12).
//
// Model (STYLE.md, "metrics declared in one place per module"): a registry owns metric
// families; a family has fixed label names; `family.with({values...})` resolves one series to a
// cell once (taking the family's mutex, allocating on first use only) and returns a reference
// that stays valid as long as the registry lives. The hot path then only touches the cell:
// `counter::inc`, `gauge::set/add`, `histogram::observe` are lock-free, allocation-free and
// noexcept (relaxed atomics: each value is a statistic, not a synchronisation point).
//
// Doubles live in std::atomic<std::uint64_t> as their bit pattern (std::bit_cast); adding to one
// is a compare-exchange loop. Counters additionally shard their integer part over
// `counter_shards` cache-line-padded atomics indexed by a per-thread slot, so threads that count
// the same series do not bounce one cache line between cores.
//
// Duplicate series are impossible by construction: the same label values always give the same
// cell, family names are unique, and names a histogram writes (`_bucket`, `_sum`, `_count`)
// are reserved against other families. Misuse (bad names, wrong number of label values) is a
// programming error and throws std::invalid_argument / std::logic_error at setup time.

#include "engine/metrics/exposition.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace harvest::metrics {

inline constexpr std::size_t counter_shards = 8;
inline constexpr std::size_t cache_line_size = 64;

namespace detail {

// A process-wide round-robin slot per thread, assigned on the thread's first increment.
std::size_t next_thread_slot() noexcept;

inline std::size_t thread_slot() noexcept {
    thread_local const std::size_t slot = next_thread_slot() % counter_shards;
    return slot;
}

// Adds `delta` to a double stored as bits.
inline void atomic_add_double(std::atomic<std::uint64_t>& bits, double delta) noexcept {
    std::uint64_t expected = bits.load(std::memory_order_relaxed);
    while (!bits.compare_exchange_weak(
        expected, std::bit_cast<std::uint64_t>(std::bit_cast<double>(expected) + delta),
        std::memory_order_relaxed, std::memory_order_relaxed)) {
    }
}

// Orders label-value tuples lexicographically; transparent so that a lookup with string_views
// allocates nothing.
struct labels_less {
    using is_transparent = void;

    template <class A, class B>
    bool operator()(const A& a, const B& b) const noexcept {
        return std::lexicographical_compare(
            a.begin(), a.end(), b.begin(), b.end(),
            [](std::string_view x, std::string_view y) { return x < y; });
    }
};

}  // namespace detail

// Monotonic total. `inc` counts events or bytes (exact integers); `add` takes fractional
// amounts such as seconds. Both ignore nothing but what would make the counter go backwards.
class counter {
  public:
    counter() = default;
    counter(const counter&) = delete;
    counter& operator=(const counter&) = delete;

    void inc(std::uint64_t n = 1) noexcept {
        shards_[detail::thread_slot()].value.fetch_add(n, std::memory_order_relaxed);
    }

    // Negative and NaN amounts are dropped: a counter never decreases.
    void add(double amount) noexcept {
        if (amount > 0.0) {
            detail::atomic_add_double(fraction_bits_, amount);
        }
    }

    // Sum of all shards; concurrent increments may or may not be included.
    [[nodiscard]] double value() const noexcept;

  private:
    struct alignas(cache_line_size) shard {
        std::atomic<std::uint64_t> value{0};
    };
    std::array<shard, counter_shards> shards_{};
    alignas(cache_line_size) std::atomic<std::uint64_t> fraction_bits_{0};  // bits of 0.0 are 0
};

// One more on `cell`, when there is one: a crawl without metrics has no cells.
inline void inc(counter* cell) noexcept {
    if (cell != nullptr) {
        cell->inc();
    }
}

// A value that goes up and down. Not sharded: `set` needs one authoritative cell.
class gauge {
  public:
    gauge() = default;
    gauge(const gauge&) = delete;
    gauge& operator=(const gauge&) = delete;

    void set(double v) noexcept {
        bits_.store(std::bit_cast<std::uint64_t>(v), std::memory_order_relaxed);
    }
    void add(double delta) noexcept { detail::atomic_add_double(bits_, delta); }
    void inc(double delta = 1.0) noexcept { add(delta); }
    void dec(double delta = 1.0) noexcept { add(-delta); }

    [[nodiscard]] double value() const noexcept {
        return std::bit_cast<double>(bits_.load(std::memory_order_relaxed));
    }

  private:
    std::atomic<std::uint64_t> bits_{0};
};

// Observations counted into fixed buckets. A value v goes into the first bucket whose upper
// bound b satisfies v <= b (`le` is inclusive); values above every bound, and NaN, go into the
// implicit +Inf bucket. `_count` is the sum of the buckets, so it always equals the +Inf bucket.
class histogram {
  public:
    // `bounds` must outlive the histogram (the family owns them).
    explicit histogram(std::span<const double> bounds);
    histogram(const histogram&) = delete;
    histogram& operator=(const histogram&) = delete;

    void observe(double v) noexcept;

    struct snapshot {
        std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf
        double sum = 0.0;
        std::uint64_t count = 0;
    };
    [[nodiscard]] snapshot collect() const;
    [[nodiscard]] std::span<const double> bounds() const noexcept { return bounds_; }

  private:
    std::span<const double> bounds_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1, not cumulative
    std::atomic<std::uint64_t> sum_bits_{0};
};

// Prometheus client defaults extended to a minute: crawl requests may legitimately take
// until their total timeout.
[[nodiscard]] std::vector<double> default_latency_buckets();
// Backoff delays (Retry-After included) range from tens of milliseconds to minutes.
[[nodiscard]] std::vector<double> default_backoff_buckets();

// What every family has; the registry exposes families through this.
class family {
  public:
    family(const family&) = delete;
    family& operator=(const family&) = delete;
    virtual ~family() = default;

    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    [[nodiscard]] const std::string& help() const noexcept { return help_; }
    [[nodiscard]] metric_type type() const noexcept { return type_; }
    // The family's own label names, without the registry's constant labels.
    [[nodiscard]] const std::vector<std::string>& label_names() const noexcept {
        return label_names_;
    }
    // Number of series (cells and callbacks).
    [[nodiscard]] virtual std::size_t size() const = 0;

    // Writes every series, prefixed by `const_labels`. Writes nothing (no HELP either) if the
    // family has no series yet, as the Go client does.
    virtual void write(text_writer& out, std::span<const label_pair> const_labels) const = 0;

  protected:
    family(std::string name, std::string help, metric_type type,
           std::vector<std::string> label_names);

    // Throws std::invalid_argument unless values.size() == label_names().size().
    void check_arity(std::size_t values) const;

    mutable std::mutex mutex_;  // guards the cell maps of derived classes; never the hot path

  private:
    std::string name_;
    std::string help_;
    metric_type type_;
    std::vector<std::string> label_names_;
};

namespace detail {

using label_key = std::vector<std::string>;

// Either a cell or a scrape-time callback, for one series.
template <class Cell>
struct series_slot {
    std::unique_ptr<Cell> cell;
    std::function<std::optional<double>()> callback;
};

}  // namespace detail

// A counter or gauge family: `Cell` is `counter` or `gauge`.
template <class Cell>
class scalar_family final : public family {
  public:
    using callback_type = std::function<std::optional<double>()>;

    scalar_family(std::string name, std::string help, metric_type type,
                  std::vector<std::string> label_names)
        : family(std::move(name), std::move(help), type, std::move(label_names)) {}

    // The cell for these label values (in label_names() order), created on first use.
    // Throws std::invalid_argument on a wrong number of values, std::logic_error if the values
    // are bound to a callback.
    Cell& with(std::initializer_list<std::string_view> values) {
        return with_values(std::span<const std::string_view>(values.begin(), values.size()));
    }
    Cell& with_values(std::span<const std::string_view> values);

    // A series whose value is computed at scrape time (process metrics, queue sizes). The
    // callback runs on the scraping thread under the family's lock: it must be cheap and must
    // not touch this registry. Returning std::nullopt omits the series from that scrape.
    // Throws std::logic_error if these label values already have a cell or callback.
    void bind(std::initializer_list<std::string_view> values, callback_type callback) {
        bind_values(std::span<const std::string_view>(values.begin(), values.size()),
                    std::move(callback));
    }
    void bind_values(std::span<const std::string_view> values, callback_type callback);

    [[nodiscard]] std::size_t size() const override;
    void write(text_writer& out, std::span<const label_pair> const_labels) const override;

  private:
    std::map<detail::label_key, detail::series_slot<Cell>, detail::labels_less> series_;
};

using counter_family = scalar_family<counter>;
using gauge_family = scalar_family<gauge>;

extern template class scalar_family<counter>;
extern template class scalar_family<gauge>;

class histogram_family final : public family {
  public:
    // `bounds`: strictly increasing finite upper bounds; a trailing +Inf is dropped (it is
    // always implied). Throws std::invalid_argument otherwise.
    histogram_family(std::string name, std::string help, std::vector<std::string> label_names,
                     std::vector<double> bounds);

    histogram& with(std::initializer_list<std::string_view> values) {
        return with_values(std::span<const std::string_view>(values.begin(), values.size()));
    }
    histogram& with_values(std::span<const std::string_view> values);

    [[nodiscard]] std::span<const double> bounds() const noexcept { return bounds_; }
    [[nodiscard]] std::size_t size() const override;
    void write(text_writer& out, std::span<const label_pair> const_labels) const override;

  private:
    std::vector<double> bounds_;
    std::vector<std::string> le_values_;  // bounds_ formatted once, then "+Inf"
    std::map<detail::label_key, std::unique_ptr<histogram>, detail::labels_less> series_;
};

class registry {
  public:
    using const_labels_type = std::vector<std::pair<std::string, std::string>>;

    // `const_labels` go on every series this registry exposes, before the family's own labels
    // (e.g. {{"crawl", "catalog"}}). Throws std::invalid_argument on a bad or repeated name.
    registry() = default;
    registry(std::initializer_list<std::pair<std::string, std::string>> const_labels)
        : registry(const_labels_type(const_labels)) {}
    explicit registry(const_labels_type const_labels);
    registry(const registry&) = delete;
    registry& operator=(const registry&) = delete;

    // Families live as long as the registry; the references stay valid. Throws
    // std::invalid_argument on an invalid or already used name (including names a histogram
    // reserves: `<name>_bucket`, `<name>_sum`, `<name>_count`), on invalid, repeated or
    // constant label names, and on `le` in a histogram's labels.
    counter_family& add_counter(std::string name, std::string help,
                                std::vector<std::string> label_names = {});
    gauge_family& add_gauge(std::string name, std::string help,
                            std::vector<std::string> label_names = {});
    histogram_family& add_histogram(std::string name, std::string help,
                                    std::vector<std::string> label_names,
                                    std::vector<double> bounds = default_latency_buckets());

    // The family called `name`, or nullptr.
    [[nodiscard]] const family* find(std::string_view name) const;
    // Every family, sorted by name.
    [[nodiscard]] std::vector<const family*> families() const;
    [[nodiscard]] const const_labels_type& const_labels() const noexcept { return const_labels_; }
    // The value of a constant label, or nullopt.
    [[nodiscard]] std::optional<std::string_view> const_label(std::string_view name) const;

    // The whole registry in text format 0.0.4 (serve with `content_type`): families sorted by
    // name, series by label values. Safe to call concurrently with everything else.
    [[nodiscard]] std::string expose() const;

  private:
    // Checks names and reserves the family's sample names; caller holds mutex_.
    void reserve_names(const std::string& name, metric_type type,
                       const std::vector<std::string>& label_names);
    template <class Family, class... Args>
    Family& add(Args&&... args);

    mutable std::mutex mutex_;
    const_labels_type const_labels_;
    std::map<std::string, std::unique_ptr<family>, std::less<>> families_;
    std::set<std::string, std::less<>> sample_names_;
};

// Bounds label cardinality: the first `limit` distinct values pass through, every later one
// becomes "other" (metrics.host_label_limit). A value that was admitted stays admitted.
// Thread-safe (a mutex); callers resolve a host once and keep the result, not per request.
class label_limiter {
  public:
    static constexpr std::string_view overflow_value = "other";

    explicit label_limiter(std::size_t limit) : limit_(limit) {}

    // The value to use as the label: `value` itself (a view into the limiter's own copy, valid
    // as long as the limiter) or "other".
    [[nodiscard]] std::string_view admit(std::string_view value);
    [[nodiscard]] std::size_t admitted() const;
    [[nodiscard]] std::size_t limit() const noexcept { return limit_; }

  private:
    std::size_t limit_;
    mutable std::mutex mutex_;
    std::set<std::string, std::less<>> admitted_;
};

}  // namespace harvest::metrics
