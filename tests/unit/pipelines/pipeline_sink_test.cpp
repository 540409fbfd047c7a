#include "pipelines/pipeline_sink.hpp"
#include "pipelines/outputs/error_stream.hpp"
#include "test_support.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <ctime>
#include <exception>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

using namespace harvest;
using namespace harvest::pipelines;
using harvest::pipelines::test::make_page;
using harvest::pipelines::test::read_file;
using harvest::pipelines::test::temp_dir;
namespace asio = boost::asio;

namespace {

extract_rule sink_product_rule() {
    extract_rule rule;
    rule.match = "/api/products/";
    rule.type = extract_type::json;
    field_rule id;
    id.name = "id";
    id.pointer = "/id";
    id.as = value_kind::integer;
    field_rule producer;
    producer.name = "producer";
    producer.pointer = "/producer";
    rule.fields = {id, producer};
    rule.required = {"id"};
    return rule;
}

output_spec jsonl_spec(std::string path) {
    output_spec spec;
    spec.type = output_type::jsonl;
    spec.path = std::move(path);
    return spec;
}

// An output that remembers what it got, optionally slowly, optionally failing.
class recording_output final : public output {
  public:
    struct shared {
        std::mutex mutex;
        std::vector<std::int64_t> ids;
        std::atomic<int> concurrent{0};
        std::atomic<int> max_concurrent{0};
        std::atomic<int> flushes{0};
        std::atomic<bool> closed{false};
        std::atomic<std::uint64_t> written{0};
    };

    recording_output(std::shared_ptr<shared> state, std::chrono::microseconds delay,
                     bool fail = false)
        : state_(std::move(state)), delay_(delay), fail_(fail) {}

    std::string_view name() const override { return "recording"; }
    void write(const item& value) override {
        const int now = state_->concurrent.fetch_add(1) + 1;
        int seen = state_->max_concurrent.load();
        while (now > seen && !state_->max_concurrent.compare_exchange_weak(seen, now)) {
        }
        if (delay_.count() > 0) {
            std::this_thread::sleep_for(delay_);
        }
        state_->concurrent.fetch_sub(1);
        if (fail_) {
            throw std::system_error(std::make_error_code(std::errc::no_space_on_device), "test");
        }
        {
            std::lock_guard lock(state_->mutex);
            state_->ids.push_back(value.at("id").as_int64());
        }
        state_->written.fetch_add(1);
    }
    void flush() override { state_->flushes.fetch_add(1); }
    void close() override { state_->closed.store(true); }

  private:
    std::shared_ptr<shared> state_;
    std::chrono::microseconds delay_;
    bool fail_;
};

std::string product_body(int id, int producer) {
    return R"({"id":)" + std::to_string(id) + R"(,"producer":)" + std::to_string(producer) + "}";
}

crawl::failure_record failure(int n) {
    crawl::failure_record record;
    record.url = "http://127.0.0.1/fail/" + std::to_string(n);
    record.error =
        n % 2 == 0 ? core::failure_kind::status_5xx : core::failure_kind::retries_exhausted;
    record.attempts = 4;
    if (n % 2 == 0) {
        record.status = 503;
    } else {
        record.last_error = core::failure_kind::connect;
    }
    record.final_at = std::chrono::system_clock::now();
    return record;
}

struct workload {
    int first_id = 0;
    int pages = 0;
    int producer = 0;
    int invalid_every = 0;  // every Nth step also sends an item missing its id (0 = never)
    int error_every = 0;    // ... a malformed body
    int failure_every = 0;  // ... a failure record
};

asio::awaitable<void> sink_produce(pipeline_sink& sink, workload work) {
    for (int i = 0; i < work.pages; ++i) {
        const int id = work.first_id + i;
        co_await sink.on_success(make_page("http://127.0.0.1/api/products/" + std::to_string(id),
                                           product_body(id, work.producer)));
        if (work.invalid_every > 0 && i % work.invalid_every == 0) {
            co_await sink.on_success(
                make_page("http://127.0.0.1/api/products/x", R"({"producer":1})"));
        }
        if (work.error_every > 0 && i % work.error_every == 0) {
            co_await sink.on_success(make_page("http://127.0.0.1/api/products/y", "{\"id\":"));
        }
        if (work.failure_every > 0 && i % work.failure_every == 0) {
            co_await sink.on_failure(failure(id));
        }
    }
}

// Runs `producers` to completion on a 2-thread io_context, then close(). Returns when all is
// done (or after a bounded time, failing the test).
void run_producers(asio::io_context& io, pipeline_sink& sink, const std::vector<workload>& works,
                   std::function<void()> after_producers = {}) {
    std::atomic<int> remaining{static_cast<int>(works.size())};
    std::atomic<bool> closed{false};
    std::mutex error_mutex;
    std::exception_ptr first_error;
    const auto record = [&](std::exception_ptr error) {
        if (error) {
            std::lock_guard lock(error_mutex);
            if (!first_error) {
                first_error = error;
            }
        }
    };
    const auto on_closed = [&](std::exception_ptr error) {
        record(error);
        closed.store(true);
    };
    for (const auto& work : works) {
        asio::co_spawn(io, sink_produce(sink, work), [&](std::exception_ptr error) {
            record(error);
            if (remaining.fetch_sub(1) == 1) {
                if (after_producers) {
                    after_producers();
                }
                asio::co_spawn(io, sink.close(), on_closed);
            }
        });
    }
    std::thread second([&] { io.run_for(std::chrono::seconds(120)); });
    io.run_for(std::chrono::seconds(120));
    second.join();
    if (first_error) {
        std::rethrow_exception(first_error);
    }
    REQUIRE(closed.load());
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        lines.push_back(line);
    }
    return lines;
}

}  // namespace

