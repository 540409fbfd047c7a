// Observability acceptance tests: a real `harvest run` with faults (404s from nginx, a dead host
// that trips its breaker, 503s and a 429 from the chaos origin when it is built) serves
// /metrics while it runs; promtool lints every scrape; a real Prometheus scrapes the run and
// must hold every metric of docs/metrics.md with the right labels and plausible values; and
// every query of deploy/grafana/harvest-dashboard.json must return data from it.
//
// POSIX only, no Asio (the integration binary has none): raw sockets for /metrics, curl for
// Prometheus' HTTP API, promtool and prometheus from the Debian packages.

#include "tests/integration/observability.hpp"
#include "tests/integration/support.hpp"
#ifdef HARVEST_CHAOS_ORIGIN
#include "tests/integration/chaos.hpp"
#endif

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace harvest::test;
using namespace std::chrono_literals;
namespace json = boost::json;
using namespace harvest::test::observability;

constexpr const char* crawl_name = "obs";

// ---------------------------------------------------------------------------------------------
// What promtool does not check (TOOLCHAIN.md): duplicate series and histograms without +Inf.
std::vector<std::string> exposition_problems(const std::string& body) {
    std::vector<std::string> problems;
    std::set<std::string> series;
    std::map<std::string, bool> histogram_has_inf;  // "name{labels without le}" -> seen +Inf
    std::istringstream lines(body);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        const auto space = line.rfind(' ');
        const std::string key = line.substr(0, space);
        if (!series.insert(key).second) {
            problems.push_back("duplicate series: " + key);
        }
        const auto brace = key.find('{');
        const std::string name = key.substr(0, brace);
        if (name.ends_with("_bucket")) {
            static const std::regex le_label(R"re(,?le="([^"]*)")re");
            std::smatch m;
            std::string rest = key.substr(brace);
            if (std::regex_search(rest, m, le_label)) {
                const bool inf = m[1] == "+Inf";
                const std::string group = name + m.prefix().str() + m.suffix().str();
                histogram_has_inf[group] = histogram_has_inf[group] || inf;
            }
        }
    }
    for (const auto& [group, has_inf] : histogram_has_inf) {
        if (!has_inf) {
            problems.push_back("histogram without le=\"+Inf\": " + group);
        }
    }
    return problems;
}

// ---------------------------------------------------------------------------------------------
// A real Prometheus, child of the test, stopped by pid.

// The faulty crawl both tests run.

struct fault_crawl {
    temp_dir tmp{"harvest-obs"};
    std::unique_ptr<nginx_server> nginx;
#ifdef HARVEST_CHAOS_ORIGIN
    std::unique_ptr<chaos_origin> chaos;
#endif
    int dead_port = 0;
    int metrics_port = 0;
    int missing = 0;  // URLs that 404 on nginx
    bool has_tail = false;

    // metrics.linger: /metrics stays up this long after the crawl.
    explicit fault_crawl(const std::string& linger = "0") {
        generate_catalog(tmp / "site", {.products = 200, .seed = 7, .gzip_fraction = 0.2});
        nginx_options options;
        options.site = tmp / "site";
        options.run_dir = tmp / "nginx";
        nginx = std::make_unique<nginx_server>(options);
        dead_port = free_port();  // nothing listens there: connect errors, retries, breaker
        metrics_port = free_port();

        std::string urls;
        // The 404s first, so that they are long done when the last scrape happens.
        for (missing = 0; missing < 10; ++missing) {
            urls +=
                nginx->base_url() + "/api/products/MISSING" + std::to_string(missing) + ".json\n";
        }
        for (int i = 0; i < 15; ++i) {
            urls += "http://127.0.0.1:" + std::to_string(dead_port) + "/dead/" + std::to_string(i) +
                    "\n";
        }
#ifdef HARVEST_CHAOS_ORIGIN
        chaos = std::make_unique<chaos_origin>(tmp / "chaos");
        // One slow answer that outlives everything else: the crawl's last ~2 s send nothing,
        // so Prometheus' last scrapes see the final request counters.
        urls += chaos->url("/delay/11000/tail") + "\n";
        has_tail = true;
        for (int i = 0; i < 4; ++i) {
            urls += chaos->url("/fail-then-ok/2/f" + std::to_string(i)) + "\n";
        }
        urls += chaos->url("/429/1/r0") + "\n";
        for (int i = 0; i < 2; ++i) {
            urls += chaos->url("/status/503/s" + std::to_string(i)) + "\n";
        }
        for (int i = 0; i < 6; ++i) {
            urls += chaos->url("/ok/o" + std::to_string(i)) + "\n";
        }
#endif
        // 170 product URLs at 20/s: the crawl lasts about 9 s.
        const auto paths = read_lines(tmp / "site" / "urls-json.txt");
        for (std::size_t i = 0; i < paths.size() && i < 170; ++i) {
            urls += nginx->base_url() + paths[i] + "\n";
        }
        write_file(tmp / "urls.txt", urls);
        write_file(tmp / "cfg.yaml",
                   std::string("name: ") + crawl_name + "\n" +
                       "seeds:\n  - urls_file: urls.txt\n"
                       "engine:\n  concurrency: 64\n  per_host_concurrency: 16\n  threads: 2\n"
                       "  robots_txt: ignore\n"
                       "http:\n  timeouts: {connect: 1s, tls: 1s, response_headers: 15s, "
                       "idle_read: 15s, total: 20s}\n"
                       "rate_limit:\n  per_second: 20\n  burst: 1\n"
                       "retry:\n  max_attempts: 3\n  on_status: [429, 500, 502, 503, 504]\n"
                       "  on_errors: [connect, reset]\n"
                       "  backoff: {strategy: full_jitter, base: 100ms, max: 400ms}\n"
                       "  retry_after: {honor: true, max: 10s}\n"
                       "circuit_breaker:\n  window: 10\n  min_calls: 4\n  failure_rate: 0.5\n"
                       "  open_for: 3s\n  half_open_probes: 1\n  give_up_after: 5s\n"
                       "extract:\n  - match: \"/api/products/\"\n    type: json\n"
                       "    fields: {id: /asin, price: /price}\n    required: [id]\n"
                       "  - match: \".\"\n    type: json\n    fields: {id: /asin}\n"
                       "    required: [id]\n"
                       "outputs:\n  - type: jsonl\n    path: out/items.jsonl\n"
                       "metrics:\n  listen: \"127.0.0.1:${HARVEST_TEST_METRICS_PORT}\"\n"
                       "  host_label_limit: 100\n  linger: " +
                       linger + "\n");
    }

    std::string nginx_host() const {
        return "127.0.0.1:" + std::to_string(nginx->port());
    }
    std::string dead_host() const {
        return "127.0.0.1:" + std::to_string(dead_port);
    }

    // Requests the origins saw (nginx's access log, the chaos origin's arrival log).
    std::size_t origin_requests() const {
        std::size_t n = nginx->access_entries().size();
#ifdef HARVEST_CHAOS_ORIGIN
        n += chaos->arrivals().size();
#endif
        return n;
    }

    // Runs the crawl on a thread; `while_running` is called on this one until it ends.
    process_result run(const std::function<void()>& while_running) {
        process_result result;
        std::thread crawl([&] {
            process_options options;
            options.timeout = std::chrono::seconds(60);
            options.env = {"HARVEST_TEST_METRICS_PORT=" + std::to_string(metrics_port)};
            result =
                run_process({harvest_binary().string(), "run", (tmp / "cfg.yaml").string(),
                             "--stats-json", (tmp / "stats.json").string(), "--progress", "never"},
                            options);
        });
        try {
            while_running();
        } catch (...) {
            crawl.join();
            throw;
        }
        crawl.join();
        return result;
    }
};

// Grafana's variables, as Grafana would expand them for this test's crawl.
std::string expand(const std::string& expr) {
    return observability::expand(expr, crawl_name);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

TEST_CASE("observability: the dashboard and deploy files use only metrics.md names",
          "[integration][observability]") {
    auto specs = load_metric_specs();
    REQUIRE(specs.size() >= 25);  // 19 harvest_ metrics + 6 process_ metrics
    for (auto& s : load_metric_specs(metric_section::distributed_workers)) {
        specs.push_back(std::move(s));  // shown too, in their own row
    }
    for (auto& s : load_metric_specs(metric_section::proxy_crawls)) {
        specs.push_back(std::move(s));  // likewise
    }
    std::set<std::string> allowed;  // sample names a query may use
    std::map<std::string, std::string> family_of;
    for (const auto& s : specs) {
        if (s.type == "histogram") {
            for (const char* suffix : {"_bucket", "_sum", "_count"}) {
                allowed.insert(s.name + suffix);
                family_of[s.name + suffix] = s.name;
            }
        } else {
            allowed.insert(s.name);
            family_of[s.name] = s.name;
        }
    }

    const auto dashboard = load_dashboard();
    CHECK(dashboard.at("uid").as_string() == "harvest-crawl");
    const auto schema = json_int(dashboard.at("schemaVersion"));
    CHECK(schema >= 36);
    CHECK(schema <= 39);
    std::map<std::string, std::string> variables;
    for (const auto& v : dashboard.at("templating").as_object().at("list").as_array()) {
        variables[std::string(v.as_object().at("name").as_string())] =
            std::string(v.as_object().at("type").as_string());
    }
    CHECK(variables["datasource"] == "datasource");
    CHECK(variables["crawl"] == "query");
    CHECK(variables["host"] == "query");

    std::vector<dashboard_query> queries;
    std::vector<std::string> problems;
    collect_queries(dashboard.at("panels").as_array(), queries, problems);
    CHECK(queries.size() >= 25);

    std::set<std::string> used_families;
    const std::regex metric_use(R"(\b((?:harvest|process)_[a-z_]+)\b(\{[^}]*\})?)");
    for (const auto& q : queries) {
        for (auto it = std::sregex_iterator(q.expr.begin(), q.expr.end(), metric_use);
             it != std::sregex_iterator(); ++it) {
            const std::string name = (*it)[1];
            if (allowed.count(name) == 0) {
                problems.push_back("panel \"" + q.panel + "\" uses " + name +
                                   ", not in metrics.md");
                continue;
            }
            used_families.insert(family_of[name]);
            if ((*it)[2].str().find("crawl=~\"$crawl\"") == std::string::npos) {
                problems.push_back("panel \"" + q.panel + "\": " + name +
                                   " is not filtered by $crawl");
            }
        }
    }
    for (const auto& s : specs) {
        if (used_families.count(s.name) == 0) {
            problems.push_back("no panel shows " + s.name);
        }
    }
    for (const auto& p : problems) {
        UNSCOPED_INFO(p);
    }
    CHECK(problems.empty());

    // The Prometheus config the compose file mounts is valid.
    const auto check = run_process(
        {"promtool", "check", "config", (source_dir() / "deploy" / "prometheus.yml").string()},
        std::chrono::seconds(30));
    INFO(check.out << check.err);
    CHECK(check.exit_code == 0);
}

TEST_CASE("observability: /metrics of a running crawl is promtool-clean",
          "[integration][observability]") {
    fault_crawl crawl;
    std::vector<http_reply> scrapes;
    const auto result = crawl.run([&] {
        // Wait for the endpoint (bounded), then scrape about once a second until the run ends.
        for (int i = 0; i < 200 && !port_accepts(crawl.metrics_port); ++i) {
            std::this_thread::sleep_for(50ms);
        }
        for (int i = 0; i < 40 && port_accepts(crawl.metrics_port); ++i) {
            auto reply = http_get(crawl.metrics_port, "/metrics");
            if (reply.status != -1) {
                scrapes.push_back(std::move(reply));
            }
            std::this_thread::sleep_for(900ms);
        }
    });
    INFO(describe(result));
    CHECK(result.exit_code == 0);
    CHECK_FALSE(port_accepts(crawl.metrics_port));  // the endpoint stops with the run
    REQUIRE(scrapes.size() >= 5);

    bool saw_requests = false;
    for (std::size_t i = 0; i < scrapes.size(); ++i) {
        const auto& s = scrapes[i];
        INFO("scrape " << i << ":\n" << s.body.substr(0, 2000));
        CHECK(s.status == 200);
        CHECK(s.content_type == "text/plain; version=0.0.4; charset=utf-8");
        const auto lint = promtool_check_metrics(crawl.tmp.path(), s.body, static_cast<int>(i));
        INFO("promtool: " << lint.out << lint.err);
        CHECK(lint.exit_code == 0);
        CHECK(lint.out.empty());
        CHECK(lint.err.empty());
        const auto problems = exposition_problems(s.body);
        for (const auto& p : problems) {
            UNSCOPED_INFO(p);
        }
        CHECK(problems.empty());
        saw_requests =
            saw_requests || s.body.find("\nharvest_requests_total{") != std::string::npos;
    }
    CHECK(saw_requests);
    // Every series carries the crawl label.
    const auto& last = scrapes.back().body;
    std::istringstream lines(last);
    std::string line;
    int without_crawl = 0;
    while (std::getline(lines, line)) {
        if (!line.empty() && line[0] != '#' &&
            line.find("crawl=\"" + std::string(crawl_name) + "\"") == std::string::npos) {
            ++without_crawl;
            UNSCOPED_INFO("no crawl label: " << line);
        }
    }
    CHECK(without_crawl == 0);
}

TEST_CASE(
    "observability: Prometheus scrapes a faulty crawl; every metric and dashboard query "
    "has data",
    "[integration][observability]") {
    // Lingering for 3 scrape intervals: the last scrapes see the final counts.
    fault_crawl crawl("3s");
    // Started before the crawl (it takes ~6 s) so that it scrapes the run from its start.
    prometheus_server prometheus(crawl.tmp / "prometheus", crawl.metrics_port);
    REQUIRE(prometheus.wait_first_scrape());
    const double started = now_seconds();
    const auto result = crawl.run([] {});
    const double ended = now_seconds();
    INFO(describe(result));
    REQUIRE(result.exit_code == 0);
    CHECK(ended - started >= 8.0);
    // Let Prometheus notice the target went away and flush nothing further; queries below are
    // pinned to the last successful scrape.
    std::this_thread::sleep_for(1500ms);

    const std::string sel = std::string("{crawl=\"") + crawl_name + "\"}";
    // The raw samples of a series that is always there give the scrape timestamps.
    const auto build_samples = prometheus.query("harvest_build_info" + sel + "[10m]", ended + 1);
    REQUIRE(build_samples.size() == 1);
    const auto& values = build_samples[0].as_object().at("values").as_array();
    INFO("successful scrapes: " << values.size());
    REQUIRE(values.size() >= 5);
    const double last_scrape = values.back().as_array()[0].to_number<double>();
    {
        std::ostringstream t;
        t << "scrapes at (s after start, run lasted " << ended - started << " s):";
        for (const auto& v : values) {
            t << " " << v.as_array()[0].to_number<double>() - started;
        }
        const auto up = prometheus.query("up[10m]", ended + 1);
        for (const auto& series : up) {
            t << "\nup:";
            for (const auto& v : series.as_object().at("values").as_array()) {
                t << " " << v.as_array()[0].to_number<double>() - started << "="
                  << v.as_array()[1].as_string();
            }
        }
        UNSCOPED_INFO(t.str());
    }
    const auto scalar_at = [&](const std::string& expr, double at) -> std::optional<double> {
        const auto r = prometheus.query(expr, at);
        if (r.empty()) {
            return std::nullopt;
        }
        return std::stod(std::string(r[0].as_object().at("value").as_array()[1].as_string()));
    };

    // (b) Every metric of metrics.md, with exactly its labels.
    std::vector<std::string> problems;
    for (const auto& spec : load_metric_specs()) {
        const std::string sample = spec.type == "histogram" ? spec.name + "_bucket" : spec.name;
        const auto series = prometheus.api("series", {{"match[]", sample + sel},
                                                      {"start", std::to_string(started - 5)},
                                                      {"end", std::to_string(ended + 5)}});
        if (series.as_array().empty()) {
            problems.push_back(spec.name + ": no series");
            continue;
        }
        for (const auto& s : series.as_array()) {
            std::set<std::string> labels;
            for (const auto& [name, value] : s.as_object()) {
                if (name != "__name__" && name != "job" && name != "instance" && name != "le") {
                    labels.insert(std::string(name));
                }
            }
            if (labels != spec.labels) {
                std::string got;
                for (const auto& l : labels) {
                    got += l + " ";
                }
                problems.push_back(spec.name + ": labels " + got + "in " + json::serialize(s));
                break;
            }
        }
    }
    for (const auto& p : problems) {
        UNSCOPED_INFO(p);
    }
    CHECK(problems.empty());

    // Hosts are host:port (not the scheme's default port), exactly the three the crawl used.
    std::set<std::string> hosts;
    for (const auto& r :
         prometheus.query("sum by (host) (harvest_requests_total" + sel + ")", last_scrape)) {
        hosts.insert(std::string(r.as_object().at("metric").as_object().at("host").as_string()));
    }
    std::set<std::string> expected_hosts{crawl.nginx_host(), crawl.dead_host()};
#ifdef HARVEST_CHAOS_ORIGIN
    expected_hosts.insert(crawl.chaos->host());
#endif
    CHECK(hosts == expected_hosts);

    // Requests counted = requests the origins saw (the dead host saw none, by definition).
    const auto sent_to_origins =
        scalar_at("sum(harvest_requests_total{crawl=\"" + std::string(crawl_name) + "\",host!=\"" +
                      crawl.dead_host() + "\"})",
                  last_scrape);
    REQUIRE(sent_to_origins.has_value());
    const auto seen = static_cast<double>(crawl.origin_requests());
    INFO("harvest_requests_total (origins) " << *sent_to_origins << ", origins saw " << seen);
    // Counted when sent: at every scrape, each origin had seen no more requests than Harvest
    // had counted for it (the chaos origin's slow tail request is in flight through most of
    // the run, so counting at completion instead of at sending shows here).
    std::vector<std::pair<std::string, std::vector<double>>> arrival_times;
    {
        std::vector<double> times;  // nginx logs $msec when the response is done: after sending
        for (const auto& line : read_lines(crawl.nginx->access_log())) {
            times.push_back(std::stod(line.substr(0, line.find(' '))));
        }
        arrival_times.emplace_back(crawl.nginx_host(), times);
    }
#ifdef HARVEST_CHAOS_ORIGIN
    {
        std::vector<double> times;
        for (const auto& a : crawl.chaos->arrivals()) {
            times.push_back(a.t);
        }
        arrival_times.emplace_back(crawl.chaos->host(), times);
    }
#endif
    std::vector<std::string> late_counts;
    for (const auto& v : values) {
        const double at = v.as_array()[0].to_number<double>();
        for (const auto& [host, times] : arrival_times) {
            const auto seen_by_then =
                std::count_if(times.begin(), times.end(), [at](double t) { return t < at; });
            const auto counted =
                scalar_at("sum(harvest_requests_total{crawl=\"" + std::string(crawl_name) +
                              "\",host=\"" + host + "\"})",
                          at)
                    .value_or(0);
            if (counted < static_cast<double>(seen_by_then)) {
                std::ostringstream t;
                t << host << " at +" << at - started << " s: counted " << counted
                  << ", origin had seen " << seen_by_then;
                late_counts.push_back(t.str());
            }
        }
    }
    for (const auto& l : late_counts) {
        UNSCOPED_INFO("harvest_requests_total behind the origin: " << l);
    }
    CHECK(late_counts.empty());
    // metrics.linger kept /metrics up after the crawl: the last scrape has the final counts.
    CHECK(*sent_to_origins == seen);
    {
        const auto stats = json::parse(read_file(crawl.tmp / "stats.json")).as_object();
        double failed = 0;
        for (const auto& [kind, n] : stats.at("failed").as_object()) {
            failed += n.to_number<double>();
        }
        CHECK(failed > 0);
        CHECK(scalar_at("sum(harvest_failures_total" + sel + ")", last_scrape).value_or(-1) ==
              failed);
        CHECK(scalar_at("sum(harvest_requests_total" + sel + ")", last_scrape).value_or(-1) ==
              stats.at("requests").to_number<double>());
    }
    // The dead host: connect errors, retries on connect, its breaker opened.
    const std::string dead =
        "crawl=\"" + std::string(crawl_name) + "\",host=\"" + crawl.dead_host() + "\"";
    CHECK(scalar_at("sum(harvest_request_errors_total{" + dead + ",kind=\"connect\"})", last_scrape)
              .value_or(0) >= 4);
    CHECK(scalar_at("sum(harvest_retries_total{" + dead + ",reason=\"connect\"})", last_scrape)
              .value_or(0) >= 1);
    CHECK(scalar_at("max_over_time(harvest_circuit_state{" + dead + "}[10m])", last_scrape)
              .value_or(-1) == 2);
    CHECK(scalar_at("sum(harvest_circuit_transitions_total{" + dead + ",to=\"open\"})", last_scrape)
              .value_or(0) >= 1);
    // nginx: 404s for the missing products, given up for good as status_4xx; 200s for the rest.
    const std::string on_nginx =
        "crawl=\"" + std::string(crawl_name) + "\",host=\"" + crawl.nginx_host() + "\"";
    CHECK(scalar_at("sum(harvest_responses_total{" + on_nginx + ",code=\"404\"})", last_scrape)
              .value_or(0) == crawl.missing);
    CHECK(
        scalar_at("sum(harvest_failures_total{" + on_nginx + ",kind=\"status_4xx\"})", last_scrape)
            .value_or(0) == crawl.missing);
    CHECK(scalar_at("sum(harvest_responses_total{" + on_nginx + ",code=\"200\"})", last_scrape)
              .value_or(0) >= 150);
    CHECK(scalar_at("sum(harvest_request_duration_seconds_count{" + on_nginx + "})", last_scrape)
              .value_or(0) >= 150);
    CHECK(
        scalar_at("sum(harvest_response_bytes_total{" + on_nginx + "})", last_scrape).value_or(0) >
        10000);
    CHECK(scalar_at("sum(harvest_rate_limit_wait_seconds_total{" + on_nginx + "})", last_scrape)
              .value_or(0) > 1.0);  // 170 requests at 20/s, burst 1: they waited
#ifdef HARVEST_CHAOS_ORIGIN
    const std::string on_chaos =
        "crawl=\"" + std::string(crawl_name) + "\",host=\"" + crawl.chaos->host() + "\"";
    CHECK(scalar_at("sum(harvest_retries_total{" + on_chaos + ",reason=\"503\"})", last_scrape)
              .value_or(0) >= 8);
    CHECK(scalar_at("sum(harvest_retries_total{" + on_chaos + ",reason=\"429\"})", last_scrape)
              .value_or(0) >= 1);
    // The 429's Retry-After: 1 is a backoff of ~1 s.
    CHECK(scalar_at("max(harvest_backoff_seconds_bucket{" + on_chaos +
                        ",le=\"+Inf\"}) - "
                        "max(harvest_backoff_seconds_bucket{" +
                        on_chaos + ",le=\"0.5\"})",
                    last_scrape)
              .value_or(0) >= 1);
#endif
    CHECK(scalar_at("sum(harvest_items_total{crawl=\"" + std::string(crawl_name) +
                        "\",outcome=\"emitted\"})",
                    last_scrape)
              .value_or(0) >= 150);
    CHECK(scalar_at("sum(harvest_output_items_total{crawl=\"" + std::string(crawl_name) +
                        "\",outcome=\"written\"})",
                    last_scrape)
              .value_or(0) >= 150);
    // Gauges were alive during the run: something was in flight and something was queued.
    CHECK(scalar_at("max_over_time(harvest_inflight_requests" + sel + "[10m])", last_scrape)
              .value_or(0) >= 1);
    CHECK(scalar_at("max_over_time(sum(harvest_frontier_requests" + sel + ")[10m:1s])", last_scrape)
              .value_or(0) >= 1);
    // Process metrics: plausible for a live process.
    CHECK(scalar_at("process_resident_memory_bytes" + sel, last_scrape).value_or(0) > 1e6);
    CHECK(scalar_at("process_virtual_memory_bytes" + sel, last_scrape).value_or(0) > 1e6);
    CHECK(scalar_at("process_cpu_seconds_total" + sel, last_scrape).value_or(0) > 0);
    CHECK(scalar_at("process_open_fds" + sel, last_scrape).value_or(0) >= 3);
    CHECK(scalar_at("process_max_fds" + sel, last_scrape).value_or(0) >= 64);
    const auto start_time = scalar_at("process_start_time_seconds" + sel, last_scrape);
    CHECK(start_time.value_or(0) > started - 60);
    CHECK(start_time.value_or(0) < ended);
    CHECK(scalar_at("harvest_build_info" + sel, last_scrape).value_or(0) == 1);

    // (c) Every dashboard query returns data over the run, as Grafana would ask for it.
    const auto dashboard = load_dashboard();
    std::vector<dashboard_query> queries;
    std::vector<std::string> ignored;
    collect_queries(dashboard.at("panels").as_array(), queries, ignored);
    REQUIRE_FALSE(queries.empty());
    std::vector<std::string> empty_panels;
    for (const auto& q : queries) {
        if (q.row == distributed_row || q.row == proxy_row) {
            continue;  // a distributed crawl's workers only: test_redis_outage.cpp; proxies:
                       // test_proxies.cpp
        }
        const auto expr = expand(q.expr);
        const auto r = prometheus.query_range(expr, started, last_scrape + 1, 1.0);
        bool has_points = false;
        for (const auto& series : r) {
            has_points = has_points || !series.as_object().at("values").as_array().empty();
        }
        if (!has_points) {
            empty_panels.push_back("\"" + q.panel + "\" " + q.ref_id + ": " + expr);
        }
    }
    for (const auto& p : empty_panels) {
        UNSCOPED_INFO("no data: " << p);
    }
    CHECK(empty_panels.empty());

    // The template variables' label_values queries find this crawl and its hosts.
    const auto crawls =
        prometheus.api("label/crawl/values", {{"match[]", "harvest_build_info"},
                                              {"start", std::to_string(started - 5)},
                                              {"end", std::to_string(ended + 5)}});
    CHECK(std::any_of(crawls.as_array().begin(), crawls.as_array().end(),
                      [](const json::value& v) { return v.as_string() == crawl_name; }));
    const auto host_values = prometheus.api(
        "label/host/values",
        {{"match[]", "harvest_requests_total{crawl=~\"" + std::string(crawl_name) + "\"}"},
         {"start", std::to_string(started - 5)},
         {"end", std::to_string(ended + 5)}});
    CHECK(host_values.as_array().size() == expected_hosts.size());

    prometheus.stop();
}

// ---------------------------------------------------------------------------------------------
// A healthy crawl, over as soon as it starts: two host names for one nginx and a host label
// limit of 1, so that the second host is counted under "other".

namespace {

struct healthy_crawl {
    temp_dir tmp{"harvest-obs-healthy"};
    std::unique_ptr<nginx_server> nginx;
    int metrics_port = 0;
    std::size_t urls = 0;

    explicit healthy_crawl(const std::string& linger) {
        generate_catalog(tmp / "site", {.products = 20, .seed = 3, .gzip_fraction = 0});
        nginx_options options;
        options.site = tmp / "site";
        options.run_dir = tmp / "nginx";
        nginx = std::make_unique<nginx_server>(options);
        metrics_port = free_port();
        std::string list;
        const auto paths = read_lines(tmp / "site" / "urls-json.txt");
        for (std::size_t i = 0; i < paths.size() && i < 10; ++i, ++urls) {
            list += nginx->base_url() + paths[i] + "\n";
        }
        for (std::size_t i = 10; i < paths.size() && i < 15; ++i, ++urls) {
            list += "http://localhost:" + std::to_string(nginx->port()) + paths[i] + "\n";
        }
        write_file(tmp / "urls.txt", list);
        write_file(tmp / "cfg.yaml",
                   std::string("name: ") + crawl_name + "\n" +
                       "seeds:\n  - urls_file: urls.txt\n"
                       "engine:\n  threads: 2\n  robots_txt: ignore\n"
                       "extract:\n  - match: \".\"\n    type: json\n    fields: {id: /asin}\n"
                       "outputs:\n  - type: jsonl\n    path: out/items.jsonl\n"
                       "metrics:\n  listen: \"127.0.0.1:" +
                       std::to_string(metrics_port) +
                       "\"\n  host_label_limit: 1\n  linger: " + linger + "\n");
    }

    std::vector<std::string> args() const {
        return {"run",          (tmp / "cfg.yaml").string(),  "--progress", "never",
                "--stats-json", (tmp / "stats.json").string()};
    }

    // Waits (bounded) for the line `harvest run` prints when the crawl is over and the linger
    // starts; returns when it saw it.
    static bool wait_linger_line(const fs::path& log) {
        for (int i = 0; i < 600; ++i) {
            if (fs::exists(log) &&
                read_file(log).find("/metrics stays up for") != std::string::npos) {
                return true;
            }
            std::this_thread::sleep_for(50ms);
        }
        return false;
    }
};

// The value of the one sample `series` (name and labels as exposed), if it is there.
std::optional<double> sample_value(const std::string& body, const std::string& series) {
    std::istringstream lines(body);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.starts_with(series + " ")) {
            return std::stod(line.substr(series.size() + 1));
        }
    }
    return std::nullopt;
}

}  // namespace

