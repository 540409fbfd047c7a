#pragma once
// Where items go. Every item goes to every output (docs/config.md `outputs`).
//
// Thread-safety: none needed. The pipeline sink calls an output from its one writer coroutine
// only, so an implementation may keep plain buffers. Outputs may block (file I/O); that is the
// writer's thread, and the bounded queue in front of it turns slowness into backpressure.

#include "engine/core/failure_kind.hpp"
#include "pipelines/item.hpp"
#include "pipelines/rules.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace harvest::pipelines {

class async_output;

class output {
  public:
    virtual ~output();
    // For logs and metrics, e.g. "jsonl:out/items.jsonl".
    virtual std::string_view name() const = 0;
    // Throws std::system_error on an I/O failure; the item may then be partly written.
    virtual void write(const item& value) = 0;
    // Makes everything written so far durable enough for a reader to see. Throws like write().
    virtual void flush() = 0;
    // Flushes and releases the resource. Idempotent; write() after close() is a bug.
    virtual void close() = 0;
    // For append-only files: their length after the last flush(), which the state journal
    // records so a resumed run can cut the file back to what was committed. nullopt for
    // outputs that deduplicate themselves (SQLite upserts).
    virtual std::optional<std::uint64_t> flushed_size() const { return std::nullopt; }
    // Non-null for an output that delivers over the network: the writer then uses its
    // awaitable calls instead of write/flush/close.
    virtual async_output* as_async() noexcept { return nullptr; }
    // True for an output whose record of an item is the item's append_json text and a newline
    // (JSONL). The pipeline sink then renders that text where the page was extracted (a
    // network shard or an extraction thread), and the writer hands over each page's lines at
    // once through write_json_lines instead of calling write() per item.
    virtual bool writes_json_lines() const noexcept { return false; }
    // `lines`: `count` items, each as append_json writes it followed by '\n'. Only called when
    // writes_json_lines() is true (the default throws std::logic_error). Throws like write().
    virtual void write_json_lines(std::string_view lines, std::size_t count);
};

// Items an asynchronous output gave up on, for the error stream (docs/items.md).
struct undelivered_batch {
    std::string output;                                       // output::name()
    std::string url;                                          // where it was sent
    core::failure_kind error = core::failure_kind::internal;  // retries_exhausted, status_4xx, ...
    unsigned attempts = 0;
    std::optional<unsigned> status;                // the last answer's status, if one arrived
    std::optional<core::failure_kind> last_error;  // the last transport error, if any
    std::string idempotency_key;
    boost::json::array items;
};

// An output whose delivery takes time (a webhook). The pipeline sink's writer co_awaits it, so
// a slow receiver stalls the writer, which fills the sink's bounded channel, which suspends the
// fetch coroutines: backpressure up to the crawl, with memory bounded by what the output may
// hold. Every call comes from the writer coroutine, on its strand; an implementation runs its
// own coroutines on that strand too (co_await this_coro::executor), so it needs no lock.
class async_output : public output {
  public:
    async_output* as_async() noexcept final { return this; }
    // The synchronous calls are not used for an async output: they throw std::logic_error.
    void write(const item& value) final;
    void flush() final;
    void close() final;

    // Takes one item; suspends while the output holds as much as it may. `value` is only read
    // before the first suspension.
    virtual boost::asio::awaitable<void> write_async(const item& value) = 0;
    // Sends whatever is held and returns once every item written is settled. Idempotent;
    // write_async after it is a bug.
    virtual boost::asio::awaitable<void> close_async() = 0;
    // How many of the items written so far, counted from the first, are settled: delivered, or
    // given up and handed to the undelivered handler. The writer commits a request to the
    // journal only when every item written before it completed is settled.
    virtual std::uint64_t settled_items() const noexcept = 0;
    // Where given-up items go; called on the writer's strand. Before the first write_async.
    void set_undelivered_handler(std::function<void(undelivered_batch)> handler) {
        on_undelivered_ = std::move(handler);
    }
    // Told how many items a delivery carried (the output's `written` count means delivered, not
    // merely accepted); called on the writer's strand. Before the first write_async.
    void set_delivered_handler(std::function<void(std::uint64_t items)> handler) {
        on_delivered_ = std::move(handler);
    }

  protected:
    std::function<void(undelivered_batch)> on_undelivered_;
    std::function<void(std::uint64_t items)> on_delivered_;
};

std::string_view to_string(output_type type) noexcept;
// The name an output of this spec reports (output::name()), e.g. "jsonl:out/items.jsonl": the
// key of its committed length in the state journal.
std::string output_id(const output_spec& spec);
// Whether make_output can build this type.
bool output_supported(output_type type) noexcept;

// Opens the output `spec` describes (a webhook opens no connection before its first batch).
// Throws std::runtime_error naming the path and the OS reason when it cannot be opened.
std::unique_ptr<output> make_output(const output_spec& spec);

}  // namespace harvest::pipelines
