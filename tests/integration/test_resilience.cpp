// Resilience acceptance tests: `harvest run` against the chaos origin, judged from the origin's
// own arrival log (what was really sent, and when, on the origin's clock) plus the error
// stream and stats.json. Two chaos origins on two ports are two hosts.

#include "tests/integration/chaos.hpp"
#include "tests/integration/support.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <ctime>
#include <regex>
#include <sstream>
#include <thread>

namespace {

// Under a sanitizer every request costs 2-15 times the CPU, so on 2 shared cores the harvest
// and origin processes queue for the CPU: a stalled Harvest sends the requests of
// several tokens at once, by up to a few hundred milliseconds, and CPU spent on one host shows
// in another's wall time (an ASan run once measured host B 1.155 times slower beside a
// retrying host A). The timing bounds are widened there, still far below what the bugs they
// guard against would cost (no limit at all: 1000 requests in about 2 s; retries holding
// slots: ~50 s for B, 10 times its pace alone; A's open breaker pausing B: 3 x 2 s on ~5 s).
#ifdef HARVEST_TSAN
constexpr double resilience_arrival_jitter = 0.500;  // s; 5 requests at 10/s
constexpr double neighbour_slowdown = 2.0;
constexpr double paced_neighbour_slowdown = 1.40;
#elif defined(HARVEST_SANITIZED)
// The origin stamps arrivals on the kernel's clock, but Harvest itself may be preempted between
// taking a token and writing the request. 1.5 requests at 10/s; a burst of 12 is caught by the
// unsanitized build.
constexpr double resilience_arrival_jitter = 0.150;
constexpr double neighbour_slowdown = 2.0;
constexpr double paced_neighbour_slowdown = 1.25;
#else
// Between Harvest taking a token and the origin's kernel stamping the request, two engine
// threads, the origin and the other ctest job share 2 cores: fresh-clone CI runs used 13.6 ms,
// 16.1 ms and 27 ms. So the rate test paces at 10/s, where 100 ms is one request: a burst of 12
// still shows, as one request over; no limit at all shows as a hundred.
constexpr double resilience_arrival_jitter = 0.100;
constexpr double neighbour_slowdown = 1.5;
constexpr double paced_neighbour_slowdown = 1.10;
#endif

using namespace harvest::test;
namespace json = boost::json;

// The sections of a crawl config a test varies; everything else is fixed below.
struct crawl_settings {
    std::string seeds;  // the YAML list items under `seeds:`
    int concurrency = 32;
    int per_host_concurrency = 32;
    std::string timeouts =
        "{connect: 2s, tls: 2s, response_headers: 5s, idle_read: 5s, total: 10s}";
    std::string rate_limit = "  per_second: 0\n  burst: 1\n";
    std::string retry =
        "  max_attempts: 3\n"
        "  backoff: {strategy: none, base: 20ms, max: 20ms}\n";
    std::string breaker =
        "  window: 100\n  min_calls: 100\n  failure_rate: 0.5\n"
        "  open_for: 30s\n";
    std::string hosts;  // a whole `hosts:` section, or empty
};

std::string resilience_yaml(const crawl_settings& s) {
    std::ostringstream y;
    y << "name: resilience\n"
      << "seeds:\n"
      << s.seeds << "engine:\n"
      << "  concurrency: " << s.concurrency << "\n"
      << "  per_host_concurrency: " << s.per_host_concurrency << "\n"
      << "  threads: 2\n"
      << "  robots_txt: ignore\n"
      << "  dedup: true\n"
      << "http:\n"
      << "  timeouts: " << s.timeouts << "\n"
      << "rate_limit:\n"
      << s.rate_limit << "retry:\n"
      << s.retry << "circuit_breaker:\n"
      << s.breaker << s.hosts << "extract:\n"
      << "  - match: \".\"\n"
      << "    type: json\n"
      << "    fields:\n"
      << "      id: /id\n"
      << "    required: [id]\n"
      << "outputs:\n"
      << "  - type: jsonl\n"
      << "    path: out/items.jsonl\n";
    return y.str();
}

struct resilience_run {
    process_result result;
    std::vector<json::object> items;
    std::vector<json::object> errors;
    json::object stats;
};

// Writes dir/cfg.yaml and runs `harvest run cfg.yaml --stats-json stats.json`.
resilience_run resilience_crawl(const fs::path& dir, const crawl_settings& settings,
                                std::chrono::seconds timeout = std::chrono::seconds(60)) {
    fs::create_directories(dir);
    write_file(dir / "cfg.yaml", resilience_yaml(settings));
    resilience_run run;
    run.result = run_process({harvest_binary().string(), "run", (dir / "cfg.yaml").string(),
                              "--stats-json", (dir / "stats.json").string()},
                             timeout);
    run.items = read_jsonl(dir / "out/items.jsonl");
    run.errors = read_jsonl(errors_path_for(dir / "out/items.jsonl"));
    if (fs::exists(dir / "stats.json")) {
        run.stats = json::parse(read_file(dir / "stats.json")).as_object();
    }
    return run;
}

// A urls_file seed of `paths` on `origin`, written to dir/name.
std::string urls_seed(const fs::path& dir, const std::string& name, const chaos_origin& origin,
                      const std::vector<std::string>& paths) {
    std::string text;
    for (const auto& p : paths) {
        text += origin.url(p) + "\n";
    }
    write_file(dir / name, text);
    return "  - urls_file: " + (dir / name).string() + "\n";
}

std::vector<std::string> numbered(const std::string& prefix, int n) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) {
        out.push_back(prefix + std::to_string(i));
    }
    return out;
}

