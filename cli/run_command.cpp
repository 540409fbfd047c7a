#include "cli/run_command.hpp"

#include "config/crawl_config.hpp"
#include "config/loader.hpp"
#include "config/seed_specs.hpp"
#include "config/service_config.hpp"
#include "engine/crawl/crawler.hpp"
#include "engine/crawl/journal.hpp"
#include "engine/metrics/crawl_metrics.hpp"
#include "engine/metrics/http/metrics_server.hpp"
#include "engine/metrics/process_metrics.hpp"
#include "engine/metrics/registry.hpp"
#include "engine/redis/redis_backend.hpp"
#include "pipelines/item.hpp"
#include "pipelines/outputs/error_stream.hpp"
#include "pipelines/outputs/output.hpp"
#include "pipelines/pipeline_sink.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <span>
#include <thread>

namespace harvest::cli {
namespace asio = boost::asio;
namespace {

std::uint64_t peak_rss_bytes() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

struct run_figures {
    std::string crawl;
    double elapsed_seconds = 0;
    const crawl::crawl_stats* stats = nullptr;
    const pipelines::pipeline_stats* items = nullptr;
    // Stopped by SIGINT/SIGTERM rather than finished: how to go on (empty: not stopped).
    std::string stopped_hint;
};

boost::json::object stats_object(const run_figures& figures) {
    const auto& s = *figures.stats;
    boost::json::object responses;
    for (auto [code, n] : s.responses()) {
        responses[std::to_string(code)] = n;
    }
    boost::json::object failed;
    for (const auto& [kind, n] : s.failures()) {
        failed[kind] = n;
    }
    boost::json::object errors;
    for (const auto& [kind, n] : s.transport_errors()) {
        errors[kind] = n;
    }
    boost::json::object out;
    out["crawl"] = figures.crawl;
    out["elapsed_seconds"] = figures.elapsed_seconds;
    out["requests"] = s.requests.load();
    out["responses"] = std::move(responses);
    out["request_errors"] = std::move(errors);
    out["retries"] = s.retries.load();
    out["retry_after_waits"] = s.retry_after_waits.load();
    out["retry_budget_exhausted"] = s.retry_budget_exhausted.load();
    out["failed"] = std::move(failed);
    out["items"] = boost::json::object{{"emitted", figures.items->items_emitted.load()},
                                       {"invalid", figures.items->items_invalid.load()},
                                       {"error", figures.items->items_error.load()}};
    boost::json::object outputs;  // items written (for a webhook: delivered) and failed
    for (const auto& output : figures.items->outputs) {
        outputs[output.name] = boost::json::object{{"written", output.written.load()},
                                                   {"failed", output.failed.load()}};
    }
    out["outputs"] = std::move(outputs);
    out["dedup_skipped"] = s.dedup_skipped.load();
    out["redirect_duplicates"] = s.redirect_duplicates.load();
    out["robots_disallowed"] = s.robots_disallowed.load();
    out["breaker"] = boost::json::object{{"opened", s.breaker_opened.load()},
                                         {"short_circuited", s.short_circuited.load()}};
    out["frontier"] =
        boost::json::object{{"queued", s.queued.load()},
                            {"spilled", s.frontier_spilled.load()},
                            {"spill_bytes_peak", s.frontier_spill_bytes_peak.load()},
                            {"memory_bytes_peak", s.frontier_memory_bytes_peak.load()},
                            {"dedup_bytes", s.dedup_bytes.load()}};
    out["bytes_received"] = s.bytes_received.load();
    out["peak_rss_bytes"] = peak_rss_bytes();
    return out;
}

void print_summary(const run_figures& figures) {
    const auto& s = *figures.stats;
    const double rate = figures.elapsed_seconds > 0
                            ? static_cast<double>(s.requests) / figures.elapsed_seconds
                            : 0.0;
    std::string codes;
    for (auto [code, n] : s.responses()) {
        codes += (codes.empty() ? "" : ", ") + std::to_string(code) + ": " + std::to_string(n);
    }
    std::string failed;
    for (const auto& [kind, n] : s.failures()) {
        failed += (failed.empty() ? "" : ", ") + kind + ": " + std::to_string(n);
    }
    const std::string ended = figures.stopped_hint.empty()
                                  ? "finished in"
                                  : "stopped (" + figures.stopped_hint + ") after";
    std::fprintf(stderr,
                 "crawl %s %s %.2f s\n"
                 "  requests      %llu (%.0f/s), responses {%s}\n"
                 "  retries       %llu (Retry-After waits %llu)\n"
                 "  failed        %llu {%s}\n"
                 "  items         %llu emitted, %llu invalid, %llu error\n"
                 "  dedup skipped %llu, breaker opened %llu, short-circuited %llu\n"
                 "  received      %.1f MiB, peak RSS %.1f MiB\n",
                 figures.crawl.c_str(), ended.c_str(), figures.elapsed_seconds,
                 static_cast<unsigned long long>(s.requests.load()), rate, codes.c_str(),
                 static_cast<unsigned long long>(s.retries.load()),
                 static_cast<unsigned long long>(s.retry_after_waits.load()),
                 static_cast<unsigned long long>(s.failed_total.load()), failed.c_str(),
                 static_cast<unsigned long long>(figures.items->items_emitted.load()),
                 static_cast<unsigned long long>(figures.items->items_invalid.load()),
                 static_cast<unsigned long long>(figures.items->items_error.load()),
                 static_cast<unsigned long long>(s.dedup_skipped.load()),
                 static_cast<unsigned long long>(s.breaker_opened.load()),
                 static_cast<unsigned long long>(s.short_circuited.load()),
                 static_cast<double>(s.bytes_received.load()) / (1 << 20),
                 static_cast<double>(peak_rss_bytes()) / (1 << 20));
    // Every output gets every item: one that wrote fewer says so, and why.
    const auto emitted = figures.items->items_emitted.load();
    for (const auto& output : figures.items->outputs) {
        const auto written = output.written.load();
        const auto failed = output.failed.load();
        if (failed == 0 && written >= emitted) {
            continue;
        }
        const auto reason = output.last_failure();
        std::fprintf(stderr, "  output %s: %llu written, %llu failed%s\n", output.name.c_str(),
                     static_cast<unsigned long long>(written),
                     static_cast<unsigned long long>(failed),
                     reason.empty() ? "" : (" (last: " + reason + ")").c_str());
    }
}

// One status line, redrawn in place at most 4 times a second.
constexpr auto progress_redraw_interval = std::chrono::milliseconds(250);

// Stops at the end of the crawl (`finished`), before the summary and any metrics.linger.
asio::awaitable<void> draw_progress(const crawl::crawler& crawler,
                                    const pipelines::pipeline_stats& items,
                                    std::chrono::steady_clock::time_point started,
                                    const std::atomic<bool>& finished) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    std::uint64_t last_requests = 0;
    auto last = started;
    for (;;) {
        timer.expires_after(progress_redraw_interval);
        auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec || finished.load()) {
            co_return;
        }
        const auto& s = crawler.stats();
        const auto now = std::chrono::steady_clock::now();
        const double dt = std::chrono::duration<double>(now - last).count();
        const std::uint64_t requests = s.requests.load();
        std::fprintf(stderr,
                     "\r\033[K%6.1fs  %7.0f req/s  items %llu  errors %llu  in flight %llu  "
                     "queued %llu  open breakers %llu",
                     std::chrono::duration<double>(now - started).count(),
                     dt > 0 ? static_cast<double>(requests - last_requests) / dt : 0.0,
                     static_cast<unsigned long long>(items.items_emitted.load()),
                     static_cast<unsigned long long>(s.failed_total.load()),
                     static_cast<unsigned long long>(s.in_flight.load()),
                     static_cast<unsigned long long>(s.queued.load()),
                     static_cast<unsigned long long>(s.open_breakers.load()));
        std::fflush(stderr);
        last_requests = requests;
        last = now;
    }
}

