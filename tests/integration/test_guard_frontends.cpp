// The per-host rules hold the same under every front end: each test runs once as a crawl
// (`harvest run` with a crawl config) and once as a bulk job (`harvest serve` with a profile of
// the same sections), against the chaos origin, and judges both by the origin's arrival log and
// by how each URL ended. Both front ends ask the one resilience::host_guard (DESIGN.md,
// principle 8); a front end that kept its own copy of a rule fails here.

#include "tests/integration/chaos.hpp"
#include "tests/integration/serve_process.hpp"
#include "tests/integration/support.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <algorithm>
#include <map>
#include <sstream>
#include <thread>

namespace {

using namespace harvest::test;
namespace json = boost::json;
using namespace std::chrono_literals;

#ifdef HARVEST_SANITIZED
constexpr double frontends_arrival_jitter = 0.100;  // s; see test_resilience.cpp
#else
constexpr double frontends_arrival_jitter = 0.050;
#endif

enum class front_end { crawl, serve };

const char* name_of(front_end front) {
    return front == front_end::crawl ? "harvest run" : "harvest serve";
}

// The sections both front ends read the same way (a crawl config's, a service profile's).
struct guard_sections {
    int per_host_concurrency = 32;
    std::string rate_limit = "{per_second: 0, burst: 1}";
    std::string retry =
        "{max_attempts: 3, backoff: {strategy: none, base: 20ms, max: 20ms}, "
        "retry_after: {honor: true, max: 30s}}";
    std::string breaker = "{window: 100, min_calls: 100, failure_rate: 0.5, open_for: 30s}";
    std::string hosts;  // the entries under `hosts:` (indented by 2 in a crawl config), or empty
};

// Sections at `indent` spaces, the same text for a crawl config and a service profile.
std::string sections_yaml(const guard_sections& s, const std::string& indent) {
    std::ostringstream y;
    y << indent << "engine: {per_host_concurrency: " << s.per_host_concurrency << "}\n"
      << indent << "http: {timeouts: {connect: 2s, total: 10s}}\n"
      << indent << "rate_limit: " << s.rate_limit << "\n"
      << indent << "retry: " << s.retry << "\n"
      << indent << "circuit_breaker: " << s.breaker << "\n";
    if (!s.hosts.empty()) {
        y << indent << "hosts:\n";
        std::istringstream lines(s.hosts);
        for (std::string line; std::getline(lines, line);) {
            y << indent << "  " << line << "\n";
        }
    }
    y << indent << "extract:\n"
      << indent << "  - {match: \".\", type: json, fields: {id: /id}, required: [id]}\n";
    return y.str();
}

// How each URL ended: "ok", or its failure kind.
using endings = std::map<std::string, std::string>;

endings frontends_crawl(const fs::path& dir, const guard_sections& s,
                        const std::vector<std::string>& urls) {
    fs::create_directories(dir);
    std::string list;
    for (const auto& url : urls) {
        list += url + "\n";
    }
    write_file(dir / "urls.txt", list);
    // The crawl's own engine keys go beside the shared ones: a second `engine:` would be a
    // duplicate key, so the shared line is rewritten with them.
    auto shared = sections_yaml(s, "");
    const std::string engine_line =
        "engine: {per_host_concurrency: " + std::to_string(s.per_host_concurrency) + "}\n";
    shared.replace(shared.find(engine_line), engine_line.size(),
                   "engine: {concurrency: 32, per_host_concurrency: " +
                       std::to_string(s.per_host_concurrency) +
                       ", threads: 2, robots_txt: ignore, dedup: true}\n");
    write_file(dir / "cfg.yaml",
               "name: frontends\nseeds:\n  - urls_file: " + (dir / "urls.txt").string() + "\n" +
                   shared + "outputs:\n  - type: jsonl\n    path: out/items.jsonl\n");
    const auto result = run_process({harvest_binary().string(), "run", (dir / "cfg.yaml").string()},
                                    std::chrono::seconds(90));
    INFO(describe(result));
    REQUIRE(result.exit_code == 0);
    endings out;
    for (const auto& item : read_jsonl(dir / "out/items.jsonl")) {
        out[std::string(item.at("url").as_string())] = "ok";
    }
    for (const auto& error : read_jsonl(errors_path_for(dir / "out/items.jsonl"))) {
        out[std::string(error.at("url").as_string())] = std::string(error.at("error").as_string());
    }
    return out;
}

// One API call with curl; the status and the body.
std::pair<int, std::string> frontends_curl(const fs::path& dir, const std::string& method,
                                           const std::string& url, const std::string& body = {}) {
    const auto out_file = dir / "curl.out";
    std::vector<std::string> argv{"curl", "-s",
                                  "-X",   method,
                                  "-o",   out_file.string(),
                                  "-w",   "%{http_code}",
                                  "-H",   "Authorization: Bearer key-alpha"};
    if (!body.empty()) {
        write_file(dir / "curl.body", body);
        argv.insert(argv.end(), {"-H", "Content-Type: application/json", "--data-binary",
                                 "@" + (dir / "curl.body").string()});
    }
    argv.push_back(url);
    const auto result = run_process(argv, 30s);
    const int status = std::atoi(result.out.c_str());
    auto text = fs::exists(out_file) ? read_file(out_file) : std::string();
    fs::remove(out_file);
    return {status, text};
}

endings run_serve(const fs::path& dir, const guard_sections& s,
                  const std::vector<std::string>& urls, const std::vector<std::string>& hosts) {
    fs::create_directories(dir);
    const int port = free_port();
    std::string allow;
    for (const auto& host : hosts) {
        allow += (allow.empty() ? "\"" : ", \"") + host + "\"";
    }
    write_file(dir / "keys.txt", "key-alpha\n");
    write_file(dir / "serve.yaml",
               "listen: 127.0.0.1:" + std::to_string(port) +
                   "\napi_keys_file: keys.txt\njobs_db: jobs.db\n"
                   "max_items_per_job: 5000\nconcurrency: 32\n"
                   "profiles:\n  frontends:\n" +
                   sections_yaml(s, "    ") + "templates:\n  none: \"http://" + hosts.front() +
                   "/{id}\"\negress: {deny_private: true, allow: [" + allow + "]}\n");
    serve_process service(dir / "serve.yaml", dir / "serve.log", port);
    const std::string base = "http://127.0.0.1:" + std::to_string(port);
    json::array list;
    for (const auto& url : urls) {
        list.emplace_back(url);
    }
    const auto [submitted, answer] =
        frontends_curl(dir, "POST", base + "/v1/jobs",
                       R"({"profile":"frontends","urls":)" + json::serialize(list) + "}");
    INFO(answer);
    REQUIRE(submitted == 202);
    const std::string id(json::parse(answer).at("job_id").as_string());
    // Bounded: 90 s, a poll every 100 ms.
    bool done = false;
    for (const auto until = std::chrono::steady_clock::now() + 90s;
         !done && std::chrono::steady_clock::now() < until;) {
        const auto [status, body] = frontends_curl(dir, "GET", base + "/v1/jobs/" + id);
        done = status == 200 && json::parse(body).at("status").as_string() == "done";
        if (!done) {
            std::this_thread::sleep_for(100ms);
        }
    }
    REQUIRE(done);
    const auto [status, body] = frontends_curl(dir, "GET", base + "/v1/jobs/" + id + "/results");
    REQUIRE(status == 200);
    endings out;
    std::istringstream lines(body);
    for (std::string line; std::getline(lines, line);) {
        const auto result = json::parse(line).as_object();
        const std::string url(result.at("url").as_string());
        out[url] = result.at("status").as_string() == "ok"
                       ? "ok"
                       : std::string(result.at("error").as_string());
    }
    return out;
}

endings run_front_end(front_end front, const fs::path& dir, const guard_sections& s,
                      const std::vector<std::string>& urls, const std::vector<std::string>& hosts) {
    return front == front_end::crawl ? frontends_crawl(dir, s, urls)
                                     : run_serve(dir, s, urls, hosts);
}

}  // namespace

