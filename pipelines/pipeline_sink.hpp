#pragma once
// The crawl's sink: extracts items from each fetched page and streams them, through one
// bounded channel, to one writer coroutine that writes every item to every output; failures
// take the same channel to the error stream (so both keep their arrival order).
//
//   fetch coroutines (network threads)        writer coroutine (own strand)
//   on_success: extract on the calling    ──►  [channel: at most queue_items   ──► outputs
//   thread, or on the extraction pool          batches waiting]                ──► error stream
//   while pages are costly; co_await send
//   (suspends when the channel is full =
//   backpressure)
//
// Lifetime: construct, add_output() (optional), open(), then on_success()/on_failure() from
// any number of coroutines, then co_await close() once they have all returned; close() drains
// the channel, flushes and closes every output. Destroying an opened sink without close()
// stops the writer (items still queued are dropped) and closes the outputs. The executor's
// io_context must outlive the sink.

#include "engine/crawl/journal.hpp"
#include "engine/crawl/sink.hpp"
#include "pipelines/extract/extractor.hpp"
#include "pipelines/extract/extractor_set.hpp"
#include "pipelines/outputs/output.hpp"
#include "pipelines/rules.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace harvest::pipelines {

// Called by the writer after it flushed the outputs: the requests whose items (or failure line)
// are now in the files, and each append-only file's flushed length. The state journal records
// both atomically (crawl::journal::commit). Thrown exceptions are counted, not propagated.
using commit_listener = std::function<void(std::span<const std::uint64_t> completed,
                                           std::span<const crawl::output_offset> sizes)>;

struct output_counters {
    explicit output_counters(std::string output_name) : name(std::move(output_name)) {}
    std::string name;                       // output::name()
    std::atomic<std::uint64_t> written{0};  // items written
    std::atomic<std::uint64_t> failed{0};   // items whose write threw (plus flush/close errors)

    // Adds `items` to `failed` and keeps `reason` (what the write threw) as the last failure's.
    void record_failure(std::uint64_t items, std::string reason) {
        failed.fetch_add(items, std::memory_order_relaxed);
        const std::lock_guard lock(mutex_);  // failures are rare: a lock costs nothing here
        last_failure_ = std::move(reason);
    }
    // Why the last failure happened ("" before any), for the run summary.
    std::string last_failure() const {
        const std::lock_guard lock(mutex_);
        return last_failure_;
    }

  private:
    mutable std::mutex mutex_;
    std::string last_failure_;
};

// One extract type's items (metrics: harvest_items_total{extractor, outcome}).
struct extractor_counters {
    std::atomic<std::uint64_t> emitted{0};
    std::atomic<std::uint64_t> invalid{0};
    std::atomic<std::uint64_t> error{0};
};

// Read from any thread at any time (relaxed atomics: each value is exact, a set of them is not
// a snapshot). `outputs` is filled by open(), in output order, and fixed afterwards.
struct pipeline_stats {
    std::atomic<std::uint64_t> items_emitted{0};  // items extracted and queued for the outputs
    std::atomic<std::uint64_t> items_invalid{0};  // items dropped for a missing required field
    // Pages a matching rule could not read: not JSON (json), not HTML (jsonld, microdata, html).
    std::atomic<std::uint64_t> items_error{0};
    std::atomic<std::uint64_t> values_invalid{0};  // values `as` could not convert (now null)
    // The three totals above split by extract type: extractors[static_cast<std::size_t>(
    // extract_type::jsonld)].emitted, ... (all_extract_types lists the types in index order).
    std::array<extractor_counters, extract_type_count> extractors;
    std::atomic<std::uint64_t> links_found{0};  // links handed to the crawl (deduplicated per page)
    std::atomic<std::uint64_t> failures{0};     // failure records received
    std::atomic<std::uint64_t> failures_written{0};  // lines written to the error stream
    std::atomic<std::uint64_t> failures_failed{0};   // error stream writes that threw
    // Items sent to the writer and not yet taken by it. Never above the truth (it may lag
    // below it for an instant, even below zero); bounded by the queue capacity.
    std::atomic<std::int64_t> queue_depth{0};
    std::atomic<std::int64_t> queue_depth_max{0};   // highest queue_depth seen
    std::atomic<std::uint64_t> commits{0};          // journal commits made by the writer
    std::atomic<std::uint64_t> commit_failures{0};  // journal commits that threw
    std::deque<output_counters> outputs;
};

class pipeline_sink final : public crawl::sink {
  public:
    // Compiles the extract rules and checks the output types (throws std::invalid_argument, e.g.
    // "not supported yet"). Opens nothing. `queue_items`: how many batches (one per page with
    // items; a json page gives one item) may wait for the writer, the one it is being handed
    // included; 0 is taken as 1.
    pipeline_sink(boost::asio::any_io_executor executor, std::vector<extract_rule> extract,
                  std::vector<output_spec> outputs, std::size_t queue_items = 4096);
    // The same, with `follow` rules: on_success returns the links they find on each page
    // (extractor_set.hpp says which). Throws std::invalid_argument on a bad selector or regex.
    pipeline_sink(boost::asio::any_io_executor executor, std::vector<extract_rule> extract,
                  std::vector<follow_rule> follow, std::vector<output_spec> outputs,
                  std::size_t queue_items = 4096);
    ~pipeline_sink() override;
    pipeline_sink(const pipeline_sink&) = delete;
    pipeline_sink& operator=(const pipeline_sink&) = delete;

