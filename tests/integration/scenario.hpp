#pragma once
// Randomized crawl scenarios checked against crawl invariants (DESIGN.md principle 9; issue 15).
//
// A seed number (std::mt19937_64) decides everything: 1-3 chaos origins (hosts), each with
// 20-300 URLs whose behaviours mix 200, 404, always-500, flaky 5xx, 503/429 with Retry-After,
// resets, stalls past the timeout, slow bodies, redirects (chains, loops, to another seed),
// gzip bombs, and an optional robots.txt (Crawl-delay, a Disallow, or unavailable); sometimes a
// host where nothing listens; a crawl config drawn from docs/config.md's ranges; and sometimes a
// SIGTERM or SIGKILL at a random moment followed by `harvest run --resume`. The run is judged
// from the origins' arrival logs, the JSONL output, its error stream and --stats-json:
//
//   I1 termination   each run ends within bound_seconds() (computed from the config and the
//                    behaviours) with exit 0; a SIGTERM ends in 130 within the total timeout +
//                    slack.
//   I2 accounting    every seed URL that was admitted ends exactly once: an error record at its
//                    URL, or an item at its final URL (after redirects; a redirect to a URL the
//                    crawl already has ends with that URL's one item). No item or error twice,
//                    none for a URL that is no seed or redirect target. A URL that can only fail
//                    never ends as an item. With engine.max_requests M (fewer than the seeds):
//                    exactly M seeds end, and no other seed reaches the origin. In a run that was
//                    not stopped, stats.json's items.emitted, the sum of failed, and the JSONL
//                    output's written match the files.
//   I3 isolation     a "good" URL (its behaviour answers 200 within retry.max_attempts: /ok,
//                    fail-then-ok or /flaky with fewer failures than attempts, 429 and 503 with
//                    Retry-After when a retry is left, slow bodies under the timeout, redirects to
//                    /ok within max_redirects) ends as an item, unless its host is excluded:
//                    robots.txt unavailable or disallowing it, or the host's share of URLs that
//                    count a failure for the breaker (their first answer is a 5xx or a transport
//                    error, the flaky-but-good ones included) is above half the breaker's
//                    failure_rate (all of failure_rate, as the issue words it, with
//                    HARVEST_SCENARIO_I3=strict). The generator keeps give_up_after >= 8 x
//                    open_for, so a healthy host gets at least 8 half-open rounds of fresh probes.
//                    Not counted against it: a /flaky/ URL whose 200 a killed run spent (the
//                    origin counts a path's requests over both runs), and a URL waiting as a
//                    retry that was given up as circuit_open when no never-tried request of its
//                    host was left to probe (docs/config.md, Circuit breakers).
//                    A redirect to another seed ends with that seed (item or error); a URL
//                    robots.txt disallows may end as robots_disallowed or, when its host was
//                    given up, circuit_open, but is never requested.
//   I4 politeness    per host, from the origin's receive times (first hop of each request:
//                    redirect hops followed inside one fetch are left out; robots.txt too): no
//                    window breaks per_second/burst or the Crawl-delay (worst_window_excess with
//                    arrival jitter, 35 ms more for windows at a run's start and after a gzip
//                    bomb: scenario.cpp says why; a resend after a reset left out), and the
//                    requests known to be open at the same time (a /delay/<ms>/ answer is held
//                    at least <ms>, a /hang/ one until the timeout) never exceed
//                    per_host_concurrency. Checked per run (a resumed run starts with a fresh
//                    bucket).
//   I5 exactly-once  after a SIGTERM or SIGKILL and --resume: every JSONL line parses, no item
//                    and no error twice, every seed ended (the I2 rules over both runs).
//   I6 resources     peak_rss_bytes in stats.json under rss_bound_bytes(), and the most file
//                    descriptors harvest held at once (sampled from /proc every 10 ms)
//                    under fd_bound(): its connections are capped by engine.concurrency.
//
// Every violation names its invariant and the URL or figure; a failing scenario prints its seed
// and the replay command (replay_command()).

#include "tests/integration/support.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace harvest::test::scenario {