TEST_CASE("both front ends: Retry-After is honoured once and a 404 is tried once",
          "[integration][serve][resilience]") {
    const auto front = GENERATE(front_end::crawl, front_end::serve);
    INFO(name_of(front));
    temp_dir tmp("harvest-frontends");
    chaos_origin origin(tmp.path() / "origin");
    const std::vector<std::string> urls{origin.url("/429/2/delta"), origin.url("/status/404/gone"),
                                        origin.url("/ok/fine")};
    const auto ended = run_front_end(front, tmp.path() / "run", {}, urls, {origin.host()});
    CHECK(ended.at(urls[0]) == "ok");
    CHECK(ended.at(urls[1]) == "status_4xx");
    CHECK(ended.at(urls[2]) == "ok");

    const auto refused = origin.arrivals_of("/429/2/delta");
    REQUIRE(refused.size() == 2);  // once refused, retried exactly once
    CHECK(refused[0].status == 429);
    CHECK(refused[1].status == 200);
    const double gap = refused[1].t - refused[0].t;
    INFO("retried after " << gap << " s");
    CHECK(gap >= 2.0);
    CHECK(gap <= 4.5);
    CHECK(origin.arrivals_of("/status/404/gone").size() == 1);
}

TEST_CASE("both front ends: a host's rate holds in every window, set by its hosts: entry",
          "[integration][serve][resilience]") {
    const auto front = GENERATE(front_end::crawl, front_end::serve);
    INFO(name_of(front));
    temp_dir tmp("harvest-frontends");
    chaos_origin origin(tmp.path() / "origin");
    constexpr int count = 60;
    constexpr double rate = 20;
    constexpr double burst = 5;
    guard_sections s;
    // Unlimited but for the host's own entry ("host:port"): both front ends must find it.
    s.hosts = "\"" + origin.host() + "\": {rate_limit: {per_second: 20, burst: 5}}\n";
    std::vector<std::string> urls;
    for (int i = 0; i < count; ++i) {
        urls.push_back(origin.url("/ok/r" + std::to_string(i)));
    }
    const auto ended = run_front_end(front, tmp.path() / "run", s, urls, {origin.host()});
    CHECK(std::count_if(ended.begin(), ended.end(),
                        [](const auto& e) { return e.second == "ok"; }) == count);
    const auto arrivals = origin.arrivals();
    REQUIRE(arrivals.size() == count);
    const double worst = worst_window_excess(arrivals, rate, burst, frontends_arrival_jitter);
    INFO("worst window excess over 20 * (T + jitter) + 5: " << worst << " requests");
    CHECK(worst <= 0);
    // And the rate is really used: not far slower than (60 - 5) / 20 = 2.75 s.
    CHECK(arrivals.back().t - arrivals.front().t <= (count - burst) / rate * 1.3);
}