TEST_CASE("pipeline_sink: 10,000 pages from concurrent coroutines on 2 threads",
          "[unit][pipeline_sink]") {
    temp_dir dir;
    const std::string items_path = dir.file("out/items.jsonl");
    asio::io_context io;
    pipeline_sink sink(io.get_executor(), {sink_product_rule()}, {jsonl_spec(items_path)}, 64);
    CHECK(sink.error_stream_path() == dir.file("out/items.errors.jsonl"));
    sink.open();

    constexpr int producers = 8;
    constexpr int per_producer = 1250;
    std::vector<workload> works;
    for (int p = 0; p < producers; ++p) {
        works.push_back(workload{p * per_producer, per_producer, p, 250, 125, 100});
    }
    run_producers(io, sink, works);

    const auto& stats = sink.stats();
    CHECK(stats.items_emitted.load() == 10000);
    CHECK(stats.items_invalid.load() == producers * 5);  // i % 250 == 0 for 5 of 1250
    CHECK(stats.items_error.load() == producers * 10);   // i % 125 == 0
    CHECK(stats.failures.load() == producers * 13);      // i % 100 == 0
    CHECK(stats.failures_written.load() == producers * 13);
    CHECK(stats.failures_failed.load() == 0);
    CHECK(stats.queue_depth.load() == 0);
    CHECK(stats.queue_depth_max.load() >= 1);
    CHECK(stats.queue_depth_max.load() <= 64);
    REQUIRE(stats.outputs.size() == 1);
    CHECK(stats.outputs[0].name == "jsonl:" + items_path);
    CHECK(stats.outputs[0].written.load() == 10000);
    CHECK(stats.outputs[0].failed.load() == 0);

    const auto lines = lines_of(read_file(items_path));
    REQUIRE(lines.size() == 10000);
    std::vector<int> seen(10000, 0);
    std::map<std::int64_t, std::int64_t> last_id_of_producer;
    bool in_order = true;
    for (const auto& line : lines) {
        const auto value = boost::json::parse(line).as_object();
        const auto id = value.at("id").as_int64();
        REQUIRE(id >= 0);
        REQUIRE(id < 10000);
        ++seen[static_cast<std::size_t>(id)];
        CHECK(value.at("url").as_string() == "http://127.0.0.1/api/products/" + std::to_string(id));
        CHECK(value.at("status") == 200);
        // One coroutine's items keep their order: the channel is FIFO.
        const auto producer = value.at("producer").as_int64();
        const auto previous = last_id_of_producer.find(producer);
        if (previous != last_id_of_producer.end() && previous->second >= id) {
            in_order = false;
        }
        last_id_of_producer[producer] = id;
    }
    CHECK(std::count(seen.begin(), seen.end(), 1) == 10000);
    CHECK(in_order);

    const auto error_lines = lines_of(read_file(sink.error_stream_path()));
    CHECK(error_lines.size() == producers * 13);
    for (const auto& line : error_lines) {
        const auto value = boost::json::parse(line).as_object();
        CHECK(value.at("attempts") == 4);
        CHECK((value.contains("status") != value.contains("last_error")));
    }
}