// Everything `metrics.listen` turns on: the registry, the crawl's metric families and the
// /metrics endpoint. Absent when metrics are off.
struct metrics_endpoint {
    metrics::registry registry;
    metrics::crawl_metrics crawl;
    metrics::metrics_server server;

    // A worker of a distributed crawl labels its series with its name, so a dashboard can sum
    // the cluster and still tell the workers apart.
    static metrics::registry::const_labels_type const_labels(const crawl::crawl_options& options) {
        metrics::registry::const_labels_type labels{{"crawl", options.name}};
        if (options.frontier.backend == crawl::frontier_options::kind::redis) {
            labels.emplace_back("worker", options.frontier.worker);
        }
        return labels;
    }

    metrics_endpoint(asio::any_io_executor executor, const crawl::crawl_options& options,
                     const pipelines::pipeline_stats& items)
        : registry(const_labels(options)),
          crawl(registry, options.host_label_limit),
          server(std::move(executor), options.metrics_listen,
                 [this] { return registry.expose(); }) {
        metrics::register_process_metrics(registry);
        metrics::register_build_info(registry);
        bind_pipeline(items);
    }

    // A worker of a distributed crawl: its link to Redis, read at scrape time.
    void bind_redis(const std::shared_ptr<redis::redis_backend>& backend) {
        crawl.redis_up.bind(
            {}, [backend]() -> std::optional<double> { return backend->redis_up() ? 1.0 : 0.0; });
        crawl.redis_reconnects.bind({}, [backend]() -> std::optional<double> {
            return static_cast<double>(backend->redis_reconnects());
        });
        crawl.redis_buffered.bind({"links"}, [backend]() -> std::optional<double> {
            return static_cast<double>(backend->buffered_links());
        });
        crawl.redis_buffered.bind({"completions"}, [backend]() -> std::optional<double> {
            return static_cast<double>(backend->buffered_completions());
        });
    }

