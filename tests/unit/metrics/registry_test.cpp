// The registry: cells, families, exposition, uniqueness and the label limiter.

#include "engine/metrics/registry.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace harvest::metrics;

TEST_CASE("counter increments from 8 threads x 1e6 sum exactly", "[unit]") {
    registry reg;
    counter& c = reg.add_counter("t_total", "t", {}).with({});
    constexpr int threads = 8;
    constexpr int per_thread = 1'000'000;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&c] {
            for (int i = 0; i < per_thread; ++i) {
                c.inc();
            }
        });
    }
    for (auto& th : pool) {
        th.join();
    }
    CHECK(c.value() == static_cast<double>(threads) * per_thread);
    CHECK(reg.expose().find("t_total 8e+06\n") != std::string::npos);
}

TEST_CASE("gauge add and histogram observe are exact under contention", "[unit]") {
    registry reg;
    gauge& g = reg.add_gauge("g", "g", {}).with({});
    histogram& h = reg.add_histogram("h", "h", {}, {0.5, 2}).with({});
    counter& c = reg.add_counter("c_total", "c", {}).with({});
    constexpr int threads = 8;
    constexpr int per_thread = 100'000;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&] {
            for (int i = 0; i < per_thread; ++i) {
                g.add(1.0);
                h.observe(1.0);
                c.add(0.5);
            }
        });
    }
    for (auto& th : pool) {
        th.join();
    }
    CHECK(g.value() == threads * per_thread);
    const auto snap = h.collect();
    CHECK(snap.count == threads * per_thread);
    CHECK(snap.sum == threads * per_thread);
    CHECK(snap.cumulative ==
          std::vector<std::uint64_t>{0, threads * per_thread, threads * per_thread});
    CHECK(c.value() == threads * per_thread / 2);
}

TEST_CASE("gauge set, inc, dec; counter ignores negative and NaN amounts", "[unit]") {
    gauge g;
    g.set(3.5);
    g.inc();
    g.dec(2);
    CHECK(g.value() == 2.5);
    g.set(-1e300);
    CHECK(g.value() == -1e300);
    counter c;
    c.inc(5);
    c.add(0.25);
    c.add(-3);
    c.add(std::numeric_limits<double>::quiet_NaN());
    CHECK(c.value() == 5.25);
}

TEST_CASE("exposition golden text: counters, gauges, histograms, labels, escaping", "[unit]") {
    registry reg({{"crawl", "catalog"}});
    auto& requests = reg.add_counter(
        "test_requests_total", "Requests sent.\nSecond line \\ backslash", {"host", "method"});
    requests.with({"b.example", "GET"}).inc(3);
    requests.with({"a.example", "POST"}).inc();
    requests.with({"a.example", "GET"}).inc(2);
    auto& queue = reg.add_gauge("test_queue_items", "Queue \"depth\".", {"output"});
    queue.with({"quote\"back\\slash\nnl"}).set(-2.5);
    queue.with({"inf"}).set(std::numeric_limits<double>::infinity());
    auto& duration = reg.add_histogram("test_duration_seconds", "Duration.", {}, {0.25, 1, 2.5});
    histogram& h = duration.with({});
    for (double v : {0.25, 0.125, 1.0, 3.0}) {
        h.observe(v);
    }
    reg.add_counter("test_unused_total", "Never used: no series, not exposed.", {"x"});

    const std::string expected = R"EXP(# HELP test_duration_seconds Duration.
# TYPE test_duration_seconds histogram
test_duration_seconds_bucket{crawl="catalog",le="0.25"} 2
test_duration_seconds_bucket{crawl="catalog",le="1"} 3
test_duration_seconds_bucket{crawl="catalog",le="2.5"} 3
test_duration_seconds_bucket{crawl="catalog",le="+Inf"} 4
test_duration_seconds_sum{crawl="catalog"} 4.375
test_duration_seconds_count{crawl="catalog"} 4
# HELP test_queue_items Queue "depth".
# TYPE test_queue_items gauge
test_queue_items{crawl="catalog",output="inf"} +Inf
test_queue_items{crawl="catalog",output="quote\"back\\slash\nnl"} -2.5
# HELP test_requests_total Requests sent.\nSecond line \\ backslash
# TYPE test_requests_total counter
test_requests_total{crawl="catalog",host="a.example",method="GET"} 2
test_requests_total{crawl="catalog",host="a.example",method="POST"} 1
test_requests_total{crawl="catalog",host="b.example",method="GET"} 3
)EXP";
    CHECK(reg.expose() == expected);
    CHECK(content_type == "text/plain; version=0.0.4; charset=utf-8");
}