    // An output of the caller's own (a library user's, a test's), written after the configured
    // ones. Before open() only.
    void add_output(std::unique_ptr<output> extra);

    // Opens the outputs and the error stream (next to the first JSONL output), then starts the
    // writer. Throws std::runtime_error naming the path when one cannot be opened; whatever was
    // opened is then closed again, and open() may be retried.
    void open();
    // An extractor of the caller's own, run on every page after the configured rules (its
    // items count as emitted/invalid in the totals). Before open() only.
    void add_extractor(std::shared_ptr<const extractor> custom);
    // Before open(): where durable progress is reported (the CLI passes the state journal).
    // `prompt`: commit every time the writer catches up and at least every 100 ms while busy —
    // for a listener others wait on (a shared frontier completes a request only once its items
    // are written), not only a later resume.
    void set_commit_listener(commit_listener listener, bool prompt = false);
    // Before open(): one thread runs the executor's io_context, so the writer needs no strand
    // of its own to keep the outputs to one thread at a time.
    void set_single_thread_io(bool single) noexcept { single_thread_io_ = single; }
    // Before open(): a thread pool (the engine threads that do not run the network side) for
    // the pages whose extraction costs more than handing them over. on_success measures what
    // extraction takes (a moving average over the crawl's pages); while that is at least
    // `offload_above`, it sends each page to `pool` and resumes on its caller's executor with
    // the items, so the network thread reads other responses meanwhile. Below it, and without
    // a pool, the calling thread extracts: a JSON document or a JSON-LD block costs a few
    // microseconds, less than the two thread hand-offs would. 0 sends every page.
    void set_extract_executor(boost::asio::any_io_executor pool,
                              std::chrono::nanoseconds offload_above = default_offload_above) {
        extract_executor_ = std::move(pool);
        offload_above_ns_ = offload_above.count();
    }
    static constexpr std::chrono::nanoseconds default_offload_above = std::chrono::microseconds(25);
    // Pages extracted on the pool so far (the rest were extracted where they were fetched).
    std::uint64_t pages_offloaded() const noexcept {
        return offloaded_.load(std::memory_order_relaxed);
    }

    boost::asio::awaitable<crawl::sink_result> on_success(crawl::fetched_page page) override;
    boost::asio::awaitable<void> on_failure(crawl::failure_record failure) override;
    // Drains, flushes and closes. Idempotent. Rethrows an exception that ended the writer.
    boost::asio::awaitable<void> close() override;

    const pipeline_stats& stats() const noexcept;
    // The error stream's path, empty when there is no JSONL output (failures only counted).
    const std::string& error_stream_path() const noexcept { return error_path_; }
    std::size_t queue_capacity() const noexcept { return queue_items_; }

  private:
    struct state;
    // One page's extraction, and what the network thread needs of the page afterwards.
    struct extraction {
        std::vector<item> batch;
        crawl::sink_result result;
        extract_outcome outcome;
        std::uint64_t fingerprint = 0;
        std::uint64_t redirect_target = 0;
        std::string body;       // the response's buffer, recycled on the network thread
        std::size_t count = 0;  // items; `batch` is empty when no output needs them as objects
        std::unique_ptr<std::string> lines;  // their JSON lines, when rendered here
    };
    // Takes the page's body (for `extraction::body`); the rest of the page is left as it was.
    extraction extract(crawl::fetched_page& page);
    boost::asio::awaitable<extraction> extract_on_pool(crawl::fetched_page page);

    boost::asio::any_io_executor executor_;
    boost::asio::any_io_executor extract_executor_;  // empty: extract on the calling thread
    std::int64_t offload_above_ns_ = default_offload_above.count();
    // What extracting a page takes, in ns of CPU: an average over the last ~16 timed pages.
    std::atomic<std::int64_t> extract_ns_{0};
    std::atomic<std::uint64_t> offloaded_{0};
    std::atomic<std::uint64_t> timed_{0};  // pages extracted: every 8th is timed
    // Per follow rule: its `meta`, put under "meta" in the items of the pages its links lead to.
    // Declared before extractors_, which takes the rules.
    std::vector<boost::json::object> follow_meta_;
    extractor_set extractors_;
    std::vector<output_spec> output_specs_;
    std::vector<std::unique_ptr<output>> extra_outputs_;
    std::vector<std::shared_ptr<const extractor>> custom_extractors_;
    std::size_t queue_items_;
    std::string error_path_;
    bool error_append_ = false;  // resume: the error stream keeps what it holds
    bool single_thread_io_ = false;
    // Set by open(), read by extract() on any thread after it: an output writes JSON lines
    // (render them where the page is extracted), an output needs the items as objects.
    bool render_lines_ = false;
    bool keep_items_ = true;
    // Shared with the writer coroutine so it can finish safely even if the sink goes first.
    std::shared_ptr<state> state_;
    std::atomic<bool> opened_{false};
    std::atomic<bool> closing_{false};
};

}  // namespace harvest::pipelines