    // The pipelines keep their own counters; the registry reads them at scrape time.
    void bind_pipeline(const pipelines::pipeline_stats& items) {
        auto read = [](const auto& counter) {
            return [&counter]() -> std::optional<double> {
                return static_cast<double>(counter.load(std::memory_order_relaxed));
            };
        };
        for (const auto type : pipelines::all_extract_types) {
            const auto& counters = items.extractors[static_cast<std::size_t>(type)];
            const std::string_view name = pipelines::to_string(type);
            crawl.items.bind({name, "emitted"}, read(counters.emitted));
            crawl.items.bind({name, "invalid"}, read(counters.invalid));
            crawl.items.bind({name, "error"}, read(counters.error));
        }
        for (const auto& output : items.outputs) {
            crawl.output_items.bind({output.name, "written"}, read(output.written));
            crawl.output_items.bind({output.name, "failed"}, read(output.failed));
            crawl.output_queue_items.bind({output.name}, [&items]() -> std::optional<double> {
                return static_cast<double>(
                    std::max<std::int64_t>(0, items.queue_depth.load(std::memory_order_relaxed)));
            });
        }
    }
};

// The end of a crawl, on the strand the signal handler runs on: the crawl's outcome is
// settled (`settle`: summary, --stats-json, exit code) and then, with metrics.listen set, /metrics
// stays up for metrics.linger so that Prometheus' next scrape sees the final counts. A signal
// that arrives from here on cuts the linger short and never changes the exit code.
struct crawl_end {
    explicit crawl_end(asio::any_io_executor strand) : linger_timer(std::move(strand)) {}

    asio::steady_timer linger_timer;  // strand only, like every member
    bool reached = false;             // the crawl is over: signals only cut the linger
    bool cut_short = false;
    int exit_code = exit_ok;

    void cut() {
        cut_short = true;
        linger_timer.cancel();
    }
};