TEST_CASE("pipeline_sink: a slow output applies backpressure within the bound",
          "[unit][pipeline_sink]") {
    asio::io_context io;
    constexpr std::size_t capacity = 4;
    pipeline_sink sink(io.get_executor(), {sink_product_rule()}, {}, capacity);
    auto recorded = std::make_shared<recording_output::shared>();
    sink.add_output(std::make_unique<recording_output>(recorded, std::chrono::milliseconds(2)));
    sink.open();
    CHECK(sink.error_stream_path().empty());

    constexpr int producers = 4;
    constexpr int per_producer = 50;
    constexpr int total = producers * per_producer;
    std::vector<workload> works;
    for (int p = 0; p < producers; ++p) {
        works.push_back(workload{p * per_producer, per_producer, p, 0, 0, 10});
    }
    std::uint64_t written_when_producers_done = 0;
    run_producers(io, sink, works, [&] { written_when_producers_done = recorded->written.load(); });

    const auto& stats = sink.stats();
    // The producers could not run ahead of the writer by more than the queue: when the last
    // one returned, at most `capacity` batches waited and one was being written.
    CHECK(written_when_producers_done >= total - capacity - 1);
    CHECK(stats.queue_depth_max.load() >= 1);
    CHECK(stats.queue_depth_max.load() <= static_cast<std::int64_t>(capacity));
    // close() drained everything.
    CHECK(recorded->written.load() == total);
    CHECK(recorded->ids.size() == total);
    CHECK(recorded->closed.load());
    CHECK(recorded->max_concurrent.load() == 1);  // one writer, never two threads in an output
    CHECK(stats.outputs[0].written.load() == total);
    // No JSONL output: failures are only counted.
    CHECK(stats.failures.load() == producers * 5);
    CHECK(stats.failures_written.load() == 0);
}

TEST_CASE("pipeline_sink: a failing output neither stops the others nor the crawl",
          "[unit][pipeline_sink]") {
    temp_dir dir;
    asio::io_context io;
    pipeline_sink sink(io.get_executor(), {sink_product_rule()},
                       {jsonl_spec(dir.file("items.jsonl"))}, 16);
    auto failing = std::make_shared<recording_output::shared>();
    sink.add_output(
        std::make_unique<recording_output>(failing, std::chrono::microseconds(0), true));
    sink.open();
    run_producers(io, sink, {workload{0, 100, 0, 0, 0, 0}});
    const auto& stats = sink.stats();
    REQUIRE(stats.outputs.size() == 2);
    CHECK(stats.outputs[0].written.load() == 100);
    CHECK(stats.outputs[0].failed.load() == 0);
    CHECK(stats.outputs[1].written.load() == 0);
    CHECK(stats.outputs[1].failed.load() == 100);
    CHECK(lines_of(read_file(dir.file("items.jsonl"))).size() == 100);
}

TEST_CASE("pipeline_sink: a writer that keeps up flushes on a clock, not after every page",
          "[unit][pipeline_sink]") {
    asio::io_context io;
    pipeline_sink sink(io.get_executor(), {sink_product_rule()}, {}, 64);
    auto recorded = std::make_shared<recording_output::shared>();
    sink.add_output(std::make_unique<recording_output>(recorded, std::chrono::microseconds(0)));
    sink.open();
    constexpr int burst = 500;
    int flushes_after_one = -1;
    int flushes_in_burst = -1;
    double burst_ms = 0;
    std::exception_ptr error;
    const auto page = [](int id) {
        return make_page("http://127.0.0.1/api/products/" + std::to_string(id),
                         product_body(id, 0));
    };
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            // One page and then silence: it still reaches the output without another message.
            co_await sink.on_success(page(0));
            asio::steady_timer timer(io);
            for (int i = 0; i < 500 && recorded->flushes.load() == 0; ++i) {
                timer.expires_after(std::chrono::milliseconds(10));
                co_await timer.async_wait(asio::use_awaitable);
            }
            flushes_after_one = recorded->flushes.load();
            // A burst from one coroutine on one thread: the channel runs dry after every page.
            const auto start = std::chrono::steady_clock::now();
            for (int id = 1; id <= burst; ++id) {
                co_await sink.on_success(page(id));
            }
            burst_ms =
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                    .count();
            flushes_in_burst = recorded->flushes.load() - flushes_after_one;
            co_await sink.close();
        },
        [&](std::exception_ptr e) { error = e; });
    io.run_for(std::chrono::seconds(60));
    REQUIRE_FALSE(error);
    CHECK(flushes_after_one >= 1);
    // At most one flush per 20 ms and one commit per 100 ms, plus the edges; it was one per page.
    CHECK(flushes_in_burst <= static_cast<int>(burst_ms / 20 + burst_ms / 100) + 3);
    CHECK(recorded->written.load() == burst + 1);
}