const json::object* resilience_error_for(const resilience_run& run, const std::string& url) {
    for (const auto& e : run.errors) {
        if (e.at("url").as_string() == url) {
            return &e;
        }
    }
    return nullptr;
}

double span_seconds(const std::vector<arrival>& arrivals) {
    return arrivals.empty() ? 0.0 : arrivals.back().t - arrivals.front().t;
}

}  // namespace

TEST_CASE("a host's rate limit holds in every window of the origin's arrivals",
          "[integration][resilience]") {
    temp_dir tmp("harvest-rate");
    chaos_origin origin(tmp.path());
    constexpr int urls = 200;
    constexpr double rate = 10;
    constexpr double burst = 10;

    crawl_settings s;
    s.seeds = urls_seed(tmp.path(), "urls.txt", origin, numbered("/ok/", urls));
    s.rate_limit = "  per_second: 10\n  burst: 10\n";
    const auto started = std::chrono::steady_clock::now();
    auto run = resilience_crawl(tmp.path(), s);
    const std::chrono::duration<double> wall = std::chrono::steady_clock::now() - started;
    INFO(describe(run.result));
    REQUIRE(run.result.exit_code == 0);
    CHECK(run.items.size() == urls);
    CHECK(run.errors.empty());

    const double minimum = (urls - burst) / rate;  // 19 s
    // The whole run on the test's clock: a stall anywhere only lengthens it.
    INFO("the run took " << wall.count() << " s, minimum " << minimum << " s");
    CHECK(wall.count() >= minimum);

    const auto arrivals = origin.arrivals();
    REQUIRE(arrivals.size() == urls);
    // Every window [t_i, t_j] between two arrivals holds j - i + 1 of them. The bucket is
    // spent on Harvest's clock when a request is taken; the origin's kernel stamps it on
    // arrival, a moment later and not always by the same amount. So each window is granted
    // `jitter` more time (see arrival_jitter above for what it still catches).
    constexpr double jitter = resilience_arrival_jitter;
    const double worst_excess = worst_window_excess(arrivals, rate, burst, jitter);
    INFO("worst window excess over 10*(T + " << jitter * 1000 << " ms) + 10: " << worst_excess
                                             << " requests");
    CHECK(worst_excess <= 0);

    const double took = span_seconds(arrivals);
    INFO("first to last arrival: " << took << " s, minimum " << minimum << " s");
    CHECK(took >= minimum - 2 * jitter);  // the origin's clock resolution and loopback jitter
    CHECK(took <= minimum * 1.05);
}

