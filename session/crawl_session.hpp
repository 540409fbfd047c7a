#pragma once
// A crawl wired together from a loaded config: the engine's crawler, the pipeline sink and its
// outputs, the state journal (--resume), the Redis frontier, the /metrics endpoint with its
// linger, SIGINT/SIGTERM. `harvest run` is this plus a terminal (arguments, progress line,
// summary, exit status); `harvest fetch` is a probe of it (one URL into its own sink).
//
// No Asio here: the io_context, its threads and everything on them live in the .cpp.

#include "config/crawl_config.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace harvest::crawl {
class crawl_stats;
class sink;
struct seed_spec;
}  // namespace harvest::crawl

namespace harvest::pipelines {
struct pipeline_stats;
}

namespace harvest::session {

// Why a session could not be built. The message is the whole line for the user.
class session_error : public std::runtime_error {
  public:
    enum class kind {
        usage,         // the config and the flags do not go together (docs/cli.md: exit 2)
        cannot_start,  // the system refused: journal, output, port, seed file (exit 3)
    };
    session_error(kind what, const std::string& message)
        : std::runtime_error(message), kind_(what) {}
    kind what_kind() const noexcept { return kind_; }

  private:
    kind kind_;
};

struct session_options {
    // Continue the last run from its state journal (needs state.journal and a local frontier).
    bool resume = false;
    // SIGINT/SIGTERM, from construction until run() returns: the first stops the crawl (the
    // in-flight requests drain), the second calls on_second_signal, which must end the
    // process. Once the crawl is over a signal cuts metrics.linger short, and a second one
    // exits at once with the status the settle callback returned.
    bool handle_signals = true;
    std::function<void(int signal)> on_second_signal;
};

// The crawl's end, as the summary and the exit status need it. Valid during the settle call.
struct session_end {
    std::string crawl;  // crawl.name
    double elapsed_seconds = 0;
    const crawl::crawl_stats* stats = nullptr;
    const pipelines::pipeline_stats* items = nullptr;  // per output: written, failed, last reason
    bool stopped = false;                 // stop() or a signal came first: drained, not finished
    bool journal = false;                 // state.journal: whether a stopped run can be resumed
    bool shared_frontier_failed = false;  // frontier.backend: redis gave up: incomplete
    std::string worker;                   // frontier.backend: redis: this worker's name
    // How long /metrics stays up after the settle call (metrics.linger; zero without
    // metrics.listen or when a signal already cut it).
    std::chrono::milliseconds linger{0};
};

class crawl_session {
  public:
    // The engine threads a config asks for (engine.threads, 0 = one per core).
    static unsigned engine_threads(const crawl::crawl_options& options);

    // Opens the journal (and with `resume` cuts the outputs back to it), the outputs, the seed
    // files, the Redis frontier and the metrics endpoint. Throws session_error.
    crawl_session(config::crawl_config config, session_options options);

    // One probe of the engine (harvest fetch): `seeds` instead of the config's, into `out`
    // instead of its pipeline, on one thread; no journal, outputs, metrics, shared frontier
    // or signal handling. Its end is what `out` saw.
    static crawl_session probe(config::crawl_config config, std::vector<crawl::seed_spec> seeds,
                               std::shared_ptr<crawl::sink> out);

    ~crawl_session();
    crawl_session(crawl_session&&) noexcept;
    crawl_session& operator=(crawl_session&&) noexcept;

    // Runs the crawl on the calling thread and engine.threads - 1 more until it is over; then
    // calls `settle` (on an engine thread: summary, stats file, exit status) and keeps
    // /metrics up for the linger. Returns what settle returned; rethrows what aborted the
    // crawl (settle then may not have been called). Once only.
    int run(std::function<int(const session_end&)> settle);

    // Thread-safe: no new requests; in-flight ones finish (bounded by `total`).
    void stop();

    // Live figures (the progress line); valid for the session's life.
    const crawl::crawl_stats& stats() const;
    const pipelines::pipeline_stats& items() const;  // not for a probe

  private:
    struct impl;
    explicit crawl_session(std::unique_ptr<impl> state);
    std::unique_ptr<impl> impl_;
};

}  // namespace harvest::session