asio::awaitable<void> settle_and_linger(crawl_end& end, std::function<int()> settle,
                                        std::chrono::milliseconds linger) {
    end.reached = true;
    end.exit_code = settle();
    if (linger <= std::chrono::milliseconds::zero() || end.cut_short) {
        co_return;
    }
    std::fprintf(stderr,
                 "harvest: /metrics stays up for %.0f s with the final values (Ctrl-C to "
                 "stop)\n",
                 std::chrono::duration<double>(linger).count());
    end.linger_timer.expires_after(linger);
    (void)co_await end.linger_timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<void> run_to_end(crawl::crawler& crawler, metrics_endpoint* endpoint,
                                 crawl_end& end, std::function<int()> settle,
                                 std::chrono::milliseconds linger) {
    co_await crawler.run();
    if (endpoint == nullptr) {
        linger = std::chrono::milliseconds::zero();
    }
    auto on_strand = settle_and_linger(end, std::move(settle), linger);
    co_await asio::co_spawn(end.linger_timer.get_executor(), std::move(on_strand),
                            asio::use_awaitable);
    if (endpoint != nullptr) {
        co_await endpoint->server.close();
    }
}

// Resume: every append-only output is cut back to the length the journal last committed (what
// came after belongs to requests that will be fetched again) and then appended to.
void resume_outputs(std::vector<pipelines::output_spec>& outputs,
                    const crawl::journal_state& recovered) {
    auto committed = [&recovered](const std::string& id) -> std::uint64_t {
        auto it = recovered.output_offsets.find(id);
        return it == recovered.output_offsets.end() ? 0 : it->second;
    };
    bool first_jsonl = true;
    for (auto& spec : outputs) {
        if (spec.type == pipelines::output_type::jsonl ||
            spec.type == pipelines::output_type::csv) {
            crawl::truncate_file(spec.path, committed(pipelines::output_id(spec)));
            spec.append = true;
        }
        if (spec.type == pipelines::output_type::jsonl && first_jsonl) {
            first_jsonl = false;
            const std::string errors = pipelines::error_stream_path(spec.path);
            crawl::truncate_file(errors, committed(pipelines::error_stream_id(errors)));
        }
        // SQLite upserts: a re-fetched item updates its row, never duplicates it.
    }
}

// `file:line:col: warning: message` for a warning, the loader's own text for an error.
std::string problem_text(const config::config_problem& problem) {
    const auto& where = problem.where;
    std::string text = where.what();
    if (problem.level == config::config_problem::severity::warning) {
        const std::string place = where.line() == 0
                                      ? where.file() + ": "
                                      : where.file() + ":" + std::to_string(where.line()) + ":" +
                                            std::to_string(where.column()) + ": ";
        text.insert(place.size(), "warning: ");
    }
    return text;
}

std::string count_text(std::size_t n, const char* what) {
    return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

}  // namespace

int check_config(const std::string& config_path) {
    const auto report = config::check_config_file(config_path);
    for (const auto& problem : report.problems) {
        std::fprintf(stderr, "%s\n", problem_text(problem).c_str());
    }
    const std::size_t errors = report.errors();
    const std::size_t warnings = report.warnings();
    const std::string warned = warnings == 0 ? "" : ", " + count_text(warnings, "warning");
    if (errors == 0) {
        const auto& config = report.config;
        std::fprintf(stdout, "%s: valid (crawl %s, %zu seeds, %zu extract rules, %zu outputs%s)\n",
                     config_path.c_str(), config.crawl.name.c_str(), config.seeds.size(),
                     config.extract.size(), config.outputs.size(), warned.c_str());
        return exit_ok;
    }
    std::fprintf(stderr, "%s: %s%s\n", config_path.c_str(), count_text(errors, "error").c_str(),
                 warned.c_str());
    try {  // A valid service config checked as a crawl config: say which check it wants.
        (void)config::load_service_config(config_path);
        std::fprintf(stderr,
                     "%s is a valid service config (harvest serve --config); check it with "
                     "harvest check --serve %s\n",
                     config_path.c_str(), config_path.c_str());
    } catch (const config::config_error&) {
    }
    return exit_usage;
}

int run_crawl(const run_arguments& args) {
    config::crawl_config config;
    try {
        config = config::load_config(args.config_path, args.overrides);
    } catch (const config::config_error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return exit_usage;
    }

    const unsigned threads = config.crawl.engine.threads != 0
                                 ? config.crawl.engine.threads
                                 : std::max(1u, std::thread::hardware_concurrency());
    asio::io_context io(static_cast<int>(threads));
    config.crawl.engine.single_thread_io = threads == 1;  // io.run() below, on this thread only
#if defined(__GLIBC__) && !defined(HARVEST_WITH_MIMALLOC)
    // glibc hands a thread that meets a locked arena another one, up to 8 per core. A crawl
    // allocates on every engine thread and frees on others (links found by a fetch, queued by
    // the scheduler), and memory freed into a spare arena is kept for threads that no longer
    // come. One arena per engine thread: a 5,000,000-link frontier peaked at 395 MB instead of
    // 412 MB (bench/frontier_bench.sh), with no change in requests/s measured.
    mallopt(M_ARENA_MAX, static_cast<int>(threads));
#endif

    // The state journal: what entered the frontier and what completed, for --resume.
    const std::string state_dir = !config.crawl.state_dir.empty()
                                      ? config.crawl.state_dir
                                      : (std::filesystem::path(config.source_path).parent_path() /
                                         ".harvest" / config.crawl.name)
                                            .string();
    config.crawl.state_dir = state_dir;  // the frontier spills under it (engine.frontier_memory)
    std::unique_ptr<crawl::journal> journal;
    crawl::journal_state recovered;
    if (!config.crawl.journal && args.resume) {
        std::fprintf(stderr, "%s: --resume needs the state journal, but state.journal is false\n",
                     args.config_path.c_str());
        return exit_usage;
    }
    // frontier.backend: redis — the shared frontier is the crawl's state: no local journal.
    const bool distributed = config.crawl.frontier.backend == crawl::frontier_options::kind::redis;
    if (distributed) {
        if (args.resume) {
            std::fprintf(stderr,
                         "harvest: --resume is not supported with frontier.backend: redis "
                         "(start the worker again: the crawl continues from Redis)\n");
            return exit_usage;
        }
        const char* worker = std::getenv("HARVEST_WORKER");
        config.crawl.frontier.worker = worker != nullptr && *worker != '\0'
                                           ? std::string(worker)
                                           : redis::default_worker_name();
    } else if (!config.crawl.journal) {
        // Nothing is recorded (measuring the journal's cost): this run cannot be resumed.
        spdlog::info("state.journal is false: this run cannot be resumed");
    }
    if (!distributed && config.crawl.journal) {
        try {
            journal = std::make_unique<crawl::journal>(state_dir, config.crawl.name, args.resume);
            if (args.resume) {
                recovered = journal->take_recovered_state();
                resume_outputs(config.outputs, recovered);
                spdlog::info("resuming from {}: {} completed, {} pending", state_dir,
                             recovered.completed_count, recovered.pending.size());
            }
        } catch (const std::exception& e) {
            std::fprintf(stderr, "harvest: cannot start: state journal in %s: %s\n",
                         state_dir.c_str(), e.what());
            return exit_cannot_start;
        }
    }

    crawl::seed_stream seeds(config::to_seed_specs(config.seeds));
    std::shared_ptr<pipelines::pipeline_sink> sink;
    try {
        sink = std::make_shared<pipelines::pipeline_sink>(io.get_executor(), config.extract,
                                                          config.follow, config.outputs);
        sink->set_single_thread_io(config.crawl.engine.single_thread_io);
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "%s: %s\n", args.config_path.c_str(), e.what());
        return exit_usage;
    }
    std::shared_ptr<redis::redis_backend> shared;
    try {
        seeds.open();
        if (distributed) {
            // The seeds go to the shared frontier (loaded by the first worker only).
            shared = std::make_shared<redis::redis_backend>(config.crawl, std::move(seeds));
            seeds = crawl::seed_stream({});
        }
        if (journal) {
            sink->set_commit_listener(
                [log = journal.get()](std::span<const std::uint64_t> completed,
                                      std::span<const crawl::output_offset> sizes) {
                    log->commit(completed, sizes);
                });
        } else if (shared) {
            // A request is completed in Redis only once its items are written: a worker killed
            // with items still queued leaves them to be fetched again, never lost.
            sink->set_commit_listener(
                [backend = shared](std::span<const std::uint64_t> completed,
                                   std::span<const crawl::output_offset>) {
                    backend->written(completed);
                },
                /*prompt=*/true);
        }
        sink->open();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "harvest: cannot start: %s\n", e.what());
        return exit_cannot_start;
    }

    std::unique_ptr<metrics_endpoint> endpoint;
    if (!config.crawl.metrics_listen.empty()) {
        try {
            endpoint =
                std::make_unique<metrics_endpoint>(io.get_executor(), config.crawl, sink->stats());
            endpoint->server.start();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "harvest: cannot start the metrics endpoint: %s\n", e.what());
            return exit_cannot_start;
        }
        spdlog::info("metrics on http://{}/metrics", config.crawl.metrics_listen);
    }

    if (endpoint && shared) {
        endpoint->bind_redis(shared);
    }
    if (config.crawl.http_cache.mode != crawl::http_cache_options::kind::off) {
        if (config.crawl.http_cache.dir.empty()) {
            config.crawl.http_cache.dir = (std::filesystem::path(state_dir) / "cache").string();
        }
        // Made here, so that a folder harvest may not write in stops the run before it starts.
        std::error_code made;
        std::filesystem::create_directories(config.crawl.http_cache.dir, made);
        if (made) {
            std::fprintf(stderr, "harvest: cannot start: http.cache.dir %s: %s\n",
                         config.crawl.http_cache.dir.c_str(), made.message().c_str());
            return exit_cannot_start;
        }
    }
    crawl::crawler crawler(io, config.crawl, sink, std::move(seeds),
                           endpoint ? &endpoint->crawl : nullptr, journal.get());
    if (shared) {
        crawler.set_shared_backend(shared);
    }
    if (args.resume) {
        crawler.restore(std::move(recovered));
    }
    const auto started = std::chrono::steady_clock::now();
    const bool show_progress =
        args.progress == progress_mode::always ||
        (args.progress == progress_mode::automatic && isatty(STDERR_FILENO) != 0);

    // First SIGINT/SIGTERM: drain. Second: leave at once. Once the crawl is over, any signal
    // ends metrics.linger (gracefully, then at once) and exits with the crawl's own code.
    std::atomic<int> signals_seen{0};
    const asio::any_io_executor end_strand = asio::make_strand(io);
    crawl_end end(end_strand);
    asio::signal_set signals(end_strand, SIGINT, SIGTERM);
    std::function<void(const boost::system::error_code&, int)> on_signal =
        [&](const boost::system::error_code& ec, int signal_number) {
            if (ec) {
                return;
            }
            if (end.reached) {
                if (end.cut_short) {
                    std::_Exit(end.exit_code);
                }
                end.cut();
                signals.async_wait(on_signal);
                return;
            }
            if (signals_seen.fetch_add(1) > 0) {
                std::fprintf(stderr, "\nharvest: second signal, exiting now\n");
                std::_Exit(exit_interrupted);
            }
            spdlog::warn("signal {}: stopping, letting in-flight requests finish", signal_number);
            crawler.stop();
            signals.async_wait(on_signal);
        };
    signals.async_wait(on_signal);

    std::atomic<bool> crawl_finished{false};
    // Once the crawl is over and before metrics.linger: the summary, --stats-json and the exit
    // code, so that what the run reports never waits for the linger.
    std::function<int()> settle = [&]() -> int {
        crawl_finished.store(true);
        if (show_progress) {
            std::fprintf(stderr, "\n");
        }
        if (shared && shared->failed()) {
            std::fprintf(stderr,
                         "harvest: the Redis frontier failed; this worker's crawl is "
                         "incomplete (its unfinished requests go to the other workers)\n");
            return exit_failed;
        }
        run_figures figures{
            config.crawl.name,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
            &crawler.stats(), &sink->stats(), std::string()};
        if (signals_seen.load() > 0) {
            figures.stopped_hint = config.crawl.journal
                                       ? "resume with --resume"
                                       : "state.journal is off: a new run starts over";
        }
        print_summary(figures);
        if (!args.stats_json.empty()) {
            std::ofstream out(args.stats_json, std::ios::trunc);
            auto stats = stats_object(figures);
            if (distributed) {
                stats["worker"] = config.crawl.frontier.worker;  // one of several: tell them apart
            }
            std::string line;
            pipelines::append_json(line, boost::json::value(std::move(stats)));  // not 1.999E1
            out << line << '\n';
            if (!out.flush()) {
                spdlog::error("cannot write {}", args.stats_json);
            }
        }
        return signals_seen.load() > 0 ? exit_interrupted : exit_ok;
    };
    std::exception_ptr failure;
    asio::co_spawn(
        io,
        run_to_end(crawler, endpoint.get(), end, std::move(settle), config.crawl.metrics_linger),
        [&](const std::exception_ptr& error) {
            failure = error;
            io.stop();  // leaves the signal_set's wait behind: nothing runs it
        });
    if (show_progress) {
        asio::co_spawn(io, draw_progress(crawler, sink->stats(), started, crawl_finished),
                       asio::detached);
    }

    std::vector<std::thread> pool;
    for (unsigned i = 1; i < threads; ++i) {
        pool.emplace_back([&io] { io.run(); });
    }
    io.run();
    for (auto& t : pool) {
        t.join();
    }
    if (failure) {
        if (show_progress && !crawl_finished.load()) {
            std::fprintf(stderr, "\n");
        }
        try {
            std::rethrow_exception(failure);
        } catch (const std::exception& e) {
            spdlog::critical("crawl aborted: {}", e.what());
        }
        return exit_failed;
    }

    return end.exit_code;
}

}  // namespace harvest::cli