TEST_CASE("Retry-After (delta seconds and HTTP-date) is honoured, once per answer",
          "[integration][resilience]") {
    temp_dir tmp("harvest-retry-after");
    chaos_origin origin(tmp.path());
    crawl_settings s;
    s.seeds = "  - url: " + origin.url("/429/2/delta") +
              "\n  - url: " + origin.url("/429-date/2/date") + "\n";
    s.retry =
        "  max_attempts: 4\n"
        "  backoff: {strategy: none, base: 20ms, max: 20ms}\n"
        "  retry_after: {honor: true, max: 30s}\n";
    auto run = resilience_crawl(tmp.path(), s);
    INFO(describe(run.result));
    REQUIRE(run.result.exit_code == 0);
    CHECK(run.items.size() == 2);
    CHECK(run.errors.empty());

    for (const std::string path : {"/429/2/delta", "/429-date/2/date"}) {
        INFO(path);
        const auto seen = origin.arrivals_of(path);
        REQUIRE(seen.size() == 2);  // once refused, retried exactly once
        CHECK(seen[0].status == 429);
        CHECK_FALSE(seen[0].retry_after.empty());
        CHECK(seen[1].status == 200);
        const double gap = seen[1].t - seen[0].t;
        INFO("retried after " << gap << " s; Retry-After: " << seen[0].retry_after);
        CHECK(gap >= 2.0);
        CHECK(gap <= 4.5);  // an HTTP-date is rounded up to the next second, plus slack
        if (path == "/429-date/2/date") {
            // Not before the date itself either.
            std::tm tm{};
            REQUIRE(strptime(seen[0].retry_after.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm) !=
                    nullptr);
            CHECK(seen[1].t >= static_cast<double>(timegm(&tm)));
        }
    }
    REQUIRE(run.stats.contains("retry_after_waits"));
    CHECK(json_int(run.stats.at("retry_after_waits")) == 2);
}

TEST_CASE("a Retry-After longer than retry.retry_after.max gives the URL up at once",
          "[integration][resilience]") {
    temp_dir tmp("harvest-retry-after-long");
    chaos_origin origin(tmp.path());
    crawl_settings s;
    s.seeds = "  - url: " + origin.url("/429/60/long") + "\n";
    s.retry =
        "  max_attempts: 4\n"
        "  backoff: {strategy: none, base: 20ms, max: 20ms}\n"
        "  retry_after: {honor: true, max: 30s}\n";
    auto run = resilience_crawl(tmp.path(), s);
    INFO(describe(run.result));
    REQUIRE(run.result.exit_code == 0);
    CHECK(origin.arrivals_of("/429/60/long").size() == 1);
    CHECK(run.items.empty());
    const auto* error = resilience_error_for(run, origin.url("/429/60/long"));
    REQUIRE(error != nullptr);
    CHECK(error->at("error").as_string() == "retry_after_too_long");
    CHECK(json_int(error->at("attempts")) == 1);
    CHECK(json_int(error->at("status")) == 429);
}

TEST_CASE("permanent 4xx are requested once and land in the error stream",
          "[integration][resilience]") {
    temp_dir tmp("harvest-permanent");
    chaos_origin origin(tmp.path());
    const std::vector<int> codes{400, 401, 403, 404};
    crawl_settings s;
    for (int code : codes) {
        s.seeds += "  - url: " + origin.url("/status/" + std::to_string(code) + "/k") + "\n";
    }
    s.retry =
        "  max_attempts: 4\n"
        "  on_status: [400, 401, 403, 404, 429, 500, 502, 503, 504]\n"
        "  backoff: {strategy: none, base: 20ms, max: 20ms}\n";
    auto run = resilience_crawl(tmp.path(), s);
    INFO(describe(run.result));
    REQUIRE(run.result.exit_code == 0);
    CHECK(run.items.empty());
    CHECK(run.errors.size() == codes.size());
    CHECK(json_int(run.stats.at("retries")) == 0);
    for (int code : codes) {
        const std::string path = "/status/" + std::to_string(code) + "/k";
        INFO(path);
        CHECK(origin.arrivals_of(path).size() == 1);
        const auto* error = resilience_error_for(run, origin.url(path));
        REQUIRE(error != nullptr);
        CHECK(error->at("error").as_string() == "status_4xx");
        CHECK(json_int(error->at("attempts")) == 1);
        REQUIRE(error->contains("status"));
        CHECK(json_int(error->at("status")) == code);
    }
}