TEST_CASE("pipeline_sink: construction, open and misuse errors", "[unit][pipeline_sink]") {
    temp_dir dir;
    asio::io_context io;
    SECTION("a webhook output is accepted and opens nothing before it is opened") {
        output_spec webhook;
        webhook.type = output_type::webhook;
        webhook.url = "http://127.0.0.1:9/ingest";
        CHECK_NOTHROW(pipeline_sink(io.get_executor(), {sink_product_rule()},
                                    {jsonl_spec(dir.file("a.jsonl")), webhook}));
        CHECK_FALSE(std::filesystem::exists(dir.file("a.jsonl")));
    }
    SECTION("open names the path it could not open") {
        { std::ofstream blocker(dir.file("blocker")); }
        pipeline_sink sink(io.get_executor(), {sink_product_rule()},
                           {jsonl_spec(dir.file("blocker/items.jsonl"))});
        CHECK_THROWS_WITH(sink.open(), Catch::Contains(dir.file("blocker")));
    }
    SECTION("calls outside open() .. close() are refused") {
        pipeline_sink sink(io.get_executor(), {sink_product_rule()}, {});
        std::exception_ptr error;
        asio::co_spawn(io, sink.on_success(make_page("http://127.0.0.1/api/products/1", "{}")),
                       [&](std::exception_ptr e, crawl::sink_result) { error = e; });
        io.run_for(std::chrono::seconds(10));
        CHECK(error != nullptr);
    }
    SECTION("an opened sink destroyed without close() stops its writer and closes outputs") {
        auto recorded = std::make_shared<recording_output::shared>();
        {
            pipeline_sink sink(io.get_executor(), {sink_product_rule()}, {});
            sink.add_output(
                std::make_unique<recording_output>(recorded, std::chrono::microseconds(0)));
            sink.open();
            io.poll();
        }
        io.run_for(std::chrono::seconds(10));
        CHECK(recorded->closed.load());
    }
}

namespace {

// A custom extractor that records the thread it ran on, optionally burns CPU (thread time, so a
// sanitizer build burns the same), and throws on a URL containing "/boom".
class thread_recording_extractor final : public extractor {
  public:
    explicit thread_recording_extractor(std::chrono::microseconds burn) : burn_(burn) {}

    result extract(const crawl::fetched_page& page, std::vector<item>&) const override {
        if (burn_.count() > 0) {
            const auto cpu = [] {
                timespec now{};
                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
                return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
            };
            const auto start = cpu();
            while (cpu() - start < burn_) {
            }
        }
        {
            const std::lock_guard lock(mutex_);
            threads_.push_back(std::this_thread::get_id());
        }
        if (page.request.http.url.find("/boom") != std::string::npos) {
            throw std::runtime_error("boom from the pool");
        }
        return {};
    }

    std::vector<std::thread::id> threads() const {
        const std::lock_guard lock(mutex_);
        return threads_;
    }

  private:
    std::chrono::microseconds burn_;
    mutable std::mutex mutex_;
    mutable std::vector<std::thread::id> threads_;
};

struct pool_run {
    std::vector<std::thread::id> resumed_on;  // the caller's thread after each on_success
    std::size_t links = 0;
    bool boom_thrown = false;
    std::string boom_what;
};

// `pages` product pages through on_success from 4 coroutines on `io` (run by the calling thread
// only), then a page whose custom extraction throws, then close().
pool_run run_on_one_thread(asio::io_context& io, pipeline_sink& sink, int pages) {
    pool_run run;
    std::atomic<int> remaining{4};
    std::exception_ptr error;
    const auto producer = [&](int first) -> asio::awaitable<void> {
        for (int id = first; id < pages; id += 4) {
            const auto found = co_await sink.on_success(make_page(
                "http://127.0.0.1/api/products/" + std::to_string(id), product_body(id, first)));
            run.resumed_on.push_back(std::this_thread::get_id());
            run.links += found.links.size();
        }
    };
    const auto finish = [&]() -> asio::awaitable<void> {
        try {
            (void)co_await sink.on_success(
                make_page("http://127.0.0.1/api/products/boom", product_body(99999, 0)));
        } catch (const std::runtime_error& e) {
            run.boom_thrown = true;
            run.boom_what = e.what();
        }
        run.resumed_on.push_back(std::this_thread::get_id());
        co_await sink.close();
    };
    for (int p = 0; p < 4; ++p) {
        asio::co_spawn(io, producer(p), [&](std::exception_ptr e) {
            if (e) {
                error = e;
            }
            if (--remaining == 0) {
                asio::co_spawn(io, finish(), [&](std::exception_ptr e2) {
                    if (e2) {
                        error = e2;
                    }
                });
            }
        });
    }
    io.run_for(std::chrono::seconds(120));
    if (error) {
        std::rethrow_exception(error);
    }
    return run;
}

// Opens `sink` on a one-thread io_context, with `recorder` after its rules and `pool` for the
// pages whose extraction costs at least `offload_above`.
void open_with_pool(pipeline_sink& sink, std::shared_ptr<const extractor> recorder,
                    asio::thread_pool& pool, std::chrono::nanoseconds offload_above) {
    sink.add_extractor(std::move(recorder));
    sink.set_single_thread_io(true);
    sink.set_extract_executor(pool.get_executor(), offload_above);
    sink.open();
}

}  // namespace