TEST_CASE("histogram buckets: le is inclusive, above the last bound and NaN go to +Inf", "[unit]") {
    registry reg;
    auto& fam = reg.add_histogram("h_seconds", "h", {"k"}, {0.1, 1, 10});
    const double inf = std::numeric_limits<double>::infinity();
    struct row {
        double value;
        std::vector<std::uint64_t> cumulative;
    };
    const std::vector<row> rows{
        {-5.0, {1, 1, 1, 1}},
        {0.0, {1, 1, 1, 1}},
        {0.1, {1, 1, 1, 1}},
        {0.10000000000000002, {0, 1, 1, 1}},
        {1.0, {0, 1, 1, 1}},
        {9.999, {0, 0, 1, 1}},
        {10.0, {0, 0, 1, 1}},
        {10.000001, {0, 0, 0, 1}},
        {inf, {0, 0, 0, 1}},
        {-inf, {1, 1, 1, 1}},
        {std::numeric_limits<double>::quiet_NaN(), {0, 0, 0, 1}},
    };
    int i = 0;
    for (const row& r : rows) {
        INFO("value " << r.value);
        histogram& h = fam.with({std::to_string(i++)});
        h.observe(r.value);
        const auto snap = h.collect();
        CHECK(snap.cumulative == r.cumulative);
        CHECK(snap.count == 1);
    }
    SECTION("bounds given with a trailing +Inf, or none at all") {
        auto& with_inf = reg.add_histogram("b_seconds", "b", {}, {1, inf});
        CHECK(with_inf.bounds().size() == 1);
        auto& none = reg.add_histogram("n_seconds", "n", {}, {});
        none.with({}).observe(42);
        CHECK(reg.expose().find("n_seconds_bucket{le=\"+Inf\"} 1\nn_seconds_sum 42\n"
                                "n_seconds_count 1\n") != std::string::npos);
    }
    SECTION("bad bounds are refused") {
        CHECK_THROWS_AS(reg.add_histogram("x1", "x", {}, {1, 1}), std::invalid_argument);
        CHECK_THROWS_AS(reg.add_histogram("x2", "x", {}, {2, 1}), std::invalid_argument);
        CHECK_THROWS_AS(reg.add_histogram("x3", "x", {}, {std::nan("")}), std::invalid_argument);
        CHECK_THROWS_AS(reg.add_histogram("x4", "x", {}, {-inf, 1}), std::invalid_argument);
    }
    SECTION("default buckets are sorted and in seconds") {
        const auto latency = default_latency_buckets();
        CHECK(std::is_sorted(latency.begin(), latency.end()));
        CHECK(latency.front() == 0.005);
        CHECK(latency.back() == 60);
        const auto backoff = default_backoff_buckets();
        CHECK(std::is_sorted(backoff.begin(), backoff.end()));
    }
}