TEST_CASE("transient failures are retried up to max_attempts", "[integration][resilience]") {
    temp_dir tmp("harvest-transient");
    chaos_origin origin(tmp.path() / "origin");

    SECTION("503 twice then 200, max_attempts 4: three requests and a success") {
        crawl_settings s;
        s.seeds = "  - url: " + origin.url("/fail-then-ok/2/k") + "\n";
        s.retry =
            "  max_attempts: 4\n"
            "  backoff: {strategy: none, base: 20ms, max: 20ms}\n";
        auto run = resilience_crawl(tmp.path() / "run", s);
        INFO(describe(run.result));
        REQUIRE(run.result.exit_code == 0);
        const auto seen = origin.arrivals_of("/fail-then-ok/2/k");
        REQUIRE(seen.size() == 3);
        CHECK(seen[0].status == 503);
        CHECK(seen[1].status == 503);
        CHECK(seen[2].status == 200);
        REQUIRE(run.items.size() == 1);
        CHECK(run.items[0].at("id").as_string() == "k");
        CHECK(run.errors.empty());
        CHECK(json_int(run.stats.at("retries")) == 2);
    }

    SECTION("always 503, refused, reset mid-body, hanging: max_attempts 3 then given up") {
        const int refused_port = free_port();  // nothing listens there
        const std::string refused = "http://127.0.0.1:" + std::to_string(refused_port) + "/ok/r";
        crawl_settings s;
        s.seeds = "  - url: " + origin.url("/status/503/k") + "\n  - url: " + refused +
                  "\n  - url: " + origin.url("/reset-mid-body/k") +
                  "\n  - url: " + origin.url("/hang/k") + "\n";
        s.timeouts =
            "{connect: 1s, tls: 1s, response_headers: 300ms, idle_read: 300ms, "
            "total: 2s}";
        s.retry =
            "  max_attempts: 3\n"
            "  backoff: {strategy: none, base: 20ms, max: 20ms}\n";
        auto run = resilience_crawl(tmp.path() / "run", s);
        INFO(describe(run.result));
        REQUIRE(run.result.exit_code == 0);
        CHECK(run.items.empty());
        CHECK(run.errors.size() == 4);

        CHECK(origin.arrivals_of("/status/503/k").size() == 3);
        CHECK(origin.arrivals_of("/reset-mid-body/k").size() == 3);
        CHECK(origin.arrivals_of("/hang/k").size() == 3);

        // Transient kinds are listed in retry.on_errors: when the attempts run out the
        // request fails as retries_exhausted, the last cause kept in last_error / status.
        struct expected {
            std::string url;
            std::optional<int> status;
            std::string last_error;
        };
        const std::vector<expected> cases{{origin.url("/status/503/k"), 503, ""},
                                          {refused, std::nullopt, "connect"},
                                          {origin.url("/reset-mid-body/k"), std::nullopt, "reset"},
                                          {origin.url("/hang/k"), std::nullopt, "timeout"}};
        for (const auto& c : cases) {
            INFO(c.url);
            const auto* error = resilience_error_for(run, c.url);
            REQUIRE(error != nullptr);
            INFO(json::serialize(*error));
            CHECK(error->at("error").as_string() == "retries_exhausted");
            CHECK(json_int(error->at("attempts")) == 3);
            if (c.status) {
                REQUIRE(error->contains("status"));
                CHECK(json_int(error->at("status")) == *c.status);
            } else {
                REQUIRE(error->contains("last_error"));
                CHECK(error->at("last_error").as_string() == c.last_error);
            }
        }
    }
}