TEST_CASE("pipeline_sink: an extraction pool extracts costly pages, the caller resumes at home",
          "[unit][pipeline_sink]") {
    temp_dir dir;
    const std::string items_path = dir.file("items.jsonl");
    asio::io_context io(1);
    asio::thread_pool pool(2);
    const auto home = std::this_thread::get_id();

    SECTION("offload_above 0: every page goes to the pool; items, order and errors as without") {
        pipeline_sink sink(io.get_executor(), {sink_product_rule()}, {jsonl_spec(items_path)}, 16);
        auto recorder = std::make_shared<thread_recording_extractor>(std::chrono::microseconds(0));
        open_with_pool(sink, recorder, pool, std::chrono::nanoseconds(0));
        const pool_run run = run_on_one_thread(io, sink, 400);

        CHECK(sink.pages_offloaded() == 401);
        const auto ran_on = recorder->threads();
        REQUIRE(ran_on.size() == 401);
        CHECK(std::count(ran_on.begin(), ran_on.end(), home) == 0);
        REQUIRE(run.resumed_on.size() == 401);
        CHECK(std::count(run.resumed_on.begin(), run.resumed_on.end(), home) == 401);
        // The extractor's exception reaches the caller, on its thread; the crawl goes on.
        CHECK(run.boom_thrown);
        CHECK(run.boom_what == "boom from the pool");
        CHECK(sink.stats().items_emitted.load() == 400);
        const auto lines = lines_of(read_file(items_path));
        REQUIRE(lines.size() == 400);
        std::vector<int> seen(400, 0);
        for (const auto& line : lines) {
            const auto id = boost::json::parse(line).as_object().at("id").as_int64();
            REQUIRE(id >= 0);
            REQUIRE(id < 400);
            ++seen[static_cast<std::size_t>(id)];
        }
        CHECK(std::count(seen.begin(), seen.end(), 1) == 400);
    }

    SECTION("pages cheaper than the threshold stay on the calling thread") {
        pipeline_sink sink(io.get_executor(), {sink_product_rule()}, {jsonl_spec(items_path)}, 16);
        auto recorder = std::make_shared<thread_recording_extractor>(std::chrono::microseconds(0));
        open_with_pool(sink, recorder, pool, std::chrono::seconds(1));
        const pool_run run = run_on_one_thread(io, sink, 200);
        CHECK(sink.pages_offloaded() == 0);
        const auto ran_on = recorder->threads();
        CHECK(std::count(ran_on.begin(), ran_on.end(), home) == 201);
        CHECK(run.boom_thrown);
        CHECK(lines_of(read_file(items_path)).size() == 200);
    }

    SECTION("costly pages move to the pool once the measured average says so") {
        pipeline_sink sink(io.get_executor(), {sink_product_rule()}, {jsonl_spec(items_path)}, 16);
        // 400 µs of CPU a page against a 100 µs threshold: the average of the timed pages
        // (every 8th, weight 1/16) passes it by the 5th timed page, the 33rd page; sooner in a
        // sanitizer build, where the JSON rule's own extraction adds to the 400 µs.
        auto recorder =
            std::make_shared<thread_recording_extractor>(std::chrono::microseconds(400));
        open_with_pool(sink, recorder, pool, std::chrono::microseconds(100));
        const pool_run run = run_on_one_thread(io, sink, 120);
        const auto ran_on = recorder->threads();
        REQUIRE(ran_on.size() == 121);
        // The first pages ran at home, before the average knew better; most ran on the pool.
        CHECK(ran_on.front() == home);
        CHECK(sink.pages_offloaded() >= 60);
        CHECK(sink.pages_offloaded() < 121);
        CHECK(std::count(ran_on.begin(), ran_on.end(), home) ==
              static_cast<long>(121 - sink.pages_offloaded()));
        CHECK(std::count(run.resumed_on.begin(), run.resumed_on.end(), home) == 121);
        CHECK(lines_of(read_file(items_path)).size() == 120);
    }
    pool.join();
}

