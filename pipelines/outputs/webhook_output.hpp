#pragma once
// The webhook output (docs/config.md `type: webhook`): items are POSTed in batches as
// JSON, {"items": [item, ...]}, with Content-Type application/json and a header
// retry.idempotency_header (Idempotency-Key) that names the batch and is the same on every
// retry of it. Delivery goes through the engine's own client and resilience
// (net::resilient_sender: the receiver's token bucket and breaker, retries with backoff and
// Retry-After, bounded attempts). A batch is sent when it holds `batch` items, or `batch_wait`
// after its first item, or on close. At most `in_flight` batches are being delivered at once;
// write_async suspends beyond that, which is the backpressure on the crawl. A batch given up
// goes, with its items, to the undelivered handler (the sink's error stream).
//
// Memory: at most (in_flight + 1) batches are held. Thread-safety: async_output's (the
// writer's strand only).

#include "pipelines/outputs/output.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace harvest::pipelines {

// One POST's worth of items.
struct webhook_batch {
    std::string idempotency_key;   // "<run id>-<sequence>": unique per batch and run
    std::uint64_t first_item = 0;  // index of its first item among all items written
    std::size_t items = 0;
    std::string body;  // {"items":[...]}
};

// Cuts the item stream into batches. Pure: no I/O, no clock.
class webhook_batcher {
  public:
    // batch_size 0 is taken as 1. key_prefix: the run id of every key.
    webhook_batcher(std::size_t batch_size, std::string key_prefix);

    // Appends `value` (serialized now). Returns the batch this item completed, if it did.
    std::optional<webhook_batch> add(const item& value);
    // The partial batch, if it holds any item; the next item starts a new one.
    std::optional<webhook_batch> take();

    bool empty() const noexcept { return current_items_ == 0; }
    std::uint64_t items_added() const noexcept { return next_item_; }

  private:
    webhook_batch seal();

    std::size_t batch_size_;
    std::string key_prefix_;
    std::uint64_t next_batch_ = 0;
    std::uint64_t next_item_ = 0;
    std::size_t current_items_ = 0;
    std::string body_;
    std::string scratch_;  // one item's JSON, appended to body_ only when complete
};

// Which items are settled when batches settle out of order: the count of the longest settled
// prefix of the item sequence.
class settled_prefix {
  public:
    void settle(std::uint64_t first_item, std::uint64_t count);
    std::uint64_t value() const noexcept { return prefix_; }

  private:
    std::uint64_t prefix_ = 0;
    std::map<std::uint64_t, std::uint64_t> ahead_;  // first item -> end, past the prefix
};

// Figures of one webhook output; read from any thread.
struct webhook_counters {
    std::atomic<std::uint64_t> batches_delivered{0};
    std::atomic<std::uint64_t> batches_given_up{0};
    std::atomic<std::uint64_t> items_delivered{0};
    std::atomic<std::uint64_t> items_given_up{0};
    std::atomic<std::uint64_t> attempts{0};  // POSTs sent, retries included
};

namespace detail {
struct webhook_state;
}  // namespace detail

class webhook_output final : public async_output {
  public:
    // spec.url: an absolute http(s) URL (the config loader checked it). Opens nothing yet.
    explicit webhook_output(output_spec spec);
    ~webhook_output() override;
    webhook_output(const webhook_output&) = delete;
    webhook_output& operator=(const webhook_output&) = delete;

    std::string_view name() const override { return name_; }
    boost::asio::awaitable<void> write_async(const item& value) override;
    boost::asio::awaitable<void> close_async() override;
    std::uint64_t settled_items() const noexcept override;

    const webhook_counters& counters() const noexcept;

  private:
    std::string name_;
    // Shared with the delivery coroutines, which may outlive a call into this object.
    std::shared_ptr<detail::webhook_state> state_;
};

}  // namespace harvest::pipelines
