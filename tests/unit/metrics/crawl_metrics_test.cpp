// crawl_metrics against docs/metrics.md, and whole expositions through
// `promtool check metrics` (plus the two checks promtool does not make: every histogram series
// has a +Inf bucket, and no series appears twice).

#include "engine/metrics/crawl_metrics.hpp"
#include "engine/metrics/process_metrics.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using namespace harvest::metrics;

namespace {

struct promtool_result {
    int exit_code = -1;
    std::string output;
};

constexpr const char* promtool_path = "/usr/bin/promtool";

// Runs `promtool check metrics` with `text` on stdin (from a temp file, so that neither side
// can block on a full pipe) and captures stdout and stderr.
promtool_result run_promtool(const std::string& text) {
    char path[] = "/tmp/harvest_metrics_XXXXXX";
    const int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    REQUIRE(written);
    const std::string command = std::string(promtool_path) + " check metrics < " + path + " 2>&1";
    promtool_result result;
    std::FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) {
        result.output.append(buf, n);
    }
    const int status = ::pclose(pipe);
    ::unlink(path);
    if (status != -1 && WIFEXITED(status)) {
        result.exit_code = WEXITSTATUS(status);
    }
    return result;
}

bool have_promtool() {
    return ::access(promtool_path, X_OK) == 0;
}

// Checks promtool cannot: unique series, and a +Inf bucket per histogram series. Returns a
// description of the first problem, or "".
std::string check_series(const std::string& text) {
    std::istringstream in(text);
    std::string line;
    std::set<std::string> series;
    std::map<std::string, int> histogram_series;  // "_count" series id -> +Inf buckets seen
    int lines = 0;
    while (std::getline(in, line) && ++lines < 1'000'000) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        const std::string id = line.substr(0, line.rfind(' '));
        if (!series.insert(id).second) {
            return "duplicate series: " + id;
        }
        const auto brace = id.find('{');
        const std::string name = id.substr(0, brace);
        if (name.ends_with("_bucket") && id.find("le=\"+Inf\"") != std::string::npos) {
            // Key by the series without le: name minus _bucket, labels minus le.
            std::string labels = brace == std::string::npos ? "" : id.substr(brace);
            const auto le = labels.find(",le=\"+Inf\"");
            if (le != std::string::npos) {
                labels.erase(le, 10);
            } else {
                labels.clear();  // le was the only label
            }
            ++histogram_series[name.substr(0, name.size() - 7) + labels];
        }
    }
    for (const std::string& id : series) {
        const auto brace = id.find('{');
        const std::string name = id.substr(0, brace);
        if (name.ends_with("_count")) {
            const std::string key = name.substr(0, name.size() - 6) +
                                    (brace == std::string::npos ? "" : id.substr(brace));
            if (text.find("# TYPE " + name.substr(0, name.size() - 6) + " histogram\n") !=
                    std::string::npos &&
                histogram_series[key] != 1) {
                return "histogram series without exactly one +Inf bucket: " + key;
            }
        }
    }
    return "";
}

// The spec's table (docs/metrics.md), `crawl` left out: it is a constant label.
struct spec_row {
    const char* name;
    metric_type type;
    std::vector<std::string> labels;
};