TEST_CASE("duplicate series are impossible by construction", "[unit]") {
    registry reg({{"crawl", "c"}});
    auto& fam = reg.add_counter("d_total", "d", {"host", "code"});
    counter& a = fam.with({"h", "200"});
    const std::string host = "h";
    CHECK(&fam.with({host, "200"}) == &a);
    CHECK(&fam.with({"h", "404"}) != &a);
    CHECK(fam.size() == 2);

    SECTION("same labels from many threads resolve to one cell") {
        std::vector<counter*> seen(8);
        std::vector<std::thread> pool;
        for (std::size_t t = 0; t < seen.size(); ++t) {
            pool.emplace_back([&, t] { seen[t] = &fam.with({"racy", "500"}); });
        }
        for (auto& th : pool) {
            th.join();
        }
        for (counter* p : seen) {
            CHECK(p == seen.front());
        }
        CHECK(fam.size() == 3);
    }
    SECTION("invalid UTF-8 label values map to one sanitized series") {
        counter& bad = fam.with({"\xFF", "200"});
        CHECK(&fam.with({"\xFF", "200"}) == &bad);
        CHECK(&fam.with({"\xEF\xBF\xBD", "200"}) == &bad);
        bad.inc();
        CHECK(reg.expose().find("d_total{crawl=\"c\",host=\"\xEF\xBF\xBD\",code=\"200\"} 1\n") !=
              std::string::npos);
    }
    SECTION("family names, histogram sample names and labels are checked") {
        CHECK_THROWS_AS(reg.add_counter("d_total", "again"), std::invalid_argument);
        CHECK_THROWS_AS(reg.add_gauge("d_total", "again as gauge"), std::invalid_argument);
        reg.add_histogram("lat_seconds", "l", {});
        CHECK_THROWS_AS(reg.add_gauge("lat_seconds_count", "clash"), std::invalid_argument);
        CHECK_THROWS_AS(reg.add_counter("lat_seconds_bucket", "clash"), std::invalid_argument);
        reg.add_gauge("q_sum", "q");
        CHECK_THROWS_AS(reg.add_histogram("q", "clash", {}), std::invalid_argument);
        CHECK(reg.find("q") == nullptr);  // a refused family leaves nothing behind
        CHECK_THROWS_AS(reg.add_histogram("h2", "h", {"le"}), std::invalid_argument);
        CHECK_THROWS_AS(reg.add_counter("e_total", "e", {"crawl"}), std::invalid_argument);
        CHECK_THROWS_AS(reg.add_counter("e_total", "e", {"a", "a"}), std::invalid_argument);
        CHECK_THROWS_AS(reg.add_counter("e_total", "e", {"__x"}), std::invalid_argument);
        CHECK_THROWS_AS(reg.add_counter("e-total", "e"), std::invalid_argument);
        CHECK_THROWS_AS(registry({{"a", "1"}, {"a", "2"}}), std::invalid_argument);
        CHECK_THROWS_AS(registry({{"bad-name", "1"}}), std::invalid_argument);
    }
    SECTION("wrong number of label values is refused") {
        CHECK_THROWS_AS(fam.with({"h"}), std::invalid_argument);
        CHECK_THROWS_AS(fam.with({"h", "200", "x"}), std::invalid_argument);
    }
}

TEST_CASE("callback series are computed at scrape time", "[unit]") {
    registry reg({{"crawl", "c"}});
    auto& frontier = reg.add_gauge("frontier_requests", "f", {"state"});
    double ready = 3;
    bool delayed_known = false;
    frontier.bind({"ready"}, [&] { return ready; });
    frontier.bind({"delayed"}, [&]() -> std::optional<double> {
        if (delayed_known) {
            return 7.0;
        }
        return std::nullopt;
    });
    CHECK(reg.expose() ==
          "# HELP frontier_requests f\n# TYPE frontier_requests gauge\n"
          "frontier_requests{crawl=\"c\",state=\"ready\"} 3\n");
    ready = 4;
    delayed_known = true;
    CHECK(reg.expose() ==
          "# HELP frontier_requests f\n# TYPE frontier_requests gauge\n"
          "frontier_requests{crawl=\"c\",state=\"delayed\"} 7\n"
          "frontier_requests{crawl=\"c\",state=\"ready\"} 4\n");
    CHECK_THROWS_AS(frontier.bind({"ready"}, [] { return 1.0; }), std::logic_error);
    CHECK_THROWS_AS(frontier.with({"ready"}), std::logic_error);
    frontier.with({"other"}).set(1);
    CHECK_THROWS_AS(frontier.bind({"other"}, [] { return 1.0; }), std::logic_error);
    CHECK_THROWS_AS(frontier.bind({"x"}, {}), std::invalid_argument);

    SECTION("a family whose only series are absent is not exposed at all") {
        registry r2;
        r2.add_gauge("absent", "a").bind({}, []() -> std::optional<double> {
            return std::nullopt;
        });
        CHECK(r2.expose().empty());
    }
}