enum class behaviour {
    ok,                 // /ok/<id>
    not_found,          // /status/404/<id>
    always_500,         // /status/500/<id>
    fail_then_ok,       // /fail-then-ok/<n>/<id>
    flaky,              // /flaky/<p>/<id>
    retry_after_503,    // /503-retry-after/1/<n>/<id>
    too_many_429,       // /429/1/<id>
    too_many_429_date,  // /429-date/1/<id>
    reset,              // /reset/<id>
    reset_mid_body,     // /reset-mid-body/<id>
    hang,               // /hang/<id>
    slow,               // /delay/<ms>/<id>
    redirect,           // /redirect/<code>/.../ok/<target id>: a chain of 1-3 hops
    redirect_to_seed,   // /redirect/301/ok/<id of another /ok seed on the host>
    redirect_loop,      // /redirect-loop/<id>
    gzip_bomb,          // /gzip-bomb/<id>
};

const char* behaviour_name(behaviour b);

struct url_spec {
    behaviour kind = behaviour::ok;
    std::string path;               // the seed's path on its host
    std::string final_path;         // where its redirects end (= path without redirects)
    std::vector<std::string> hops;  // paths reached by following redirects, in order
    int failures_first = 0;  // answers that fail before the first 200 (fail-then-ok, flaky, ...)
    int delay_ms = 0;        // slow: the answer's delay
    bool good = false;       // ends as an item when nothing else interferes (I3)
    bool can_only_fail = false;   // never an item (I2)
    bool counts_failure = false;  // its first answer counts a failure for the breaker
    bool disallowed = false;      // robots.txt disallows it
};

struct host_spec {
    bool dead = false;  // no origin: a port where nothing listens
    std::vector<url_spec> urls;
    // robots.txt: none, served (Crawl-delay and/or Disallow), or answered with robots_status.
    std::string robots_txt;
    int robots_status = 0;
    double crawl_delay = 0;  // seconds; 0 = none
};

enum class stop_kind { none, sigterm, sigkill };

struct crawl_spec {
    int concurrency = 32;
    int per_host_concurrency = 8;
    int threads = 2;
    int network_threads = 1;  // of `threads`
    double per_second = 0;    // 0 = unlimited
    int burst = 1;
    int max_attempts = 3;
    std::string backoff_strategy = "full_jitter";
    int backoff_base_ms = 50;
    int backoff_max_ms = 500;
    int window = 20;
    int min_calls = 10;
    double failure_rate = 0.5;
    int open_for_ms = 1000;
    int half_open_probes = 2;
    int give_up_after_ms = 10000;
    long long max_requests = 0;
    bool obey_robots = false;
    int total_timeout_ms = 2000;
    int max_redirects = 5;
};

struct scenario {
    std::uint64_t seed = 0;
    std::vector<host_spec> hosts;
    crawl_spec crawl;
    stop_kind stop = stop_kind::none;
    int stop_after_ms = 0;  // when the stop signal is sent, after the run starts
};

// Sizes: `small` for sanitized builds and CI (about a quarter of the URLs).
scenario generate(std::uint64_t seed, bool small);

// A few lines: hosts with their behaviour counts, robots, the config, the stop.
std::string describe(const scenario& s);

// The run's wall-time bound in seconds (I1), generous: the sum of what rate, Crawl-delay,
// attempts x (backoff cap + Retry-After + timeout), breaker openings and give_up_after can cost,
// doubled, plus slack (tripled again under sanitizers).
double bound_seconds(const scenario& s);

std::size_t rss_bound_bytes();
int fd_bound(const scenario& s);

struct violation {
    std::string invariant;  // "I1 termination", ...
    std::string detail;
};

struct result {
    std::vector<violation> violations;
    double seconds = 0;       // wall time of the whole scenario
    std::string harvest_log;  // the last part of harvest's stderr, for a failure report
    bool stopped = false;     // a stop signal landed mid-crawl and the run was resumed
    int peak_fds = 0;         // the most file descriptors harvest held at once, over its runs
};

// Runs the scenario under `dir` (origins, config, outputs) and checks I1-I6.
result run(const scenario& s, const fs::path& dir);

// One line that replays the seed.
std::string replay_command(std::uint64_t seed);

// One line per violation: "scenario SEED: INVARIANT: DETAIL".
std::string report(std::uint64_t seed, const result& r);

}  // namespace harvest::test::scenario
