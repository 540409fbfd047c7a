#include "cli/run_command.hpp"

#include "config/crawl_config.hpp"
#include "config/loader.hpp"
#include "config/service_config.hpp"
#include "engine/crawl/stats.hpp"
#include "pipelines/item.hpp"
#include "pipelines/pipeline_sink.hpp"
#include "session/crawl_session.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <boost/json.hpp>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>

namespace harvest::cli {
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
    out["sessions"] =
        boost::json::object{{"logins", s.logins.load()}, {"retired", s.sessions_retired.load()}};
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

// The status line, drawn from a thread of its own until finish(): at the end of the crawl,
// before the summary and any metrics.linger.
class progress_line {
  public:
    progress_line(const crawl::crawl_stats& stats, const pipelines::pipeline_stats& items,
                  std::chrono::steady_clock::time_point started)
        : stats_(stats), items_(items), started_(started), thread_([this] { draw(); }) {}
    ~progress_line() { finish(); }
    progress_line(const progress_line&) = delete;
    progress_line& operator=(const progress_line&) = delete;

    // Thread-safe; returns once no line is being drawn.
    void finish() {
        {
            const std::lock_guard lock(mutex_);
            finished_ = true;
        }
        wake_.notify_all();
        const std::lock_guard lock(join_mutex_);
        if (thread_.joinable()) {
            thread_.join();
        }
    }

  private:
    void draw() {
        std::uint64_t last_requests = 0;
        auto last = started_;
        std::unique_lock lock(mutex_);
        while (!wake_.wait_for(lock, progress_redraw_interval, [this] { return finished_; })) {
            const auto now = std::chrono::steady_clock::now();
            const double dt = std::chrono::duration<double>(now - last).count();
            const std::uint64_t requests = stats_.requests.load();
            std::fprintf(stderr,
                         "\r\033[K%6.1fs  %7.0f req/s  items %llu  errors %llu  in flight %llu  "
                         "queued %llu  open breakers %llu",
                         std::chrono::duration<double>(now - started_).count(),
                         dt > 0 ? static_cast<double>(requests - last_requests) / dt : 0.0,
                         static_cast<unsigned long long>(items_.items_emitted.load()),
                         static_cast<unsigned long long>(stats_.failed_total.load()),
                         static_cast<unsigned long long>(stats_.in_flight.load()),
                         static_cast<unsigned long long>(stats_.queued.load()),
                         static_cast<unsigned long long>(stats_.open_breakers.load()));
            std::fflush(stderr);
            last_requests = requests;
            last = now;
        }
    }

    const crawl::crawl_stats& stats_;
    const pipelines::pipeline_stats& items_;
    const std::chrono::steady_clock::time_point started_;
    std::mutex mutex_;  // finished_
    std::condition_variable wake_;
    bool finished_ = false;
    std::mutex join_mutex_;  // thread_: finish() may come from two threads
    std::thread thread_;     // last: starts once the rest is built
};

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
#if defined(__GLIBC__) && !defined(HARVEST_WITH_MIMALLOC)
    // glibc hands a thread that meets a locked arena another one, up to 8 per core. A crawl
    // allocates on every engine thread and frees on others (links found by a fetch, queued by
    // the scheduler), and memory freed into a spare arena is kept for threads that no longer
    // come. One arena per engine thread: a 5,000,000-link frontier peaked at 395 MB instead of
    // 412 MB (bench/frontier_bench.sh), with no change in requests/s measured.
    mallopt(M_ARENA_MAX, static_cast<int>(session::crawl_session::engine_threads(config.crawl)));
#endif

    session::session_options options;
    options.resume = args.resume;
    options.on_second_signal = [](int) {
        std::fprintf(stderr, "\nharvest: second signal, exiting now\n");
        std::_Exit(exit_interrupted);
    };
    std::optional<session::crawl_session> crawl;
    try {
        crawl.emplace(std::move(config), std::move(options));
    } catch (const session::session_error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return e.what_kind() == session::session_error::kind::usage ? exit_usage
                                                                    : exit_cannot_start;
    }

    const auto started = std::chrono::steady_clock::now();
    const bool show_progress =
        args.progress == progress_mode::always ||
        (args.progress == progress_mode::automatic && isatty(STDERR_FILENO) != 0);
    std::optional<progress_line> progress;
    if (show_progress) {
        progress.emplace(crawl->stats(), crawl->items(), started);
    }
    std::atomic<bool> settled{false};

    // Once the crawl is over and before metrics.linger: the summary, --stats-json and the exit
    // code, so that what the run reports never waits for the linger.
    auto report = [&](const session::session_end& end) -> int {
        if (show_progress) {
            std::fprintf(stderr, "\n");
        }
        if (end.shared_frontier_failed) {
            std::fprintf(stderr,
                         "harvest: the Redis frontier failed; this worker's crawl is "
                         "incomplete (its unfinished requests go to the other workers)\n");
            return exit_failed;
        }
        if (end.stats != nullptr && !end.stats->login_error.empty()) {
            std::fprintf(stderr, "harvest: login failed, nothing was crawled: %s\n",
                         end.stats->login_error.c_str());
            return exit_login_failed;
        }
        run_figures figures{end.crawl, end.elapsed_seconds, end.stats, end.items, std::string()};
        if (end.stopped) {
            figures.stopped_hint = end.journal ? "resume with --resume"
                                               : "state.journal is off: a new run starts over";
        }
        print_summary(figures);
        if (!args.stats_json.empty()) {
            std::ofstream out(args.stats_json, std::ios::trunc);
            auto stats = stats_object(figures);
            if (!end.worker.empty()) {
                stats["worker"] = end.worker;  // one of several: tell them apart
            }
            std::string line;
            pipelines::append_json(line, boost::json::value(std::move(stats)));  // not 1.999E1
            out << line << '\n';
            if (!out.flush()) {
                spdlog::error("cannot write {}", args.stats_json);
            }
        }
        return end.stopped ? exit_interrupted : exit_ok;
    };
    auto settle = [&](const session::session_end& end) -> int {
        settled.store(true);
        if (progress) {
            progress->finish();
        }
        const int code = report(end);
        if (end.linger > std::chrono::milliseconds::zero()) {
            std::fprintf(stderr,
                         "harvest: /metrics stays up for %.0f s with the final values (Ctrl-C to "
                         "stop)\n",
                         std::chrono::duration<double>(end.linger).count());
        }
        return code;
    };
    try {
        return crawl->run(settle);
    } catch (const std::exception& e) {
        if (progress) {
            progress->finish();
        }
        if (show_progress && !settled.load()) {
            std::fprintf(stderr, "\n");
        }
        spdlog::critical("crawl aborted: {}", e.what());
        return exit_failed;
    }
}

}  // namespace harvest::cli