TEST_CASE(
    "observability: a healthy crawl exposes its error counters at 0, bounded by "
    "host_label_limit; metrics.linger keeps the final values up, then the run exits",
    "[integration][observability][metrics]") {
    healthy_crawl crawl("2s");
    const fs::path log = crawl.tmp / "harvest.log";
    background_harvest run(crawl.args(), log);
    REQUIRE(healthy_crawl::wait_linger_line(log));
    const auto linger_started = std::chrono::steady_clock::now();
    INFO(read_file(log));
    CHECK(read_file(log).find("/metrics stays up for 2 s") != std::string::npos);
    // The crawl is over (its summary and --stats-json are written): /metrics still answers.
    REQUIRE(fs::exists(crawl.tmp / "stats.json"));
    const auto reply = http_get(crawl.metrics_port, "/metrics");
    REQUIRE(reply.status == 200);
    const std::string& body = reply.body;
    INFO(body.substr(0, 4000));
    const auto lint = promtool_check_metrics(crawl.tmp.path(), body, 0);
    CHECK(lint.exit_code == 0);
    CHECK(exposition_problems(body).empty());

    // The final counts: every request nginx saw.
    double requests = 0;
    std::set<std::string> hosts;
    std::size_t failure_series = 0;
    std::istringstream lines(body);
    std::string line;
    static const std::regex host_label(R"re(host="([^"]*)")re");
    while (std::getline(lines, line)) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        std::smatch m;
        if (std::regex_search(line, m, host_label)) {
            hosts.insert(m[1]);
        }
        if (line.starts_with("harvest_requests_total{")) {
            requests += std::stod(line.substr(line.rfind(' ') + 1));
        }
        if (line.starts_with("harvest_failures_total{")) {
            ++failure_series;
        }
    }
    CHECK(requests == static_cast<double>(crawl.urls));
    CHECK(requests == static_cast<double>(crawl.nginx->access_entries().size()));
    // host_label_limit 1: the first host and "other", nothing else, in every family.
    CHECK(hosts.size() == 2);
    CHECK(hosts.count("other") == 1);
    // docs/metrics.md: 18 failure kinds, pre-created per host label, whether or not they happen.
    CHECK(failure_series == 2 * 18);
    const std::string first =
        *std::find_if(hosts.begin(), hosts.end(), [](const auto& h) { return h != "other"; });
    for (const auto& h : {first, std::string("other")}) {
        const std::string labels = std::string("{crawl=\"") + crawl_name + "\",host=\"" + h + "\",";
        CHECK(sample_value(body, "harvest_failures_total" + labels + "kind=\"status_5xx\"}") ==
              0.0);
        CHECK(sample_value(body, "harvest_failures_total" + labels + "kind=\"timeout\"}") == 0.0);
        CHECK(sample_value(body, "harvest_request_errors_total" + labels + "kind=\"connect\"}") ==
              0.0);
        // retry.on_status and retry.on_errors' defaults are the retry reasons.
        CHECK(sample_value(body, "harvest_retries_total" + labels + "reason=\"503\"}") == 0.0);
        CHECK(sample_value(body, "harvest_retries_total" + labels + "reason=\"429\"}") == 0.0);
        CHECK(sample_value(body, "harvest_retries_total" + labels + "reason=\"timeout\"}") == 0.0);
        CHECK_FALSE(
            sample_value(body, "harvest_retries_total" + labels + "reason=\"404\"}").has_value());
        for (const char* to : {"open", "half_open", "closed"}) {
            CHECK(sample_value(body, "harvest_circuit_transitions_total" + labels + "to=\"" + to +
                                         "\"}") == 0.0);
        }
    }

    // Then the run exits by itself, with the crawl's code, once the linger is over.
    CHECK(run.wait(15s) == 0);
    const auto lingered = std::chrono::steady_clock::now() - linger_started;
    CHECK(lingered >= 1500ms);
    CHECK(lingered < 6s);
    CHECK_FALSE(port_accepts(crawl.metrics_port));
}

TEST_CASE(
    "observability: a signal during metrics.linger ends the run at once, with the "
    "crawl's exit code",
    "[integration][observability][metrics]") {
    healthy_crawl crawl("60s");
    const fs::path log = crawl.tmp / "harvest.log";
    background_harvest run(crawl.args(), log);
    REQUIRE(healthy_crawl::wait_linger_line(log));
    INFO(read_file(log));
    REQUIRE(http_get(crawl.metrics_port, "/metrics").status == 200);
    run.signal(SIGINT);
    const auto sent = std::chrono::steady_clock::now();
    CHECK(run.wait(10s) == 0);  // the crawl itself finished: not 130
    CHECK(std::chrono::steady_clock::now() - sent < 2s);
    CHECK_FALSE(port_accepts(crawl.metrics_port));
}