const std::vector<spec_row>& spec_table() {
    static const std::vector<spec_row> table{
        {"harvest_requests_total", metric_type::counter, {"host", "method"}},
        {"harvest_responses_total", metric_type::counter, {"host", "code"}},
        {"harvest_request_errors_total", metric_type::counter, {"host", "kind"}},
        {"harvest_request_duration_seconds", metric_type::histogram, {"host"}},
        {"harvest_retries_total", metric_type::counter, {"host", "reason"}},
        {"harvest_retry_budget_exhausted_total", metric_type::counter, {"host"}},
        {"harvest_failures_total", metric_type::counter, {"host", "kind"}},
        {"harvest_backoff_seconds", metric_type::histogram, {"host"}},
        {"harvest_rate_limit_wait_seconds_total", metric_type::counter, {"host"}},
        {"harvest_circuit_state", metric_type::gauge, {"host"}},
        {"harvest_circuit_transitions_total", metric_type::counter, {"host", "to"}},
        {"harvest_circuit_short_circuits_total", metric_type::counter, {"host"}},
        {"harvest_inflight_requests", metric_type::gauge, {}},
        {"harvest_frontier_requests", metric_type::gauge, {"state"}},
        {"harvest_response_bytes_total", metric_type::counter, {"host"}},
        {"harvest_items_total", metric_type::counter, {"extractor", "outcome"}},
        {"harvest_output_items_total", metric_type::counter, {"output", "outcome"}},
        {"harvest_output_queue_items", metric_type::gauge, {"output"}},
        {"harvest_http_cache_total", metric_type::counter, {"result"}},
        {"harvest_connections_opened_total", metric_type::counter, {"protocol"}},
        {"harvest_h2_streams", metric_type::gauge, {}},
        {"harvest_h2_resends_total", metric_type::counter, {"reason"}},
        {"harvest_build_info", metric_type::gauge, {"version"}},
        // Workers of a distributed crawl (their `worker` label is a constant one too).
        {"harvest_redis_up", metric_type::gauge, {}},
        {"harvest_redis_reconnects_total", metric_type::counter, {}},
        {"harvest_redis_buffered", metric_type::gauge, {"kind"}},
        // Crawls with `proxies:`.
        {"harvest_proxy_requests_total", metric_type::counter, {"proxy", "outcome"}},
        {"harvest_proxy_state", metric_type::gauge, {"proxy"}},
        // Crawls with `render:` rules.
        {"harvest_render_inflight", metric_type::gauge, {}},
        {"harvest_render_duration_seconds", metric_type::histogram, {}},
        {"harvest_renders_total", metric_type::counter, {"result"}},
        {"harvest_browser_restarts_total", metric_type::counter, {"reason"}},
        {"harvest_render_subrequests_total", metric_type::counter, {"action"}},
    };
    return table;
}

// Touches at least one series of every family, the way the engine will.
void fill_samples(crawl_metrics& m) {
    for (const char* host : {"shop.example", "cdn.example:8443", "api.example"}) {
        host_cells cells = m.for_host(host);
        const std::string_view label = m.host_label(host);
        m.requests.with({label, "GET"}).inc(10);
        m.responses.with({label, "200"}).inc(8);
        m.responses.with({label, "503"}).inc(2);
        m.request_errors.with({label, "timeout"}).inc();
        m.retries.with({label, "503"}).inc(2);
        m.retries.with({label, "timeout"}).inc();
        m.failures.with({label, "retries_exhausted"}).inc();
        m.circuit_transitions.with({label, "open"}).inc();
        cells.request_duration.observe(0.042);
        cells.request_duration.observe(1.5);
        cells.backoff.observe(0.5);
        cells.retry_budget_exhausted.inc();
        cells.rate_limit_wait_seconds.add(0.125);
        cells.circuit_state.set(2);
        cells.circuit_short_circuits.inc(3);
        cells.response_bytes.inc(123456789);
    }
    m.inflight_requests.with({}).set(17);
    m.frontier_requests.with({"ready"}).set(1200);
    m.frontier_requests.bind({"delayed"}, [] { return 34.0; });
    m.items.with({"jsonld", "emitted"}).inc(99);
    m.items.with({"jsonld", "invalid"}).inc();
    m.output_items.with({"jsonl:out/items.jsonl", "written"}).inc(99);
    m.output_queue_items.with({"jsonl:out/items.jsonl"}).set(0);
    m.http_cache.with({"not_modified"}).inc(7);
    m.connections_opened.with({"h2"}).inc(2);
    m.connections_opened.with({"http/1.1"}).inc(64);
    m.h2_streams.with({}).set(63);
    m.h2_resends.with({"goaway"}).inc(5);
    m.redis_up.with({}).set(1);
    m.redis_reconnects.bind({}, [] { return 2.0; });
    m.redis_buffered.with({"links"}).set(40);
    m.redis_buffered.with({"completions"}).set(3);
    m.proxy_requests.with({m.proxies.admit("127.0.0.1:3128"), "ok"}).inc();
    m.proxy_state.with({m.proxies.admit("127.0.0.1:3128")}).set(0);
    m.render_inflight.with({}).set(2);
    m.render_duration.with({}).observe(0.8);
    m.renders.with({"ok"}).inc(5);
    m.browser_restarts.with({"crash"}).inc();
    m.render_subrequests.with({"blocked"}).inc(3);
}

}  // namespace

