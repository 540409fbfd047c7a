#include "session/crawl_session.hpp"

#include "config/seed_specs.hpp"
#include "engine/crawl/crawler.hpp"
#include "engine/crawl/journal.hpp"
#include "engine/metrics/crawl_metrics.hpp"
#include "engine/metrics/http/metrics_server.hpp"
#include "engine/metrics/process_metrics.hpp"
#include "engine/metrics/registry.hpp"
#include "engine/redis/redis_backend.hpp"
#include "engine/render/browser_pool.hpp"
#include "pipelines/outputs/error_stream.hpp"
#include "pipelines/outputs/output.hpp"
#include "pipelines/pipeline_sink.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <span>
#include <thread>

namespace harvest::session {
namespace asio = boost::asio;
namespace {

// What the Redis frontier is told of the crawl: its name, `frontier:`, and the rates it leases by.
redis::backend_options redis_options_of(const crawl::crawl_options& crawl) {
    redis::backend_options out;
    out.name = crawl.name;
    out.frontier = crawl.frontier;
    out.concurrency = crawl.engine.concurrency;
    out.obey_robots_txt = crawl.engine.obey_robots_txt;
    out.per_host = crawl.rate_limit.per_host;
    for (const auto& [host, overrides] : crawl.hosts) {
        out.hosts.emplace(host, overrides.rate_limit);
    }
    return out;
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
    int exit_code = 0;

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
    end.linger_timer.expires_after(linger);
    (void)co_await end.linger_timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<void> run_to_end(crawl::crawler& crawler, metrics_endpoint* endpoint,
                                 render::browser_pool* renderer, crawl_end& end,
                                 std::function<int()> settle, std::chrono::milliseconds linger) {
    co_await crawler.run();
    if (renderer != nullptr) {
        co_await renderer->close();  // no browser outlives the crawl (nor waits for the linger)
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

}  // namespace

// Members are declared in the order they are built, and destroyed in reverse: the crawler and
// the endpoint before the sink, the journal and the io_context they use.
struct crawl_session::impl {
    impl(config::crawl_config loaded, session_options flags, unsigned thread_count)
        : config(std::move(loaded)),
          options(std::move(flags)),
          threads(thread_count),
          network_threads(std::min(config.crawl.engine.network_threads, thread_count)),
          io(1),
          end_strand(asio::make_strand(io)),
          end(end_strand) {
        // io.run() below, on one thread: the crawl needs no strands. With more network threads
        // the crawler runs network shards (engine/crawl/network_shards.hpp), `io` the first.
        // The other engine threads extract pages (pipeline_sink::set_extract_executor).
        config.crawl.engine.single_thread_io = true;
        config.crawl.engine.network_shards = network_threads;
        if (threads > network_threads) {
            extract_pool.emplace(threads - network_threads);
        }
    }

    config::crawl_config config;
    session_options options;
    unsigned threads;
    unsigned network_threads;  // of `threads`; at least 1
    asio::io_context io;
    std::optional<asio::thread_pool> extract_pool;  // the engine threads not on the network
    asio::any_io_executor end_strand;
    crawl_end end;
    std::unique_ptr<crawl::journal> journal;
    std::shared_ptr<pipelines::pipeline_sink> pipeline;  // null for a probe
    std::shared_ptr<redis::redis_backend> shared;
    std::unique_ptr<metrics_endpoint> endpoint;
    std::shared_ptr<render::browser_pool> renderer;  // render: rules only
    std::unique_ptr<crawl::crawler> crawler;
    std::optional<asio::signal_set> signals;
    std::optional<asio::signal_set> reload_signals;  // SIGHUP: proxies_file, when there is one
    std::function<void(const boost::system::error_code&, int)> on_reload;
    std::function<void(const boost::system::error_code&, int)> on_signal;
    std::atomic<bool> stopped{false};
    std::atomic<int> signals_seen{0};

    void open();
    void handle_signals();
    void start_renderer(metrics::crawl_metrics* crawl_metrics);
};

void crawl_session::impl::open() {
    const std::string& config_path = config.source_path;
    // The state journal: what entered the frontier and what completed, for --resume.
    const std::string state_dir = !config.crawl.state_dir.empty()
                                      ? config.crawl.state_dir
                                      : (std::filesystem::path(config.source_path).parent_path() /
                                         ".harvest" / config.crawl.name)
                                            .string();
    config.crawl.state_dir = state_dir;  // the frontier spills under it (engine.frontier_memory)
    crawl::journal_state recovered;
    if (!config.crawl.journal && options.resume) {
        throw session_error(
            session_error::kind::usage,
            config_path + ": --resume needs the state journal, but state.journal is false");
    }
    // frontier.backend: redis — the shared frontier is the crawl's state: no local journal.
    const bool distributed = config.crawl.frontier.backend == crawl::frontier_options::kind::redis;
    if (distributed) {
        if (options.resume) {
            throw session_error(session_error::kind::usage,
                                "harvest: --resume is not supported with frontier.backend: redis "
                                "(start the worker again: the crawl continues from Redis)");
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
            journal =
                std::make_unique<crawl::journal>(state_dir, config.crawl.name, options.resume);
            if (options.resume) {
                recovered = journal->take_recovered_state();
                resume_outputs(config.outputs, recovered);
                spdlog::info("resuming from {}: {} completed, {} pending", state_dir,
                             recovered.completed_count, recovered.pending.size());
            }
        } catch (const std::exception& e) {
            throw session_error(
                session_error::kind::cannot_start,
                "harvest: cannot start: state journal in " + state_dir + ": " + e.what());
        }
    }

    crawl::seed_stream seeds(config::to_seed_specs(config.seeds));
    try {
        pipeline = std::make_shared<pipelines::pipeline_sink>(io.get_executor(), config.extract,
                                                              config.follow, config.outputs);
        pipeline->set_single_thread_io(config.crawl.engine.single_thread_io);
        if (extract_pool) {
            pipeline->set_extract_executor(extract_pool->get_executor());
        }
    } catch (const std::invalid_argument& e) {
        throw session_error(session_error::kind::usage, config_path + ": " + e.what());
    }
    try {
        seeds.open();
        if (distributed) {
            // The seeds go to the shared frontier (loaded by the first worker only).
            shared = std::make_shared<redis::redis_backend>(redis_options_of(config.crawl),
                                                            std::move(seeds));
            seeds = crawl::seed_stream({});
        }
        if (journal) {
            pipeline->set_commit_listener(
                [log = journal.get()](std::span<const std::uint64_t> completed,
                                      std::span<const crawl::output_offset> sizes) {
                    log->commit(completed, sizes);
                });
        } else if (shared) {
            // A request is completed in Redis only once its items are written: a worker killed
            // with items still queued leaves them to be fetched again, never lost.
            pipeline->set_commit_listener(
                [backend = shared](std::span<const std::uint64_t> completed,
                                   std::span<const crawl::output_offset>) {
                    backend->written(completed);
                },
                /*prompt=*/true);
        }
        pipeline->open();
    } catch (const std::exception& e) {
        throw session_error(session_error::kind::cannot_start,
                            std::string("harvest: cannot start: ") + e.what());
    }

    if (!config.crawl.metrics_listen.empty()) {
        try {
            endpoint = std::make_unique<metrics_endpoint>(io.get_executor(), config.crawl,
                                                          pipeline->stats());
            endpoint->server.start();
        } catch (const std::exception& e) {
            throw session_error(
                session_error::kind::cannot_start,
                std::string("harvest: cannot start the metrics endpoint: ") + e.what());
        }
        spdlog::info("metrics on http://{}/metrics", config.crawl.metrics_listen);
    }

    if (endpoint && shared) {
        endpoint->bind_redis(shared);
    }
    if (config.crawl.http_cache.mode != crawl::http_cache_options::kind::off) {
        config.crawl.http_cache.dir = crawl::http_cache_dir(config.crawl);
        // Made here, so that a folder harvest may not write in stops the run before it starts.
        std::error_code made;
        std::filesystem::create_directories(config.crawl.http_cache.dir, made);
        if (made) {
            throw session_error(session_error::kind::cannot_start,
                                "harvest: cannot start: http.cache.dir " +
                                    config.crawl.http_cache.dir + ": " + made.message());
        }
    }
    crawler =
        std::make_unique<crawl::crawler>(io, config.crawl, pipeline, std::move(seeds),
                                         endpoint ? &endpoint->crawl : nullptr, journal.get());
    start_renderer(endpoint ? &endpoint->crawl : nullptr);
    if (shared) {
        crawler->set_shared_backend(shared);
    }
    if (options.resume) {
        crawler->restore(std::move(recovered));
    }
    if (options.handle_signals) {
        handle_signals();
    }
}

// render: rules: the browser pool, refused at once when there is no browser to start.
void crawl_session::impl::start_renderer(metrics::crawl_metrics* crawl_metrics) {
    if (config.crawl.render_rules.empty()) {
        return;
    }
    if (!render::chromium_available(config.crawl.render.chromium)) {
        throw session_error(session_error::kind::cannot_start,
                            "harvest: cannot start: rules render pages, but Chromium is not at " +
                                config.crawl.render.chromium +
                                " (render.chromium); install it (apt install chromium)");
    }
    renderer = std::make_shared<render::browser_pool>(io.get_executor(), config.crawl.render,
                                                      crawl_metrics);
    crawler->set_renderer(renderer);
}

// First SIGINT/SIGTERM: drain. Second: on_second_signal. Once the crawl is over, any signal
// ends metrics.linger (gracefully, then at once) and exits with the crawl's own code.
void crawl_session::impl::handle_signals() {
    signals.emplace(end_strand, SIGINT, SIGTERM);
    on_signal = [this](const boost::system::error_code& ec, int signal_number) {
        if (ec) {
            return;
        }
        if (end.reached) {
            if (end.cut_short) {
                std::_Exit(end.exit_code);
            }
            end.cut();
            signals->async_wait(on_signal);
            return;
        }
        if (signals_seen.fetch_add(1) > 0) {
            if (options.on_second_signal) {
                options.on_second_signal(signal_number);
            }
            std::_Exit(128 + signal_number);  // on_second_signal did not end the process
        }
        spdlog::warn("signal {}: stopping, letting in-flight requests finish", signal_number);
        stopped.store(true);
        crawler->stop();
        signals->async_wait(on_signal);
    };
    signals->async_wait(on_signal);
    // Without proxies_file SIGHUP keeps its default (it ends the process, as before).
    if (!config.crawl.proxy.file.empty()) {
        reload_signals.emplace(end_strand, SIGHUP);
        on_reload = [this](const boost::system::error_code& ec, int) {
            if (ec) {
                return;
            }
            spdlog::info("SIGHUP: reloading proxies_file");
            (void)crawler->reload_proxies();
            reload_signals->async_wait(on_reload);
        };
        reload_signals->async_wait(on_reload);
    }
}

unsigned crawl_session::engine_threads(const crawl::crawl_options& options) {
    // threads: 0 is one per core, and never fewer than the network threads asked for.
    return options.engine.threads != 0 ? options.engine.threads
                                       : std::max({1u, std::thread::hardware_concurrency(),
                                                   options.engine.network_threads});
}

crawl_session::crawl_session(config::crawl_config config, session_options options) {
    const unsigned threads = engine_threads(config.crawl);
    impl_ = std::make_unique<impl>(std::move(config), std::move(options), threads);
    impl_->open();
}

crawl_session crawl_session::probe(config::crawl_config config, std::vector<crawl::seed_spec> seeds,
                                   std::shared_ptr<crawl::sink> out) {
    config.crawl.engine.threads = 1;
    session_options options;
    options.handle_signals = false;
    auto state = std::make_unique<impl>(std::move(config), std::move(options), 1);
    state->crawler = std::make_unique<crawl::crawler>(
        state->io, state->config.crawl, std::move(out), crawl::seed_stream(std::move(seeds)));
    state->start_renderer(nullptr);
    return crawl_session(std::move(state));
}

crawl_session::crawl_session(std::unique_ptr<impl> state) : impl_(std::move(state)) {}
crawl_session::~crawl_session() = default;
crawl_session::crawl_session(crawl_session&&) noexcept = default;
crawl_session& crawl_session::operator=(crawl_session&&) noexcept = default;

int crawl_session::run(std::function<int(const session_end&)> settle) {
    impl& s = *impl_;
    const auto started = std::chrono::steady_clock::now();
    const auto linger = s.endpoint ? s.config.crawl.metrics_linger : std::chrono::milliseconds{};
    // Once the crawl is over and before metrics.linger, on the end strand: what the run
    // reports never waits for the linger.
    std::function<int()> settle_now = [&s, &settle, started, linger]() -> int {
        session_end end;
        end.crawl = s.config.crawl.name;
        end.elapsed_seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        end.stats = &s.crawler->stats();
        end.items = s.pipeline ? &s.pipeline->stats() : nullptr;
        end.stopped = s.stopped.load();
        end.journal = s.config.crawl.journal;
        end.shared_frontier_failed = s.shared && s.shared->failed();
        if (s.config.crawl.frontier.backend == crawl::frontier_options::kind::redis) {
            end.worker = s.config.crawl.frontier.worker;
        }
        end.linger =
            linger > std::chrono::milliseconds::zero() ? linger : std::chrono::milliseconds{};
        return settle ? settle(end) : 0;
    };
    std::exception_ptr failure;
    asio::co_spawn(s.io,
                   run_to_end(*s.crawler, s.endpoint.get(), s.renderer.get(), s.end,
                              std::move(settle_now), linger),
                   [&](const std::exception_ptr& error) {
                       failure = error;
                       s.io.stop();  // leaves the signal_set's wait behind: nothing runs it
                   });
    s.io.run();
    if (failure) {
        std::rethrow_exception(failure);
    }
    return s.end.exit_code;
}

void crawl_session::stop() {
    impl_->stopped.store(true);
    impl_->crawler->stop();
}

const crawl::crawl_stats& crawl_session::stats() const {
    return impl_->crawler->stats();
}

const pipelines::pipeline_stats& crawl_session::items() const {
    return impl_->pipeline->stats();
}

}  // namespace harvest::session
