#include "pipelines/pipeline_sink.hpp"

#include "engine/net/body_pool.hpp"
#include "pipelines/outputs/error_stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <ctime>
#include <deque>
#include <exception>
#include <limits>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <variant>

namespace harvest::pipelines {

namespace {

namespace asio = boost::asio;

// Ends the stream. Boost 1.81's channel close() drops buffered messages, so the writer stops on
// this value instead: everything sent before it is written first.
struct end_of_stream {};

// Wakes the writer to flush what it holds back (see run_writer's flush_interval).
struct flush_tick {};

// The buffers a page's JSON lines are rendered in keep their size from page to page, up to this.
constexpr std::size_t kept_render_buffer = std::size_t{1} << 20;

// Renders `items` into `buffer` (cleared first) as JSON lines: append_json's text and '\n' each.
void render_json_lines(std::string& buffer, const std::vector<item>& items) {
    buffer.clear();
    for (const item& value : items) {
        append_json(buffer, value);
        buffer.push_back('\n');
    }
}

// After the rendered text was used: a buffer grown past kept_render_buffer by one page of huge
// items gives its memory back.
void trim_render_buffer(std::string& buffer) {
    if (buffer.capacity() > kept_render_buffer) {
        std::string().swap(buffer);
    }
}

// The items of one page (possibly none: the page still completes its request).
struct page_items {
    std::vector<item> items;  // empty when every output takes `lines` (then `count` says how many)
    std::uint64_t fingerprint = 0;
    std::uint64_t redirect_target = 0;  // completed with it (fetched_page::redirect_target)
    std::size_t count = 0;              // the page's items
    // The items' JSON text, a line each, when they were rendered where the page was extracted
    // (a pointer: the message moves several times on its way, and is mostly without).
    std::unique_ptr<std::string> lines;
};

using message = std::variant<page_items, crawl::failure_record, end_of_stream, flush_tick>;
using message_channel =
    asio::experimental::concurrent_channel<void(boost::system::error_code, message)>;
using done_channel = asio::experimental::concurrent_channel<void(boost::system::error_code)>;

// CPU time the calling thread has used, in ns.
std::int64_t thread_cpu_ns() noexcept {
    timespec now{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

void raise_max(std::atomic<std::int64_t>& maximum, std::int64_t value) {
    std::int64_t seen = maximum.load(std::memory_order_relaxed);
    while (value > seen && !maximum.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
    }
}

}  // namespace

struct pipeline_sink::state {
    // A channel of capacity C holds C messages, and one more can be on its way to the waiting
    // writer: capacity queue_items - 1 keeps "waiting" at queue_items at most.
    state(const asio::any_io_executor& executor, std::size_t queue_items)
        : channel(executor, queue_items - 1), done(executor, 1) {}

    message_channel channel;
    done_channel done;  // the writer's completion: one message, then it is finished
    std::vector<std::unique_ptr<output>> outputs;
    std::optional<error_stream> errors;
    pipeline_stats stats;
    commit_listener on_commit;        // set before open(); called from the writer only
    bool prompt_commits = false;      // set with on_commit
    std::exception_ptr writer_error;  // set before `done` is sent, read after it is received
    std::atomic<std::thread::id> writer_thread{};  // where the writer runs, once it has started
};

namespace {

// Flushes, or with `close` closes, every synchronous output and the error stream; a failure is
// counted in `stats`, not thrown. The asynchronous outputs settle on their own (see
// settled_mark) and are closed with close_async.
void finish_sync_outputs(std::vector<std::unique_ptr<output>>& outputs,
                         std::optional<error_stream>& errors, pipeline_stats& stats, bool close) {
    for (std::size_t i = 0; i < outputs.size(); ++i) {
        if (outputs[i]->as_async() != nullptr) {
            continue;
        }
        try {
            if (close) {
                outputs[i]->close();
            } else {
                outputs[i]->flush();
            }
        } catch (const std::exception& e) {
            stats.outputs[i].record_failure(1, e.what());
        }
    }
    if (errors) {
        try {
            if (close) {
                errors->close();
            } else {
                errors->flush();
            }
        } catch (const std::exception&) {
            stats.failures_failed.fetch_add(1, std::memory_order_relaxed);
        }
    }
}

void flush_all(std::vector<std::unique_ptr<output>>& outputs, std::optional<error_stream>& errors,
               pipeline_stats& stats) {
    finish_sync_outputs(outputs, errors, stats, /*close=*/false);
}

// The flushed length of every append-only item output (not the error stream). Called right
// after flush_all.
std::vector<crawl::output_offset> item_output_sizes(
    const std::vector<std::unique_ptr<output>>& outputs) {
    std::vector<crawl::output_offset> sizes;
    for (const auto& out : outputs) {
        if (auto size = out->flushed_size()) {
            sizes.push_back(crawl::output_offset{std::string(out->name()), *size});
        }
    }
    return sizes;
}

// Items handed to asynchronous outputs that they have all settled (delivered or given up); every
// output got every item, so the smallest count holds for all. Without async outputs: no limit.
std::uint64_t settled_mark(const std::vector<async_output*>& async_outputs) {
    std::uint64_t mark = std::numeric_limits<std::uint64_t>::max();
    for (const async_output* out : async_outputs) {
        mark = std::min(mark, out->settled_items());
    }
    return mark;
}

// The pages completed between two commit points, with the item outputs' lengths at the second:
// committed together once the async outputs settled every item written before it
// (`items_before`). Without async outputs that is at once. The lengths travel with the pages so
// that a resume cuts JSONL/CSV back to exactly the committed pages' items.
struct pending_commit {
    std::vector<std::uint64_t> pages;
    std::uint64_t items_before = 0;
    std::vector<crawl::output_offset> sizes;
};

// Hands the journal what is now durable: the pending pages whose items are settled with their
// outputs' lengths, and the failures (not held: no async output has a part in them) with the
// error stream's length now. Called at each commit point, right after flush_all.
void commit(const commit_listener& on_commit, std::deque<pending_commit>& pending,
            std::uint64_t settled, std::vector<std::uint64_t>& failures,
            const std::optional<error_stream>& errors, pipeline_stats& stats) {
    std::vector<std::uint64_t> completed = std::move(failures);
    failures.clear();
    std::vector<crawl::output_offset> sizes;
    while (!pending.empty() && pending.front().items_before <= settled) {
        completed.insert(completed.end(), pending.front().pages.begin(),
                         pending.front().pages.end());
        sizes = std::move(pending.front().sizes);
        pending.pop_front();
    }
    if (!on_commit) {
        return;
    }
    if (errors) {
        if (auto size = errors->flushed_size()) {
            sizes.push_back(crawl::output_offset{error_stream_id(errors->path()), *size});
        }
    }
    try {
        on_commit(completed, sizes);
        stats.commits.fetch_add(1, std::memory_order_relaxed);
    } catch (const std::exception&) {
        // The journal could not be written (disk full…): items are still written; a resume
        // would fetch these requests again. Counted, not fatal to the crawl.
        stats.commit_failures.fetch_add(1, std::memory_order_relaxed);
    }
}

// The one writer: outputs are touched from here only, one message at a time.
asio::awaitable<void> run_writer(std::shared_ptr<void> keep_alive, message_channel& channel,
                                 std::vector<std::unique_ptr<output>>& outputs,
                                 std::optional<error_stream>& errors, pipeline_stats& stats,
                                 const commit_listener& on_commit, bool prompt_commits,
                                 bool renders_lines, std::atomic<std::thread::id>& writer_thread) {
    (void)keep_alive;  // owns the references above for as long as this runs
    // Commits (an fdatasync each) at most every 100 ms, or sooner when many requests wait.
    constexpr auto commit_interval = std::chrono::milliseconds(100);
    constexpr std::size_t commit_batch = 8192;
    constexpr auto busy_commit_interval = std::chrono::milliseconds(500);
    // Readers of the files see an item at most this long after the writer had it. Flushing each
    // time the channel ran dry cost a write and two lseeks per page: a writer that keeps up with
    // the crawl finds the channel dry after nearly every page.
    constexpr auto flush_interval = std::chrono::milliseconds(20);
    asio::steady_timer flush_timer(co_await asio::this_coro::executor);
    std::optional<std::chrono::steady_clock::time_point> flush_at;  // when the timer is set
    std::vector<std::uint64_t> pages;     // completed since the last commit point
    std::vector<std::uint64_t> failures;  // likewise
    std::deque<pending_commit> pending;
    std::vector<async_output*> async_outputs;  // awaited instead of written (webhook)
    for (const auto& out : outputs) {
        if (auto* async = out->as_async()) {
            async_outputs.push_back(async);
        }
    }
    std::uint64_t items_to_async = 0;  // items handed to each async output so far
    std::string rendered;              // a page's JSON lines, when its items come unrendered
    writer_thread.store(std::this_thread::get_id(), std::memory_order_relaxed);
    auto last_commit = std::chrono::steady_clock::now();
    auto last_flush = last_commit;
    while (true) {
        auto [error, next] = co_await channel.async_receive(asio::as_tuple(asio::use_awaitable));
        if (error) {
            break;  // cancelled: the sink is being destroyed without close()
        }
        if (auto* page = std::get_if<page_items>(&next)) {
            stats.queue_depth.fetch_sub(static_cast<std::int64_t>(page->count),
                                        std::memory_order_relaxed);
            std::string_view lines = page->lines ? std::string_view(*page->lines) : "";
            if (!page->lines && page->count != 0 && renders_lines) {
                // Extracted on this thread: rendered here, in a buffer that keeps its size.
                render_json_lines(rendered, page->items);
                lines = rendered;
            }
            if (page->count != 0) {
                for (std::size_t i = 0; i < outputs.size(); ++i) {
                    if (!outputs[i]->writes_json_lines()) {
                        continue;
                    }
                    try {
                        outputs[i]->write_json_lines(lines, page->count);
                        stats.outputs[i].written.fetch_add(page->count, std::memory_order_relaxed);
                    } catch (const std::exception& e) {
                        stats.outputs[i].record_failure(page->count, e.what());
                    }
                }
            }
            trim_render_buffer(rendered);
            for (const item& value : page->items) {
                for (std::size_t i = 0; i < outputs.size(); ++i) {
                    if (outputs[i]->writes_json_lines()) {
                        continue;  // written above, from the page's lines
                    }
                    // One output's failure neither stops the others nor the crawl.
                    try {
                        if (auto* async = outputs[i]->as_async()) {
                            // Suspends while the output is full: backpressure from a slow
                            // receiver up to the crawl. `value` outlives the wait (in `next`).
                            // Counted as written once delivered (the delivered handler).
                            co_await async->write_async(value);
                        } else {
                            outputs[i]->write(value);
                            stats.outputs[i].written.fetch_add(1, std::memory_order_relaxed);
                        }
                    } catch (const std::exception& e) {
                        stats.outputs[i].record_failure(1, e.what());
                    }
                }
            }
            if (!async_outputs.empty()) {
                items_to_async += page->count;
            }
            if (page->fingerprint != 0) {
                pages.push_back(page->fingerprint);
            }
            if (page->redirect_target != 0) {
                pages.push_back(page->redirect_target);
            }
        } else if (auto* failure = std::get_if<crawl::failure_record>(&next)) {
            if (failure->fingerprint != 0) {
                failures.push_back(failure->fingerprint);
            }
            if (errors) {
                try {
                    errors->write(*failure);
                    stats.failures_written.fetch_add(1, std::memory_order_relaxed);
                } catch (const std::exception&) {
                    stats.failures_failed.fetch_add(1, std::memory_order_relaxed);
                }
            }
        } else if (std::holds_alternative<end_of_stream>(next)) {
            break;  // everything sent before it has been written
        }
        // A flush_tick carries nothing: it only brings the writer to the checks below.
        const bool idle = !channel.ready();
        const auto now = std::chrono::steady_clock::now();
        // A slow async output keeps the channel full (never idle): commit what it settled at
        // least every busy_commit_interval, or a crash would resend all of it.
        // Prompt commits: nothing completed waits for the next message, and a busy writer
        // commits every interval too.
        const bool prompt_due = prompt_commits && (idle || now - last_commit >= commit_interval);
        if ((idle && now - last_commit >= commit_interval) || prompt_due ||
            pages.size() + failures.size() >= commit_batch ||
            (!async_outputs.empty() && now - last_commit >= busy_commit_interval)) {
            flush_all(outputs, errors, stats);
            pending.push_back({std::move(pages), items_to_async, item_output_sizes(outputs)});
            pages.clear();
            commit(on_commit, pending, settled_mark(async_outputs), failures, errors, stats);
            last_commit = now;
            last_flush = now;
        } else if (idle && now - last_flush >= flush_interval) {
            flush_all(outputs, errors, stats);  // let readers of the files see progress
            last_flush = now;
        } else if (idle && (!flush_at || *flush_at <= now)) {
            // Nothing may arrive for a while: a tick comes back to flush then. Sent with
            // try_send: a full channel brings the writer back by itself.
            flush_at = last_flush + flush_interval;
            flush_timer.expires_at(*flush_at);
            flush_timer.async_wait([keep_alive, &channel](boost::system::error_code ec) {
                if (!ec) {
                    (void)channel.try_send(boost::system::error_code{}, message{flush_tick{}});
                }
            });
        }
    }
    flush_timer.cancel();
    // Everything sent before end_of_stream is written: deliver what the async outputs hold (their
    // give-ups reach the error stream meanwhile), then make it all durable before closing.
    for (std::size_t i = 0; i < outputs.size(); ++i) {
        if (auto* async = outputs[i]->as_async()) {
            try {
                co_await async->close_async();
            } catch (const std::exception& e) {
                stats.outputs[i].record_failure(1, e.what());
            }
        }
    }
    flush_all(outputs, errors, stats);
    pending.push_back({std::move(pages), items_to_async, item_output_sizes(outputs)});
    commit(on_commit, pending, settled_mark(async_outputs), failures, errors, stats);
    finish_sync_outputs(outputs, errors, stats, /*close=*/true);  // the async ones closed above
}

}  // namespace

namespace {

std::vector<boost::json::object> meta_of(const std::vector<follow_rule>& rules) {
    std::vector<boost::json::object> out;
    out.reserve(rules.size());
    for (const auto& rule : rules) {
        boost::json::object meta;
        for (const auto& [key, value] : rule.meta) {
            meta[key] = value;
        }
        out.push_back(std::move(meta));
    }
    return out;
}

}  // namespace

pipeline_sink::pipeline_sink(asio::any_io_executor executor, std::vector<extract_rule> extract,
                             std::vector<output_spec> outputs, std::size_t queue_items)
    : pipeline_sink(std::move(executor), std::move(extract), {}, std::move(outputs), queue_items) {}

pipeline_sink::pipeline_sink(asio::any_io_executor executor, std::vector<extract_rule> extract,
                             std::vector<follow_rule> follow, std::vector<output_spec> outputs,
                             std::size_t queue_items)
    : executor_(std::move(executor)),
      follow_meta_(meta_of(follow)),
      extractors_(std::move(extract), std::move(follow)),
      output_specs_(std::move(outputs)),
      queue_items_(queue_items == 0 ? 1 : queue_items),
      state_(std::make_shared<state>(executor_, queue_items_)) {
    for (const auto& spec : output_specs_) {
        if (!output_supported(spec.type)) {
            throw std::invalid_argument("output type " + std::string(to_string(spec.type)) +
                                        " is not supported yet");
        }
    }
    for (const auto& spec : output_specs_) {
        if (spec.type == output_type::jsonl) {
            error_path_ = pipelines::error_stream_path(spec.path);
            error_append_ = spec.append;
            break;
        }
    }
}

pipeline_sink::~pipeline_sink() {
    if (opened_.load() && !closing_.load()) {
        // The writer waits on the channel; cancelling ends it, and it closes the outputs.
        state_->channel.cancel();
    }
}

void pipeline_sink::add_output(std::unique_ptr<output> extra) {
    if (opened_.load()) {
        throw std::logic_error("pipeline_sink::add_output after open()");
    }
    extra_outputs_.push_back(std::move(extra));
}

void pipeline_sink::add_extractor(std::shared_ptr<const extractor> custom) {
    if (opened_.load()) {
        throw std::logic_error("pipeline_sink::add_extractor after open()");
    }
    custom_extractors_.push_back(std::move(custom));
}

item make_item_header(const crawl::fetched_page& page) {
    item header;
    header["url"] =
        page.response.final_url.empty() ? page.request.http.url : page.response.final_url;
    header["fetched_at"] = format_rfc3339_ms(page.fetched_at);
    header["status"] = page.response.status;
    return header;
}

void pipeline_sink::set_commit_listener(commit_listener listener, bool prompt) {
    if (opened_.load()) {
        throw std::logic_error("pipeline_sink::set_commit_listener after open()");
    }
    state_->on_commit = std::move(listener);
    state_->prompt_commits = prompt;
}

void pipeline_sink::open() {
    if (opened_.load()) {
        throw std::logic_error("pipeline_sink::open called twice");
    }
    state& shared = *state_;
    try {
        for (const auto& spec : output_specs_) {
            shared.outputs.push_back(make_output(spec));  // throws naming the path
        }
        if (!error_path_.empty()) {
            shared.errors.emplace(error_path_, error_append_);
        }
    } catch (...) {
        shared.outputs.clear();
        shared.errors.reset();
        throw;
    }
    for (auto& extra : extra_outputs_) {
        shared.outputs.push_back(std::move(extra));
    }
    render_lines_ = false;
    keep_items_ = false;
    for (const auto& out : shared.outputs) {
        (out->writes_json_lines() ? render_lines_ : keep_items_) = true;
    }
    extra_outputs_.clear();
    for (std::size_t i = 0; i < shared.outputs.size(); ++i) {
        shared.stats.outputs.emplace_back(std::string(shared.outputs[i]->name()));
        if (auto* async = shared.outputs[i]->as_async()) {
            // Called on the writer's strand (async_output's contract), so the error stream is
            // still touched from one place only. A raw pointer: the state owns the outputs.
            state* owner = state_.get();
            async->set_delivered_handler([owner, i](std::uint64_t items) {
                owner->stats.outputs[i].written.fetch_add(items, std::memory_order_relaxed);
            });
            async->set_undelivered_handler([owner, i](undelivered_batch lost) {
                std::string reason = "batch given up: " + std::string(core::to_string(lost.error));
                if (lost.status) {
                    reason += ", status " + std::to_string(*lost.status);
                }
                owner->stats.outputs[i].record_failure(lost.items.size(), std::move(reason));
                if (!owner->errors) {
                    return;  // no JSONL output: only counted
                }
                try {
                    owner->errors->write(lost);
                    owner->stats.failures_written.fetch_add(1, std::memory_order_relaxed);
                } catch (const std::exception&) {
                    owner->stats.failures_failed.fetch_add(1, std::memory_order_relaxed);
                }
            });
        }
    }
    opened_.store(true);
    // The writer runs on its own strand (or the one io thread): outputs never see two threads
    // at once.
    asio::co_spawn(
        single_thread_io_ ? executor_ : asio::make_strand(executor_),
        run_writer(state_, shared.channel, shared.outputs, shared.errors, shared.stats,
                   shared.on_commit, shared.prompt_commits, render_lines_, shared.writer_thread),
        [keep = state_](std::exception_ptr error) {
            keep->writer_error = error;
            (void)keep->done.try_send(boost::system::error_code{});
        });
}

// The CPU side of a page: its items and links, with the follow rule's meta and the custom
// extractors. A plain function, so it runs on the calling thread or on the extraction pool.
pipeline_sink::extraction pipeline_sink::extract(crawl::fetched_page& page) {
    // One page in 8 is timed, in the thread's CPU time (a system call): wall time would count a
    // pool thread's waits for a core, and keep sending pages there because they wait.
    const bool timed =
        extract_executor_ && (timed_.fetch_add(1, std::memory_order_relaxed) % 8) == 0;
    const std::int64_t started = timed ? thread_cpu_ns() : 0;
    extraction done;
    done.outcome = extractors_.extract(page, done.batch, done.result.links, done.result.link_rules);
    if (page.request.follow_rule != 0 && page.request.follow_rule <= follow_meta_.size()) {
        const boost::json::object& meta = follow_meta_[page.request.follow_rule - 1];
        if (!meta.empty()) {
            for (auto& found : done.batch) {
                found["meta"] = meta;
            }
        }
    }
    for (const auto& custom : custom_extractors_) {
        const extractor::result found = custom->extract(page, done.batch);
        done.outcome.emitted += found.emitted;
        done.outcome.invalid += found.invalid;
    }
    if (page.unchanged) {
        // A 304 served from http.cache: the same items as last time, said to be so.
        if (!page.emit_unchanged) {
            done.outcome.emitted = 0;
            for (auto& counts : done.outcome.per_type) {
                counts.emitted = 0;
            }
            done.batch.clear();
        }
        for (auto& found : done.batch) {
            found["unchanged"] = true;
        }
    }
    // The items' JSON text for the JSON-lines outputs, rendered here rather than on the
    // writer's thread, which every page of the crawl goes through (with network shards or an
    // extraction pool, most pages are extracted elsewhere); the items themselves are freed here
    // too when no other output needs them.
    done.count = done.batch.size();
    // Only off the writer's thread: on it (one network thread extracting inline) the writer
    // renders them as it writes, without the copy.
    if (render_lines_ && !done.batch.empty() &&
        state_->writer_thread.load(std::memory_order_relaxed) != std::this_thread::get_id()) {
        // Rendered in this thread's buffer, which keeps its size, then copied once at its size.
        thread_local std::string rendered;
        render_json_lines(rendered, done.batch);
        done.lines = std::make_unique<std::string>(rendered);
        trim_render_buffer(rendered);
        if (!keep_items_) {
            done.batch.clear();
        }
    }
    done.fingerprint = page.request.fingerprint;
    done.redirect_target = page.redirect_target;
    done.body = std::move(page.response.body);
    if (timed) {
        // avg += (sample - avg) / 16. Racing updates may lose one sample: it is an estimate.
        const std::int64_t took = thread_cpu_ns() - started;
        const std::int64_t average = extract_ns_.load(std::memory_order_relaxed);
        extract_ns_.store(average + (took - average) / 16, std::memory_order_relaxed);
    }
    return done;
}

// Runs extract() on the extraction pool and resumes the caller on its own executor.
asio::awaitable<pipeline_sink::extraction> pipeline_sink::extract_on_pool(
    crawl::fetched_page page) {
    return asio::async_initiate<const asio::use_awaitable_t<>,
                                void(std::exception_ptr, extraction)>(
        [this](auto handler, crawl::fetched_page taken) {
            // Tracked, so the io_context does not run out of work while the page is away.
            auto home = asio::prefer(asio::get_associated_executor(handler, executor_),
                                     asio::execution::outstanding_work.tracked);
            asio::post(extract_executor_,
                       [this, handler = std::move(handler), home = std::move(home),
                        taken = std::move(taken)]() mutable {
                           std::exception_ptr failure;
                           extraction done;
                           try {
                               done = extract(taken);
                           } catch (...) {
                               failure = std::current_exception();
                           }
                           asio::post(home, [handler = std::move(handler), failure,
                                             done = std::move(done)]() mutable {
                               std::move(handler)(failure, std::move(done));
                           });
                       });
        },
        asio::use_awaitable, std::move(page));
}

asio::awaitable<crawl::sink_result> pipeline_sink::on_success(crawl::fetched_page page) {
    if (!opened_.load() || closing_.load()) {
        throw std::logic_error("pipeline_sink::on_success outside open() .. close()");
    }
    if (page.duplicate) {
        // A redirect to a page the crawl has: nothing to extract, only the request to complete.
        message completed_page{page_items{{}, page.request.fingerprint, 0, 0, nullptr}};
        co_await state_->channel.async_send(boost::system::error_code{}, std::move(completed_page),
                                            asio::use_awaitable);
        co_return crawl::sink_result{};
    }
    // CPU work: on the extraction pool while pages cost more to extract than to hand over (the
    // network thread goes on with other responses meanwhile), else on the fetching thread.
    extraction done;
    if (extract_executor_ && extract_ns_.load(std::memory_order_relaxed) >= offload_above_ns_) {
        offloaded_.fetch_add(1, std::memory_order_relaxed);
        done = co_await extract_on_pool(std::move(page));
    } else {
        done = extract(page);
    }
    // Extraction is over: the body's memory serves the next response read on this thread.
    net::recycle_body_buffer(std::move(done.body));
    const extract_outcome& outcome = done.outcome;
    pipeline_stats& stats = state_->stats;
    stats.items_emitted.fetch_add(outcome.emitted, std::memory_order_relaxed);
    stats.items_invalid.fetch_add(outcome.invalid, std::memory_order_relaxed);
    stats.items_error.fetch_add(outcome.error, std::memory_order_relaxed);
    stats.values_invalid.fetch_add(outcome.values_invalid, std::memory_order_relaxed);
    stats.links_found.fetch_add(outcome.links, std::memory_order_relaxed);
    for (std::size_t i = 0; i < outcome.per_type.size(); ++i) {
        const extract_counts& counts = outcome.per_type[i];
        extractor_counters& counters = stats.extractors[i];
        // Most pages touch one type: skip the atomics of the others.
        if (counts.emitted != 0) {
            counters.emitted.fetch_add(counts.emitted, std::memory_order_relaxed);
        }
        if (counts.invalid != 0) {
            counters.invalid.fetch_add(counts.invalid, std::memory_order_relaxed);
        }
        if (counts.error != 0) {
            counters.error.fetch_add(counts.error, std::memory_order_relaxed);
        }
    }
    {
        // Sent even without items: the writer marks the request completed in the journal once
        // whatever it produced is flushed.
        const auto count = static_cast<std::int64_t>(done.count);
        // Suspends while the channel is full: this is the backpressure on the crawl.
        // A named message, not a temporary in the co_await expression (GCC 12 coroutine bug:
        // such temporaries can be destroyed twice).
        message completed_page{page_items{std::move(done.batch), done.fingerprint,
                                          done.redirect_target, done.count, std::move(done.lines)}};
        co_await state_->channel.async_send(boost::system::error_code{}, std::move(completed_page),
                                            asio::use_awaitable);
        // Counted after the send, so the gauge never exceeds what is really waiting.
        const std::int64_t depth =
            stats.queue_depth.fetch_add(count, std::memory_order_relaxed) + count;
        raise_max(stats.queue_depth_max, depth);
    }
    co_return std::move(done.result);
}

asio::awaitable<void> pipeline_sink::on_failure(crawl::failure_record failure) {
    if (!opened_.load() || closing_.load()) {
        throw std::logic_error("pipeline_sink::on_failure outside open() .. close()");
    }
    state_->stats.failures.fetch_add(1, std::memory_order_relaxed);
    // The error stream has no use for the failed response's body: it does not wait in the
    // channel (a crawl of large 404 pages would hold them all).
    std::string().swap(failure.body);
    message failed{std::move(failure)};  // named: see on_success
    co_await state_->channel.async_send(boost::system::error_code{}, std::move(failed),
                                        asio::use_awaitable);
}

asio::awaitable<void> pipeline_sink::close() {
    if (!opened_.load() || closing_.exchange(true)) {
        co_return;
    }
    message end{end_of_stream{}};  // named: see on_success
    co_await state_->channel.async_send(boost::system::error_code{}, std::move(end),
                                        asio::use_awaitable);
    co_await state_->done.async_receive(asio::use_awaitable);
    if (state_->writer_error) {
        std::rethrow_exception(state_->writer_error);
    }
}

const pipeline_stats& pipeline_sink::stats() const noexcept {
    return state_->stats;
}

}  // namespace harvest::pipelines