TEST_CASE("registry introspection", "[unit]") {
    registry reg({{"crawl", "c"}, {"worker", "w1"}});
    reg.add_gauge("b", "b", {"x"});
    reg.add_counter("a_total", "a", {});
    const auto fams = reg.families();
    REQUIRE(fams.size() == 2);
    CHECK(fams[0]->name() == "a_total");
    CHECK(fams[1]->name() == "b");
    CHECK(fams[1]->type() == metric_type::gauge);
    CHECK(fams[1]->label_names() == std::vector<std::string>{"x"});
    CHECK(reg.const_label("worker") == "w1");
    CHECK_FALSE(reg.const_label("nope"));
    reg.add_gauge("b2", "b", {"x"}).with({"v"}).set(1);
    CHECK(reg.expose().find("b2{crawl=\"c\",worker=\"w1\",x=\"v\"} 1\n") != std::string::npos);
}

TEST_CASE("label limiter: the first `limit` distinct values pass, the rest become other",
          "[unit]") {
    label_limiter hosts(2);
    CHECK(hosts.admit("a.example") == "a.example");
    CHECK(hosts.admit("b.example:8080") == "b.example:8080");
    CHECK(hosts.admit("c.example") == "other");
    CHECK(hosts.admit("a.example") == "a.example");
    CHECK(hosts.admit("d.example") == "other");
    CHECK(hosts.admit("b.example:8080") == "b.example:8080");
    CHECK(hosts.admitted() == 2);
    CHECK(hosts.limit() == 2);

    SECTION("the returned view is the limiter's own copy") {
        std::string temp = "e.example";
        label_limiter l(5);
        const std::string_view v = l.admit(temp);
        temp = "overwritten";
        CHECK(v == "e.example");
    }
    SECTION("limit 0 sends everything to other") {
        label_limiter none(0);
        CHECK(none.admit("a") == "other");
        CHECK(none.admitted() == 0);
    }
    SECTION("concurrent admits never exceed the limit") {
        label_limiter shared(10);
        std::vector<std::thread> pool;
        std::atomic<int> passed{0};
        for (int t = 0; t < 4; ++t) {
            pool.emplace_back([&, t] {
                for (int i = 0; i < 100; ++i) {
                    const std::string host = "h" + std::to_string(t * 100 + i);
                    if (shared.admit(host) == host) {
                        ++passed;
                    }
                }
            });
        }
        for (auto& th : pool) {
            th.join();
        }
        CHECK(shared.admitted() == 10);
        CHECK(passed == 10);
    }
}

TEST_CASE("expose runs concurrently with new series and increments", "[unit]") {
    registry reg({{"crawl", "c"}});
    auto& fam = reg.add_counter("r_total", "r", {"host"});
    auto& hist = reg.add_histogram("r_seconds", "r", {"host"}, {0.5});
    fam.with({"h"}).inc();
    std::atomic<bool> done{false};
    std::atomic<int> bad_scrapes{0};  // Catch2 assertions are not thread-safe: count instead
    std::thread scraper([&] {
        for (int i = 0; i < 200 && !done.load(); ++i) {
            const std::string text = reg.expose();
            if (text.find("r_total{crawl=\"c\",host=\"h\"} 1\n") == std::string::npos) {
                ++bad_scrapes;
            }
        }
    });
    std::vector<std::thread> writers;
    for (int t = 0; t < 3; ++t) {
        writers.emplace_back([&, t] {
            for (int i = 0; i < 2000; ++i) {
                const std::string host = "h" + std::to_string(t * 10 + i % 10);
                fam.with({host}).inc();
                hist.with({host}).observe(i % 2);
            }
        });
    }
    for (auto& th : writers) {
        th.join();
    }
    done = true;
    scraper.join();
    CHECK(bad_scrapes == 0);
    CHECK(fam.size() == 31);
    double total = 0;
    for (int k = 0; k < 30; ++k) {
        total += fam.with({"h" + std::to_string(k)}).value();
    }
    CHECK(total == 3 * 2000);
}