TEST_CASE("both front ends: a failing host's open breaker does not slow a healthy host",
          "[integration][serve][resilience]") {
    const auto front = GENERATE(front_end::crawl, front_end::serve);
    INFO(name_of(front));
    temp_dir tmp("harvest-frontends");
    chaos_origin failing(tmp.path() / "a", "a", /*fail_all=*/true);
    chaos_origin healthy(tmp.path() / "b", "b");
    constexpr int failing_urls = 20;
    constexpr int healthy_urls = 100;
    guard_sections s;
    s.retry = "{max_attempts: 3, backoff: {strategy: none, base: 20ms, max: 20ms}}";
    // Opens on the failing host's first failures, probes every second, gives it up after 2 s.
    s.breaker =
        "{window: 20, min_calls: 5, failure_rate: 0.5, min_open_for: 1s, open_for: 1s, "
        "give_up_after: 2s}";
    s.hosts = "\"" + healthy.host() + "\": {rate_limit: {per_second: 50, burst: 10}}\n";
    std::vector<std::string> urls;
    for (int i = 0; i < failing_urls; ++i) {
        urls.push_back(failing.url("/ok/a" + std::to_string(i)));
    }
    for (int i = 0; i < healthy_urls; ++i) {
        urls.push_back(healthy.url("/ok/b" + std::to_string(i)));
    }
    const auto ended =
        run_front_end(front, tmp.path() / "run", s, urls, {failing.host(), healthy.host()});
    for (int i = 0; i < failing_urls; ++i) {
        const auto& how = ended.at(urls[static_cast<std::size_t>(i)]);
        INFO(urls[static_cast<std::size_t>(i)] << ": " << how);
        CHECK((how == "circuit_open" || how == "retries_exhausted"));
    }
    int healthy_ok = 0;
    for (int i = failing_urls; i < failing_urls + healthy_urls; ++i) {
        healthy_ok += ended.at(urls[static_cast<std::size_t>(i)]) == "ok" ? 1 : 0;
    }
    CHECK(healthy_ok == healthy_urls);
    // The failing host was not hammered: its breaker opened (a failed item counts once).
    CHECK(failing.arrivals().size() <= 30);  // 20 first attempts and a few probes, not 60
    // The healthy host kept its own pace, (100 - 10) / 50 = 1.8 s, while the other was open.
    const auto b = healthy.arrivals();
    REQUIRE(b.size() == static_cast<std::size_t>(healthy_urls));
    const double took = b.back().t - b.front().t;
    INFO("healthy host: " << took << " s for " << healthy_urls << " URLs at 50/s");
    CHECK(took <= (healthy_urls - 10) / 50.0 * 1.5);
}