TEST_CASE("an open breaker pauses a failing host, probes it, and spares the other hosts",
          "[integration][resilience]") {
    temp_dir tmp("harvest-breaker");
    chaos_origin failing(tmp.path() / "a", "a", /*fail_all=*/true);
    chaos_origin healthy(tmp.path() / "b", "b");
    constexpr int a_urls = 40;
    constexpr int b_urls = 250;  // 240 past the burst at 50/s: about 4.8 s
    const double open_for = 2.0;

    crawl_settings s;
    s.concurrency = 32;
    s.per_host_concurrency = 2;  // so few calls are in flight when the breaker opens
    s.retry =
        "  max_attempts: 100\n"
        "  backoff: {strategy: none, base: 20ms, max: 20ms}\n"
        "  budget: {ratio: 1000, min_per_second: 1000}\n";
    // Every opening lasts open_for (min_open_for = open_for: no growth to measure around).
    s.breaker =
        "  window: 20\n  min_calls: 10\n  failure_rate: 0.5\n  min_open_for: 2s\n"
        "  open_for: 2s\n  half_open_probes: 2\n  give_up_after: 10m\n";
    s.hosts = "hosts:\n  \"" + healthy.host() +
              "\":\n    per_host_concurrency: 8\n    rate_limit: {per_second: 50, burst: 10}\n";
    const std::string b_seed = urls_seed(tmp.path(), "b.txt", healthy, numbered("/ok/b", b_urls));
    const std::string a_seed = urls_seed(tmp.path(), "a.txt", failing, numbered("/ok/a", a_urls));

    // Host B alone first, for its undisturbed pace.
    s.seeds = b_seed;
    auto alone = resilience_crawl(tmp.path() / "alone", s);
    {
        INFO(describe(alone.result));
        REQUIRE(alone.result.exit_code == 0);
        REQUIRE(alone.items.size() == b_urls);
    }
    const double b_alone = span_seconds(healthy.arrivals());
    healthy.clear_log();

    // Both hosts; A turns healthy about 7 s in (three open periods), from a helper thread.
    std::atomic<bool> done{false};
    double flipped_at = 0;
    int flip_status = 0;
    std::thread flipper([&] {
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(7);
        while (!done && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        if (!done) {
            flipped_at =
                std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
                    .count();
            flip_status = failing.control("healthy");
        }
    });
    s.seeds = a_seed + b_seed;
    auto both = resilience_crawl(tmp.path() / "both", s);
    done = true;
    flipper.join();
    INFO(describe(both.result));
    REQUIRE(both.result.exit_code == 0);
    CHECK(flip_status == 200);
    CHECK(both.items.size() == a_urls + b_urls);
    CHECK(both.errors.empty());
    CHECK(json_int(both.stats.at("breaker").at("opened")) >= 1);

    // Host A's arrivals, split into bursts at every pause of a second or more.
    const auto a = failing.arrivals();
    REQUIRE(a.size() > 10);
    std::vector<std::vector<arrival>> bursts(1);
    std::vector<double> gaps_before;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (i > 0 && a[i].t - a[i - 1].t >= 1.0) {
            gaps_before.push_back(a[i].t - a[i - 1].t);
            bursts.emplace_back();
        }
        bursts.back().push_back(a[i]);
    }
    std::ostringstream shape;
    for (std::size_t i = 0; i < bursts.size(); ++i) {
        shape << (i ? " | gap " + std::to_string(gaps_before[i - 1]) + " s | " : "")
              << bursts[i].size() << " calls";
    }
    INFO("host A: " << shape.str() << "; flipped healthy at +"
                    << (flipped_at > 0 ? flipped_at - a.front().t : -1) << " s");
    // Before the first pause: enough calls to decide (min_calls), never more than the window.
    CHECK(bursts.front().size() >= 10);
    CHECK(bursts.front().size() <= 20);
    REQUIRE(bursts.size() >= 3);  // at least one failed probe round, then the recovery
    for (std::size_t i = 1; i < bursts.size(); ++i) {
        CHECK(gaps_before[i - 1] >= open_for - 0.05);
        const bool failed_round = std::all_of(bursts[i].begin(), bursts[i].end(),
                                              [](const arrival& x) { return x.status == 503; });
        if (failed_round) {
            CHECK(bursts[i].size() <= 2);  // half_open_probes
        }
    }
    // The last burst is the recovery: it succeeds and finishes every A URL.
    CHECK(bursts.back().back().status == 200);

    // Host B kept its pace while A was failing.
    const double b_both = span_seconds(healthy.arrivals());
    INFO("host B: alone " << b_alone << " s, beside failing A " << b_both << " s");
    CHECK(healthy.arrivals().size() == b_urls);
    CHECK(b_alone > 4.0);
    CHECK(b_both <= b_alone * paced_neighbour_slowdown);
    CHECK(b_both >= b_alone * 0.90);
}