namespace {

// An output that keeps every record it is given: JSON lines, or the items' append_json text
// when it takes items (one record per item either way), optionally failing.
class record_keeping_output final : public output {
  public:
    struct shared {
        std::mutex mutex;
        std::string records;
        std::uint64_t items = 0;
        std::atomic<bool> misused{false};  // a lines output given objects, or the reverse
    };
    record_keeping_output(std::shared_ptr<shared> state, bool lines, bool fail)
        : state_(std::move(state)), lines_(lines), fail_(fail) {}

    std::string_view name() const override { return lines_ ? "lines" : "objects"; }
    bool writes_json_lines() const noexcept override { return lines_; }
    void write_json_lines(std::string_view lines, std::size_t count) override {
        if (!lines_) {
            state_->misused.store(true);
        }
        if (fail_) {
            throw std::system_error(std::make_error_code(std::errc::no_space_on_device), "test");
        }
        std::lock_guard lock(state_->mutex);
        state_->records.append(lines);
        state_->items += count;
    }
    void write(const item& value) override {
        if (lines_) {
            state_->misused.store(true);  // a lines output is never handed objects
        }
        std::lock_guard lock(state_->mutex);
        append_json(state_->records, value);
        state_->records.push_back('\n');
        ++state_->items;
    }
    void flush() override {}
    void close() override {}

  private:
    std::shared_ptr<shared> state_;
    bool lines_;
    bool fail_;
};

}  // namespace

TEST_CASE("pipeline_sink: JSON lines rendered where pages are extracted are the items' text",
          "[unit][pipeline_sink]") {
    // A lines output alone (the items are freed where they were extracted), beside an output
    // that takes the items as objects, and failing: the same records, counted per item.
    for (const bool with_objects : {false, true}) {
        for (const bool failing : {false, true}) {
            INFO("with an objects output " << with_objects << ", failing " << failing);
            temp_dir dir;
            asio::io_context io;
            pipeline_sink sink(io.get_executor(), {sink_product_rule()},
                               {jsonl_spec(dir.file("items.jsonl"))}, 16);
            auto lines = std::make_shared<record_keeping_output::shared>();
            auto objects = std::make_shared<record_keeping_output::shared>();
            sink.add_output(std::make_unique<record_keeping_output>(lines, true, failing));
            if (with_objects) {
                sink.add_output(std::make_unique<record_keeping_output>(objects, false, false));
            }
            sink.open();
            // Two producers on two threads, with items missing their id and malformed pages
            // among them (no items, but their requests complete through the writer too).
            run_producers(io, sink,
                          {workload{0, 300, 1, 7, 11, 0}, workload{1000, 300, 2, 5, 0, 0}});
            const auto& stats = sink.stats();
            REQUIRE(stats.outputs.size() == (with_objects ? 3u : 2u));
            CHECK(stats.items_emitted.load() == 600);
            const std::string file = read_file(dir.file("items.jsonl"));
            CHECK(lines_of(file).size() == 600);
            CHECK(stats.outputs[0].written.load() == 600);
            if (failing) {
                CHECK(stats.outputs[1].written.load() == 0);
                CHECK(stats.outputs[1].failed.load() == 600);
                CHECK(lines->records.empty());
            } else {
                CHECK(stats.outputs[1].written.load() == 600);
                CHECK(lines->items == 600);
                // The writer hands both the same pages in the same order.
                CHECK(lines->records == file);
            }
            if (with_objects) {
                CHECK(stats.outputs[2].written.load() == 600);
                CHECK(objects->items == 600);
                CHECK(objects->records == file);  // the same text, rendered by the writer
            }
            for (const auto& line : lines_of(file)) {
                const auto parsed = boost::json::parse(line).as_object();
                CHECK(parsed.at("id").is_int64());
            }
            CHECK(stats.queue_depth.load() == 0);
            CHECK(!lines->misused.load());
            CHECK(!objects->misused.load());
        }
    }
}