TEST_CASE("crawl_metrics declares every family of metrics.md exactly", "[unit]") {
    registry reg({{"crawl", "catalog"}});
    crawl_metrics metrics(reg, 2);
    register_build_info(reg);
    for (const spec_row& row : spec_table()) {
        INFO(row.name);
        const family* fam = reg.find(row.name);
        REQUIRE(fam != nullptr);
        CHECK(fam->type() == row.type);
        CHECK(fam->label_names() == row.labels);
        CHECK_FALSE(fam->help().empty());
    }
    CHECK(reg.families().size() == spec_table().size());
}

TEST_CASE("crawl_metrics needs the crawl constant label", "[unit]") {
    registry reg;
    CHECK_THROWS_AS(crawl_metrics(reg), std::invalid_argument);
    CHECK(reg.families().empty());
}

TEST_CASE("crawl_metrics caps host labels", "[unit]") {
    registry reg({{"crawl", "catalog"}});
    crawl_metrics m(reg, 2);
    fill_samples(m);  // three hosts: the third becomes "other"
    const std::string text = reg.expose();
    CHECK(text.find("harvest_requests_total{crawl=\"catalog\",host=\"shop.example\",method="
                    "\"GET\"} 10\n") != std::string::npos);
    CHECK(
        text.find("harvest_requests_total{crawl=\"catalog\",host=\"other\",method=\"GET\"} 10\n") !=
        std::string::npos);
    CHECK(text.find("api.example") == std::string::npos);
    CHECK(&m.for_host("api.example").response_bytes == &m.for_host("x.example").response_bytes);
    CHECK(&m.for_host("shop.example").response_bytes != &m.for_host("x.example").response_bytes);
}

TEST_CASE("the whole crawl exposition passes promtool check metrics", "[unit]") {
    registry reg({{"crawl", "catalog"}});
    crawl_metrics m(reg);
    register_process_metrics(reg);
    register_build_info(reg);
    fill_samples(m);
    const std::string text = reg.expose();
    // Every family, every series carries crawl.
    for (const spec_row& row : spec_table()) {
        INFO(row.name);
        CHECK(text.find(std::string("# TYPE ") + row.name + " ") != std::string::npos);
    }
    {
        std::istringstream in(text);
        std::string line;
        int samples = 0;
        while (std::getline(in, line)) {
            if (!line.empty() && line[0] != '#') {
                INFO(line);
                CHECK(line.find("{crawl=\"catalog\"") != std::string::npos);
                ++samples;
            }
        }
        CHECK(samples > 100);
    }
    CHECK(check_series(text).empty());

    if (!have_promtool()) {
        WARN("promtool not installed: exposition not checked by promtool");
        return;
    }
    const promtool_result result = run_promtool(text);
    INFO(text);
    INFO("promtool said: " << result.output);
    CHECK(result.output.empty());
    CHECK(result.exit_code == 0);
}

TEST_CASE("promtool and the series checks can fail", "[unit]") {
    // Guards the two tests above against a checker that accepts anything.
    CHECK_FALSE(check_series("a 1\na 2\n").empty());
    CHECK_FALSE(
        check_series("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n").empty());
    CHECK(check_series("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\n"
                       "h_sum 1\nh_count 1\n")
              .empty());
    if (!have_promtool()) {
        WARN("promtool not installed");
        return;
    }
    const promtool_result lint = run_promtool("# HELP x x\n# TYPE x counter\nx 1\n");
    CHECK(lint.exit_code == 3);  // counter without _total
    CHECK_FALSE(lint.output.empty());
    const promtool_result parse = run_promtool("x{ 1\n");
    CHECK(parse.exit_code == 1);
}

TEST_CASE("registry golden-style exposition with escaping passes promtool", "[unit]") {
    registry reg({{"crawl", "cat\"a\\log\n"}});
    auto& g = reg.add_gauge("t_value", "Help with \\ and\nnewline and \"quotes\".", {"v"});
    g.with({"Bj\xC3\xB6rn \"q\" \\ \n"}).set(std::numeric_limits<double>::quiet_NaN());
    g.with({"neg"}).set(-std::numeric_limits<double>::infinity());
    g.with({"tiny"}).set(5e-324);
    reg.add_histogram("t_seconds", "h", {"v"}, {0.001, 1e9}).with({"x"}).observe(1e10);
    const std::string text = reg.expose();
    CHECK(check_series(text).empty());
    if (!have_promtool()) {
        WARN("promtool not installed");
        return;
    }
    const promtool_result result = run_promtool(text);
    INFO(text);
    INFO("promtool said: " << result.output);
    CHECK(result.output.empty());
    CHECK(result.exit_code == 0);
}