TEST_CASE("retries waiting for their backoff hold no concurrency slot",
          "[integration][resilience]") {
    temp_dir tmp("harvest-slots");
    chaos_origin flaky(tmp.path() / "a", "a");
    chaos_origin slow(tmp.path() / "b", "b");
    constexpr int urls = 2000;

    crawl_settings s;
    s.concurrency = 16;
    s.per_host_concurrency = 16;
    s.retry =
        "  max_attempts: 4\n"
        "  backoff: {strategy: none, base: 200ms, max: 200ms}\n"
        "  budget: {ratio: 1000, min_per_second: 1000}\n";
    // A fails two calls in three by design: a breaker that cannot decide within this crawl
    // keeps it sending (this test is about slots, not the breaker).
    s.breaker = "  window: 10000\n  min_calls: 10000\n  failure_rate: 0.5\n  open_for: 30s\n";
    // B's own limit makes it take about 5 s: 2000 requests of 20 ms, 8 at a time. Waiting on the
    // origin's timer (not on CPU) sets its pace, so a busy machine disturbs the comparison
    // little. Were A's retries holding slots while they wait (2 x 2000 x 200 ms over 16 slots),
    // B would get next to none for many seconds.
    s.hosts = "hosts:\n  \"" + slow.host() + "\":\n    per_host_concurrency: 8\n";
    const std::string b_seed = urls_seed(tmp.path(), "b.txt", slow, numbered("/delay/20/b", urls));
    const std::string a_seed =
        urls_seed(tmp.path(), "a.txt", flaky, numbered("/fail-then-ok/2/a", urls));

    s.seeds = b_seed;
    auto alone = resilience_crawl(tmp.path() / "alone", s);
    {
        INFO(describe(alone.result));
        REQUIRE(alone.result.exit_code == 0);
        REQUIRE(alone.items.size() == urls);
    }
    const double b_alone = span_seconds(slow.arrivals());
    slow.clear_log();

    s.seeds = a_seed + b_seed;  // A first: its requests and retries compete from the start
    auto both = resilience_crawl(tmp.path() / "both", s);
    INFO(describe(both.result));
    REQUIRE(both.result.exit_code == 0);
    CHECK(both.items.size() == 2 * urls);
    CHECK(both.errors.empty());
    const auto a = flaky.arrivals();
    CHECK(a.size() == 3 * urls);

    const auto b = slow.arrivals();
    REQUIRE(b.size() == urls);
    // The comparison means something only if A's retries overlapped B's run.
    REQUIRE_FALSE(a.empty());
    CHECK(a.back().t > b.front().t);
    const double b_both = span_seconds(b);
    INFO("host B: alone " << b_alone << " s, beside retrying A " << b_both << " s; A took "
                          << span_seconds(a) << " s");
    // Were A's retries holding slots, B would wait ~50 s of slot time: far above either bound.
    CHECK(b_both <= b_alone * neighbour_slowdown);
}

