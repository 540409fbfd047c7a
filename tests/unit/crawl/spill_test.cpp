#include "engine/crawl/spill.hpp"
#include "engine/crawl/frontier.hpp"
#include "tests/unit/crawl/frontier_support.hpp"
#include "tests/unit/crawl/scratch_dir.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

using namespace std::chrono_literals;
using steady = harvest::crawl::clock;
using harvest::crawl::crawl_options;
using harvest::crawl::crawl_request;
using harvest::crawl::frontier;
using harvest::crawl::spill_queue;

namespace {

using frontier_support::fail_attempt;

namespace fs = std::filesystem;

using harvest::test::scratch_dir;

std::size_t files_in(const fs::path& dir) {
    if (!fs::exists(dir)) {
        return 0;
    }
    return static_cast<std::size_t>(
        std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

crawl_request spill_request(std::string url) {
    crawl_request r;
    r.http.url = std::move(url);
    return r;
}

std::string spill_page_url(const std::string& host, int i) {
    std::string number = std::to_string(i);
    return "http://" + host + "/catalog/products/item-" + std::string(6 - number.size(), '0') +
           number;
}

crawl_options spilling_options(const fs::path& state_dir) {
    crawl_options o;
    o.rate_limit.per_host = {0, 0};
    o.engine.obey_robots_txt = false;
    o.engine.per_host_concurrency = 1 << 30;
    o.engine.concurrency = 1 << 30;
    o.engine.frontier_memory = 64 << 10;
    o.state_dir = state_dir.string();
    return o;
}

}  // namespace

TEST_CASE("spill records keep every field of a request", "[unit]") {
    crawl_request r = spill_request("http://a.test/x?q=1");
    r.http.method = "POST";
    r.http.headers = {{"Idempotency-Key", "k-1"}, {"Content-Type", "application/json"}};
    r.http.body = std::string(3000, 'b');
    r.depth = 7;
    r.attempt = 2;
    r.previous_backoff = 1500ms;
    r.idempotency_key = "k-1";
    r.fingerprint = 0x0123456789abcdefULL;
    r.sitemap = true;
    std::string encoded;
    harvest::crawl::encode_spill_record(encoded, r);
    crawl_request back;
    // Every prefix is incomplete, never a record and never malformed.
    for (std::size_t cut : {std::size_t{0}, std::size_t{3}, std::size_t{40}, encoded.size() - 1}) {
        CHECK(harvest::crawl::decode_spill_record(encoded.data(), cut, back) == 0);
    }
    REQUIRE(harvest::crawl::decode_spill_record(encoded.data(), encoded.size(), back) ==
            encoded.size());
    CHECK(back.http.method == "POST");
    CHECK(back.http.url == r.http.url);
    CHECK(back.http.headers == r.http.headers);
    CHECK(back.http.body == r.http.body);
    CHECK(back.depth == 7);
    CHECK(back.attempt == 2);
    CHECK(back.previous_backoff == r.previous_backoff);
    CHECK(back.idempotency_key == "k-1");
    CHECK(back.fingerprint == r.fingerprint);
    CHECK(back.sitemap);
}

TEST_CASE("a spill queue rolls segments, returns requests in order and deletes what it read",
          "[unit]") {
    scratch_dir dir;
    harvest::crawl::spill_limits limits;
    limits.write_buffer_bytes = 1024;
    limits.read_batch_bytes = 2048;
    limits.segment_bytes = 8 << 10;
    spill_queue queue(dir.path, "h0", limits);
    std::vector<crawl_request> unwritten;
    for (int i = 0; i < 2000; ++i) {
        REQUIRE_FALSE(queue.push(spill_request(spill_page_url("a.test", i)), unwritten));
    }
    CHECK(unwritten.empty());
    CHECK(queue.size() == 2000);
    const auto segments_full = files_in(dir.path);
    CHECK(segments_full > 5);  // about 100 KB in segments of 8 KiB
    CHECK(queue.segments_on_disk() == segments_full);
    std::deque<crawl_request> out;
    int expected = 0;
    std::size_t batches = 0;
    bool pushed_while_reading = false;
    while (!queue.empty()) {
        REQUIRE_FALSE(queue.pop_batch(out));
        ++batches;
        REQUIRE_FALSE(out.empty());
        CHECK(out.size() < 100);  // bounded by read_batch_bytes
        for (const auto& r : out) {
            REQUIRE(r.http.url == (expected < 2000 ? spill_page_url("a.test", expected)
                                                   : spill_page_url("b.test", 0)));
            ++expected;
        }
        out.clear();
        if (!pushed_while_reading && expected >= 1000) {
            pushed_while_reading = true;
            CHECK(files_in(dir.path) < segments_full);  // read segments are gone already
            // Pushed while reading: queued behind the rest.
            REQUIRE_FALSE(queue.push(spill_request(spill_page_url("b.test", 0)), unwritten));
        }
    }
    CHECK(expected == 2001);
    CHECK(batches > 20);
    CHECK(queue.bytes() == 0);
    CHECK(files_in(dir.path) == 0);
}

TEST_CASE("a spill queue that cannot write hands its buffered requests back in order", "[unit]") {
    scratch_dir dir;
    harvest::crawl::spill_limits limits;
    limits.write_buffer_bytes = 1024;
    spill_queue queue(dir.path / "missing", "h0", limits);  // the directory does not exist
    std::vector<crawl_request> unwritten;
    boost::system::error_code error;
    int pushed = 0;
    while (!error && pushed < 1000) {
        error = queue.push(spill_request(spill_page_url("a.test", pushed++)), unwritten);
    }
    REQUIRE(error);
    REQUIRE(unwritten.size() == static_cast<std::size_t>(pushed));
    for (int i = 0; i < pushed; ++i) {
        CHECK(unwritten[static_cast<std::size_t>(i)].http.url == spill_page_url("a.test", i));
    }
    CHECK(queue.empty());
    CHECK(queue.bytes() == 0);
}

TEST_CASE(
    "a frontier over its memory budget spills per host and gives back every request in "
    "order",
    "[unit]") {
    scratch_dir dir;
    const auto options = spilling_options(dir.path);
    frontier f(options);
    const auto now = steady::now();
    const std::vector<std::string> hosts{"a.test", "b.test", "c.test:8080"};
    constexpr int total = 20000;
    std::size_t memory_peak_admitting = 0;
    for (int i = 0; i < total; ++i) {
        REQUIRE(f.admit(spill_request(spill_page_url(hosts[static_cast<std::size_t>(i) % 3], i)),
                        now) == frontier::admit_result::queued);
        memory_peak_admitting = std::max(memory_peak_admitting, f.memory_bytes());
    }
    CHECK(memory_peak_admitting <= options.engine.frontier_memory);
    CHECK(f.ready_size() == total);
    CHECK(f.spilled_size() > total - 1000);
    CHECK(f.spilled_total() == f.spilled_size());
    CHECK(f.spill_dir() == dir.path / "spill");
    CHECK(files_in(dir.path / "spill") >= 3);  // a segment per host at least
    CHECK(f.spill_bytes_peak() > 0);

    // One refill batch per host may sit on top of the budget while the hosts drain.
    std::string one_record;
    harvest::crawl::encode_spill_record(one_record, spill_request(spill_page_url("a.test", 0)));
    crawl_request decoded;
    harvest::crawl::decode_spill_record(one_record.data(), one_record.size(), decoded);
    const std::size_t batch_records =
        harvest::crawl::spill_limits{}.read_batch_bytes / one_record.size() + 1;
    const std::size_t slack =
        hosts.size() * batch_records * harvest::crawl::estimate_request_bytes(decoded);

    std::map<std::string, int> last_of_host;
    std::set<std::string> seen;
    std::size_t memory_peak_draining = 0;
    while (auto taken = f.take(now)) {
        memory_peak_draining = std::max(memory_peak_draining, f.memory_bytes());
        const auto& url = taken->request.http.url;
        REQUIRE(seen.insert(url).second);
        const int number = std::stoi(url.substr(url.size() - 6));
        auto [it, first] = last_of_host.try_emplace(taken->host->label, number);
        if (!first) {
            REQUIRE(number > it->second);  // admission order within the host
            it->second = number;
        }
        f.finish(*taken->host);
    }
    CHECK(seen.size() == total);
    CHECK(f.empty());
    CHECK(f.ready_size() == 0);
    CHECK(f.memory_bytes() == 0);
    CHECK(memory_peak_draining <= options.engine.frontier_memory + slack);
    CHECK(files_in(dir.path / "spill") == 0);  // drained: no segment left
}

TEST_CASE("an expired host fails its spilled requests too", "[unit]") {
    scratch_dir dir;
    auto options = spilling_options(dir.path);
    options.engine.per_host_concurrency = 2;
    options.circuit_breaker.window = 2;
    options.circuit_breaker.min_calls = 2;
    options.circuit_breaker.min_open_for = 30s;
    options.circuit_breaker.open_for = 30s;
    frontier f(options);
    const auto t0 = steady::now();
    constexpr int total = 5000;
    for (int i = 0; i < total; ++i) {
        f.admit(spill_request(spill_page_url("down.test", i)), t0);
    }
    f.admit(spill_request(spill_page_url("up.test", 0)), t0);
    REQUIRE(f.spilled_size() > 0);
    std::vector<harvest::crawl::taken_request> down;
    while (down.size() < 2) {
        auto t = f.take(t0);
        REQUIRE(t);
        if (t->host->label == "down.test") {
            down.push_back(std::move(*t));
        } else {
            f.finish(*t->host);
        }
    }
    for (auto& t : down) {
        f.finish(*t.host);
        fail_attempt(t, t0);
    }
    CHECK_FALSE(f.take(t0 + 1s));
    // A probe fails (give_up_after needs one), then the host gives up.
    auto probe = f.take(t0 + 30s);
    REQUIRE(probe);
    f.finish(*probe->host);
    fail_attempt(*probe, t0 + 30s);
    auto expired = f.expire_open_hosts(t0 + options.circuit_breaker.give_up_after + 1s);
    CHECK(expired.size() == total - 3);
    std::set<std::string> urls;
    for (const auto& r : expired) {
        urls.insert(r.http.url);
    }
    CHECK(urls.size() == total - 3);
    CHECK(f.empty());
    CHECK(files_in(dir.path / "spill") == 0);
}

TEST_CASE("robots.txt refuses spilled requests as they come back", "[unit]") {
    scratch_dir dir;
    auto options = spilling_options(dir.path);
    options.engine.obey_robots_txt = true;
    frontier f(options);
    const auto now = steady::now();
    constexpr int total = 4000;
    for (int i = 0; i < total; ++i) {
        f.admit(spill_request("http://a.test/" + std::string(i % 2 == 0 ? "private" : "public") +
                              "/item-" + std::to_string(i)),
                now);
    }
    REQUIRE(f.spilled_size() > 0);
    CHECK_FALSE(f.take(now));
    auto fetches = f.take_robots_fetches();
    REQUIRE(fetches.size() == 1);
    f.set_robots(*fetches[0], harvest::core::robots_rules::parse("User-agent: *\n"
                                                                 "Disallow: /private/\n"));
    std::size_t taken = 0;
    std::size_t refused = 0;
    // Bounded: every take either sends one request or refuses at least one.
    for (int round = 0; round < 2 * total && !f.empty(); ++round) {
        if (auto t = f.take(now)) {
            CHECK(t->request.http.url.find("/public/") != std::string::npos);
            ++taken;
            f.finish(*t->host);
        }
        for (const auto& r : f.take_robots_refusals()) {
            CHECK(r.request.http.url.find("/private/") != std::string::npos);
            ++refused;
        }
    }
    CHECK(taken == total / 2);
    CHECK(refused == total / 2);
    CHECK(f.empty());
}

TEST_CASE("an unwritable spill directory keeps every request in memory", "[unit]") {
    scratch_dir dir;
    // A regular file where the state dir should be: the spill directory cannot be created.
    const auto blocker = dir.path / "not-a-dir";
    { std::ofstream(blocker) << "x"; }
    auto options = spilling_options(blocker);
    frontier f(options);
    const auto now = steady::now();
    for (int i = 0; i < 3000; ++i) {
        f.admit(spill_request(spill_page_url("a.test", i)), now);
    }
    CHECK(f.spilled_size() == 0);
    CHECK(f.ready_size() == 3000);
    CHECK(f.memory_bytes() > options.engine.frontier_memory);
    int expected = 0;
    while (auto t = f.take(now)) {
        REQUIRE(t->request.http.url == spill_page_url("a.test", expected++));
        f.finish(*t->host);
    }
    CHECK(expected == 3000);
}