TEST_CASE("a POST seed keeps one Idempotency-Key across its retries", "[integration][resilience]") {
    temp_dir tmp("harvest-idempotency");
    chaos_origin origin(tmp.path() / "origin");
    crawl_settings s;
    s.seeds = "  - url: " + origin.url("/fail-then-ok/2/post1") +
              "\n    method: POST\n"
              "    headers: {Content-Type: application/json}\n"
              "    body: '{\"q\": 1}'\n";
    s.retry =
        "  max_attempts: 4\n"
        "  backoff: {strategy: none, base: 20ms, max: 20ms}\n";
    auto run = resilience_crawl(tmp.path() / "run", s);
    INFO(describe(run.result));
    REQUIRE(run.result.exit_code == 0);
    CHECK(run.items.size() == 1);

    const auto seen = origin.arrivals_of("/fail-then-ok/2/post1");
    REQUIRE(seen.size() == 3);
    const std::regex uuid_v4("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
    for (const auto& a : seen) {
        CHECK(a.method == "POST");
        INFO("Idempotency-Key: " << a.idempotency_key);
        CHECK(std::regex_match(a.idempotency_key, uuid_v4));
        CHECK(a.idempotency_key == seen.front().idempotency_key);
    }
    CHECK(seen.back().status == 200);
}

TEST_CASE("a POST seed that brings its own Idempotency-Key is retried with that key",
          "[integration][resilience]") {
    temp_dir tmp("harvest-idempotency-own");
    chaos_origin origin(tmp.path() / "origin");
    crawl_settings s;
    s.seeds = "  - url: " + origin.url("/fail-then-ok/2/post2") +
              "\n    method: POST\n"
              "    headers: {Content-Type: application/json, Idempotency-Key: order-42}\n"
              "    body: '{\"q\": 2}'\n";
    s.retry =
        "  max_attempts: 4\n"
        "  backoff: {strategy: none, base: 20ms, max: 20ms}\n";
    auto run = resilience_crawl(tmp.path() / "run", s);
    INFO(describe(run.result));
    REQUIRE(run.result.exit_code == 0);

    // The key is there, so POST may be retried (retry.methods, config.md): three requests,
    // each with the caller's key, and a success.
    const auto seen = origin.arrivals_of("/fail-then-ok/2/post2");
    REQUIRE_FALSE(seen.empty());
    for (const auto& a : seen) {
        CHECK(a.idempotency_key == "order-42");
    }
    INFO("errors: " << (run.errors.empty() ? "none" : json::serialize(run.errors.front())));
    CHECK(seen.size() == 3);
    CHECK(run.items.size() == 1);
    CHECK(run.errors.empty());
}

namespace {

// A host failing every call, open_for 1 s and one probe a second, with 100 attempts a URL:
// only give_up_after (3 s, from crawl_settings `s`) can end this crawl in time.
void check_gives_up(const fs::path& dir, const chaos_origin& failing, crawl_settings s) {
    constexpr int urls = 30;
    s.per_host_concurrency = 2;
    s.seeds = urls_seed(dir, "a.txt", failing, numbered("/ok/a", urls));
    s.retry =
        "  max_attempts: 100\n"
        "  backoff: {strategy: none, base: 20ms, max: 20ms}\n"
        "  budget: {ratio: 1000, min_per_second: 1000}\n";
    auto run = resilience_crawl(dir / "run", s, std::chrono::seconds(20));
    INFO(describe(run.result));
    REQUIRE(run.result.exit_code == 0);
    CHECK(run.items.empty());
    REQUIRE(run.errors.size() == urls);
    for (const auto& e : run.errors) {
        CHECK(e.at("error").as_string() == "circuit_open");
    }
    const auto a = failing.arrivals();
    REQUIRE_FALSE(a.empty());
    INFO("calls " << a.size() << " over " << span_seconds(a) << " s");
    CHECK(span_seconds(a) <= 4.5);
}

const std::string give_up_breaker =
    "  window: 20\n  min_calls: 10\n  failure_rate: 0.5\n"
    "  open_for: 1s\n  half_open_probes: 1\n";

}  // namespace

TEST_CASE("a host open longer than circuit_breaker.give_up_after fails its requests",
          "[integration][resilience]") {
    temp_dir tmp("harvest-give-up");
    chaos_origin failing(tmp.path() / "a", "a", /*fail_all=*/true);
    crawl_settings s;
    s.breaker = give_up_breaker + "  give_up_after: 3s\n";
    check_gives_up(tmp.path(), failing, s);
}

TEST_CASE("a host's own circuit_breaker.give_up_after (hosts: override) is obeyed",
          "[integration][resilience]") {
    temp_dir tmp("harvest-give-up-host");
    chaos_origin failing(tmp.path() / "a", "a", /*fail_all=*/true);
    crawl_settings s;
    s.breaker = give_up_breaker + "  give_up_after: 10m\n";
    s.hosts = "hosts:\n  \"" + failing.host() + "\":\n    circuit_breaker: {give_up_after: 3s}\n";
    check_gives_up(tmp.path(), failing, s);
}
