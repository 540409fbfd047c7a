// `harvest serve` under hostile and careless tenants (issue "the bulk service under hostile
// tenants"): a jobs.db locked by another process, a cancelled job's webhook across kill -9, an
// item too large to store, a tenant whose huge bodies or slow host would slow the others, quotas
// and retention. The real service process, the chaos origin and curl, all on 127.0.0.1; every
// wait is bounded by the clock.

#include "tests/integration/chaos.hpp"
#include "tests/integration/serve_process.hpp"
#include "tests/integration/support.hpp"

#include <catch2/catch.hpp>

#include <poll.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

namespace {

using namespace harvest::test;
namespace json = boost::json;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// A webhook receiver answering 200 to every POST, keeping the bodies. Bounded by its destructor.
class tenants_webhook_receiver {
  public:
    tenants_webhook_receiver() {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(fd_, 64) != 0) {
            throw std::runtime_error("webhook_receiver: cannot listen");
        }
        socklen_t len = sizeof addr;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { run(); });
    }
    ~tenants_webhook_receiver() {
        stopping_ = true;
        thread_.join();
        ::close(fd_);
    }
    int port() const { return port_; }
    std::vector<std::string> bodies() const {
        std::lock_guard lock(mutex_);
        return bodies_;
    }

  private:
    void run() {
        while (!stopping_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) {
                continue;
            }
            const int client = ::accept(fd_, nullptr, nullptr);
            if (client < 0) {
                continue;
            }
            timeval tv{2, 0};
            ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            std::string data;
            char buffer[65536];
            std::size_t header_end = std::string::npos;
            std::size_t length = 0;
            for (int reads = 0; reads < 1000; ++reads) {
                if (header_end == std::string::npos) {
                    header_end = data.find("\r\n\r\n");
                    if (header_end != std::string::npos) {
                        auto lower = data.substr(0, header_end);
                        for (auto& c : lower) {
                            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                        }
                        const auto cl = lower.find("content-length:");
                        length = cl == std::string::npos ? 0 : std::stoul(lower.substr(cl + 15));
                    }
                }
                if (header_end != std::string::npos && data.size() >= header_end + 4 + length) {
                    break;
                }
                const auto n = ::recv(client, buffer, sizeof buffer, 0);
                if (n <= 0) {
                    break;
                }
                data.append(buffer, static_cast<std::size_t>(n));
            }
            if (header_end != std::string::npos) {
                std::lock_guard lock(mutex_);
                bodies_.push_back(data.substr(header_end + 4, length));
            }
            const std::string answer =
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            ::send(client, answer.data(), answer.size(), MSG_NOSIGNAL);
            ::close(client);
        }
    }

    int fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stopping_{false};
    mutable std::mutex mutex_;
    std::vector<std::string> bodies_;
    std::thread thread_;
};

std::string tenants_json_list(const std::vector<std::string>& values) {
    json::array list;
    for (const auto& v : values) {
        list.emplace_back(v);
    }
    return json::serialize(list);
}

std::string tenants_text_of(const json::object& line, std::string_view key) {
    const auto* v = line.if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

// A service with keys key-a and key-b, one profile `p` (its extra settings given), the chaos
// origin (and a webhook receiver) allowed, and `top` added at the top level.
struct tenants_fixture {
    temp_dir tmp{"harvest-tenants"};
    int port = free_port();
    std::string base = "http://127.0.0.1:" + std::to_string(port);
    chaos_origin origin{tmp / "chaos"};
    tenants_webhook_receiver receiver;

    void write_config(const std::string& top, const std::string& profile = {}) {
        write_file(tmp / "webhook.secret", "whsec-tenants\n");
        serve_config settings;
        settings.port = port;
        settings.keys = "key-a\nkey-b\n";
        settings.top = "submit_rate_limit: {per_second: 100, burst: 100}\n" + top;
        settings.profiles =
            "  p:\n"
            "    http: {timeouts: {connect: 2s, total: 10s}}\n"
            "    rate_limit: {per_second: 0, burst: 1}\n" +
            profile +
            "    extract:\n"
            "      - {match: \"/(ok|delay|503-retry-after)/\", type: json, "
            "fields: {id: /id}}\n";
        settings.after =
            "webhook: {secret_file: webhook.secret, max_attempts: 3, backoff: "
            "{base: 50ms, max: 200ms}}\n";
        settings.allow =
            "\"" + origin.host() + "\", \"127.0.0.1:" + std::to_string(receiver.port()) + "\"";
        write_serve_config(tmp, settings);
    }

    std::string submit(const std::vector<std::string>& urls, const std::string& key = "key-a",
                       bool callback = false) {
        std::string body = R"({"profile":"p","urls":)" + tenants_json_list(urls);
        if (callback) {
            body += R"(,"callback_url":"http://127.0.0.1:)" + std::to_string(receiver.port()) +
                    R"(/hook")";
        }
        body += "}";
        const auto r = curl(tmp, "POST", base + "/v1/jobs", key, body);
        INFO(r.body);
        REQUIRE(r.status == 202);
        return std::string(json::parse(r.body).at("job_id").as_string());
    }

    json::object job(const std::string& id, const std::string& key = "key-a") {
        const auto r = curl(tmp, "GET", base + "/v1/jobs/" + id, key);
        INFO(r.body);
        REQUIRE(r.status == 200);
        return json::parse(r.body).as_object();
    }

    // Polls until the job has ended (done or cancelled) or `limit` passed; the last answer.
    json::object wait_ended(const std::string& id, std::chrono::seconds limit,
                            const std::string& key = "key-a") {
        const auto until = steady::now() + limit;
        json::object last;
        while (steady::now() < until) {
            last = job(id, key);
            const auto status = tenants_text_of(last, "status");
            if (status == "done" || status == "cancelled") {
                break;
            }
            std::this_thread::sleep_for(50ms);
        }
        return last;
    }

    // Every result line of the job, page after page (Harvest-Next-Cursor); at most 100 pages.
    std::vector<json::object> results(const std::string& id, const std::string& key = "key-a") {
        std::vector<json::object> lines;
        std::string query = "?limit=1000";
        for (int page = 0; page < 100; ++page) {
            const auto r = curl(tmp, "GET", base + "/v1/jobs/" + id + "/results" + query, key);
            REQUIRE(r.status == 200);
            std::istringstream in(r.body);
            for (std::string line; std::getline(in, line);) {
                if (!line.empty()) {
                    lines.push_back(json::parse(line).as_object());
                }
            }
            auto lower = r.headers;
            for (auto& c : lower) {
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            }
            const auto at = lower.find("harvest-next-cursor:");
            if (at == std::string::npos) {
                break;
            }
            auto cursor = r.headers.substr(at + 20, r.headers.find('\r', at) - at - 20);
            cursor.erase(0, cursor.find_first_not_of(' '));
            query = "?limit=1000&cursor=" + cursor;
        }
        return lines;
    }
};

std::vector<std::string> tenant_urls_of(const chaos_origin& origin, const std::string& pattern,
                                        int n) {
    std::vector<std::string> urls;
    for (int i = 0; i < n; ++i) {
        urls.push_back(origin.url(pattern + std::to_string(i)));
    }
    return urls;
}

}  // namespace

TEST_CASE(
    "serve tenants: a jobs.db held under BEGIN EXCLUSIVE mid-job does not stall the API, and "
    "the job settles every item afterwards",
    "[integration][serve][tenants]") {
    tenants_fixture f;
    f.write_config("concurrency: 16\n");
    serve_process service(f.tmp / "serve.yaml", f.tmp / "serve.log", f.port);
    // 1,500 items of 20 ms each, 16 in flight: the job runs for about two seconds, the lock
    // comes after the first 50 and outlasts the fetches.
    const auto id = f.submit(tenant_urls_of(f.origin, "/delay/20/i", 1500));
    const auto until_started = steady::now() + 20s;
    while (f.job(id).at("succeeded").as_int64() < 50 && steady::now() < until_started) {
        std::this_thread::sleep_for(20ms);
    }
    // Another process takes the write lock for 6 s, longer than the 5 s the service's statements
    // once waited for a lock (sqlite3 CLI; its .timeout waits for the service's own short
    // transactions instead of failing).
    const auto db = (f.tmp / "jobs.db").string();
    std::atomic<bool> locker_done{false};
    process_result locker;
    std::thread lock_thread([&] {
        locker = run_process({"sqlite3", "-cmd", ".timeout 5000", "-cmd", "BEGIN EXCLUSIVE;",
                              "-cmd", "SELECT 'locked';", "-cmd", ".shell sleep 6", db, "COMMIT;"},
                             20s);
        locker_done = true;
    });
    // While it is held, /healthz and reads answer quickly: the runner does not block the
    // service's thread on the lock. Once writes have been refused for 5 s, /healthz says so.
    std::this_thread::sleep_for(500ms);
    double worst_healthz = 0;
    double worst_status = 0;
    std::string unhealthy;
    for (int i = 0; i < 60 && !locker_done; ++i) {
        const auto h = curl(f.tmp, "GET", f.base + "/healthz", "");
        worst_healthz = std::max(worst_healthz, h.seconds);
        if (h.status == 503) {
            unhealthy = h.body;
        }
        const auto s = curl(f.tmp, "GET", f.base + "/v1/jobs/" + id, "key-a");
        CHECK(s.status == 200);
        worst_status = std::max(worst_status, s.seconds);
        std::this_thread::sleep_for(150ms);
    }
    lock_thread.join();
    INFO("locker: " << describe(locker));
    REQUIRE(locker.exit_code == 0);
    REQUIRE(locker.out.find("locked") != std::string::npos);
    INFO("slowest /healthz during the lock " << worst_healthz << " s, slowest job status "
                                             << worst_status << " s");
    CHECK(worst_healthz < 1.0);
    CHECK(worst_status < 1.0);
    INFO("/healthz during the lock: " << unhealthy);
    CHECK(unhealthy.find("jobs_db: writes have failed") != std::string::npos);

    const auto done = f.wait_ended(id, 60s);
    INFO(json::serialize(done) << "\nservice log:\n" << read_file(f.tmp / "serve.log"));
    REQUIRE(tenants_text_of(done, "status") == "done");
    CHECK(done.at("succeeded").as_int64() == 1500);
    std::map<std::string, int> by_status;
    for (const auto& line : f.results(id)) {
        ++by_status[tenants_text_of(line, "status")];
    }
    CHECK(by_status["ok"] == 1500);
    CHECK(by_status["queued"] == 0);
    CHECK(by_status["retrying"] == 0);
    // A second job after the lock runs normally: the runner is alive.
    const auto second = f.submit(tenant_urls_of(f.origin, "/ok/after", 5));
    CHECK(tenants_text_of(f.wait_ended(second, 20s), "status") == "done");
    const auto health = curl(f.tmp, "GET", f.base + "/healthz", "");
    CHECK(health.status == 200);
    CHECK(service.kill(SIGTERM) == 0);
}

TEST_CASE(
    "serve tenants: a job cancelled just before kill -9 gets its cancelled webhook after the "
    "restart",
    "[integration][serve][tenants]") {
    tenants_fixture f;
    f.write_config("concurrency: 4\n");
    std::string id;
    {
        serve_process service(f.tmp / "serve.yaml", f.tmp / "serve.log", f.port);
        // Items of 3 s each: the cancelled job's in-flight items have not settled at the kill.
        id = f.submit(tenant_urls_of(f.origin, "/delay/3000/c", 20), "key-a", true);
        std::this_thread::sleep_for(300ms);
        const auto cancelled = curl(f.tmp, "DELETE", f.base + "/v1/jobs/" + id, "key-a");
        REQUIRE(cancelled.status == 200);
        CHECK(service.kill(SIGKILL) == 128 + SIGKILL);
    }
    CHECK(f.receiver.bodies().empty());
    serve_process service(f.tmp / "serve.yaml", f.tmp / "serve.log", f.port);
    const auto until = steady::now() + 15s;
    while (f.receiver.bodies().empty() && steady::now() < until) {
        std::this_thread::sleep_for(50ms);
    }
    std::this_thread::sleep_for(300ms);
    const auto hooks = f.receiver.bodies();
    INFO(read_file(f.tmp / "serve.log"));
    REQUIRE(hooks.size() == 1);
    const auto event = json::parse(hooks[0]).as_object();
    CHECK(tenants_text_of(event, "job_id") == id);
    CHECK(tenants_text_of(event, "status") == "cancelled");
    CHECK(service.kill(SIGTERM) == 0);
}

TEST_CASE("serve tenants: an item whose data is over max_item_bytes fails as item_too_large",
          "[integration][serve][tenants]") {
    tenants_fixture f;
    f.write_config("max_item_bytes: 1KiB\n");
    serve_process service(f.tmp / "serve.yaml", f.tmp / "serve.log", f.port);
    const std::string big_id(3000, 'x');
    const auto id = f.submit({f.origin.url("/ok/small"), f.origin.url("/ok/" + big_id)});
    const auto done = f.wait_ended(id, 20s);
    REQUIRE(tenants_text_of(done, "status") == "done");
    const auto lines = f.results(id);
    REQUIRE(lines.size() == 2);
    CHECK(tenants_text_of(lines[0], "status") == "ok");
    CHECK(tenants_text_of(lines[1], "status") == "failed");
    CHECK(tenants_text_of(lines[1], "error") == "item_too_large");
    CHECK_FALSE(lines[1].contains("data"));
    CHECK(service.kill(SIGTERM) == 0);
}

TEST_CASE(
    "serve tenants: one tenant's bodies over http.max_body do not open the host's breaker for "
    "another tenant",
    "[integration][serve][tenants]") {
    tenants_fixture f;
    f.write_config("concurrency: 8\n",
                   "    circuit_breaker: {window: 20, min_calls: 4, failure_rate: 0.5, "
                   "min_open_for: 20s, open_for: 20s}\n");
    // http.max_body for the profile: 4 KiB; B's 30 URLs are 100 KB each.
    auto yaml = read_file(f.tmp / "serve.yaml");
    yaml.replace(yaml.find("http: {timeouts"), 15, "http: {max_body: 4KiB, timeouts");
    write_file(f.tmp / "serve.yaml", yaml);
    serve_process service(f.tmp / "serve.yaml", f.tmp / "serve.log", f.port);
    const auto hostile = f.submit(tenant_urls_of(f.origin, "/big/100000/b", 30), "key-b");
    const auto b_done = f.wait_ended(hostile, 30s, "key-b");
    REQUIRE(tenants_text_of(b_done, "status") == "done");
    for (const auto& line : f.results(hostile, "key-b")) {
        CHECK(tenants_text_of(line, "error") == "body_too_large");
    }
    const auto start = steady::now();
    const auto id = f.submit(tenant_urls_of(f.origin, "/ok/a", 2), "key-a");
    const auto done = f.wait_ended(id, 30s);
    const double took = std::chrono::duration<double>(steady::now() - start).count();
    INFO("tenant A's 2-item job took " << took << " s: " << json::serialize(done));
    REQUIRE(tenants_text_of(done, "status") == "done");
    CHECK(done.at("succeeded").as_int64() == 2);
    CHECK(took < 5);
    CHECK(service.kill(SIGTERM) == 0);
}

TEST_CASE(
    "serve tenants: items waiting for a retry hold no slot, and a tenant's slow host leaves the "
    "other tenant its share of the concurrency",
    "[integration][serve][tenants]") {
    tenants_fixture f;
    // The breaker stays closed here: 40 answers of 503 are about slots, not the host's health.
    f.write_config("concurrency: 4\n",
                   "    retry: {max_attempts: 3, backoff: {base: 50ms, max: 100ms}, budget: "
                   "{ratio: 5}}\n"
                   "    circuit_breaker: {window: 1000, min_calls: 1000, failure_rate: 1}\n");
    serve_process service(f.tmp / "serve.yaml", f.tmp / "serve.log", f.port);
    SECTION("waits hold no slot: the same key's next job runs while 40 items wait 4 s") {
        // Each answers 503 with Retry-After: 4 once, then 200: 40 items waiting 4 s.
        const auto waiting =
            f.submit(tenant_urls_of(f.origin, "/503-retry-after/4/1/w", 40), "key-b");
        std::this_thread::sleep_for(700ms);
        const auto start = steady::now();
        const auto id = f.submit({f.origin.url("/ok/next")}, "key-b");
        const auto done = f.wait_ended(id, 30s, "key-b");
        const double took = std::chrono::duration<double>(steady::now() - start).count();
        INFO("the 1-item job took " << took << " s");
        REQUIRE(tenants_text_of(done, "status") == "done");
        CHECK(took < 2.5);
        const auto first = f.wait_ended(waiting, 30s, "key-b");
        CHECK(first.at("succeeded").as_int64() == 40);
    }
    SECTION("fair share: tenant B's 40 slow items leave tenant A a slot") {
        (void)f.submit(tenant_urls_of(f.origin, "/delay/4000/s", 40), "key-b");
        std::this_thread::sleep_for(500ms);
        const auto start = steady::now();
        const auto id = f.submit({f.origin.url("/ok/a1")}, "key-a");
        const auto done = f.wait_ended(id, 30s);
        const double took = std::chrono::duration<double>(steady::now() - start).count();
        INFO("tenant A's 1-item job took " << took << " s");
        REQUIRE(tenants_text_of(done, "status") == "done");
        CHECK(took < 2.5);
    }
    SECTION("no slot idles: beside A's one slow item, B uses the slots A does not need") {
        // concurrency 4, two keys with work: an equal share is 2 each; the cap (3/4) is 3. A
        // needs one slot, so B runs 3 at a time: 6 items of 1 s in 2 rounds, not 3.
        (void)f.submit({f.origin.url("/delay/6000/a-slow")}, "key-a");
        std::this_thread::sleep_for(300ms);
        const auto start = steady::now();
        const auto id = f.submit(tenant_urls_of(f.origin, "/delay/1000/b", 6), "key-b");
        const auto done = f.wait_ended(id, 30s, "key-b");
        const double took = std::chrono::duration<double>(steady::now() - start).count();
        INFO("tenant B's 6 items of 1 s took " << took << " s");
        REQUIRE(tenants_text_of(done, "status") == "done");
        CHECK(took < 2.9);
    }
    CHECK(service.kill(SIGTERM) == 0);
}

TEST_CASE("serve tenants: per-key quotas refuse a key's submissions beyond its queued jobs",
          "[integration][serve][tenants]") {
    tenants_fixture f;
    f.write_config("quotas: {queued_jobs_per_key: 2, queued_items_per_key: 1000}\n");
    serve_process service(f.tmp / "serve.yaml", f.tmp / "serve.log", f.port);
    const auto slow = tenant_urls_of(f.origin, "/delay/3000/q", 10);
    (void)f.submit(slow, "key-a");
    (void)f.submit(slow, "key-a");
    const auto third = curl(f.tmp, "POST", f.base + "/v1/jobs", "key-a",
                            R"({"profile":"p","urls":)" + tenants_json_list(slow) + "}");
    INFO(third.body);
    CHECK(third.status == 429);
    CHECK(third.body.find("quota_exceeded") != std::string::npos);
    // The items quota counts the new job's items too.
    const auto big = curl(f.tmp, "POST", f.base + "/v1/jobs", "key-b",
                          R"({"profile":"p","urls":)" +
                              tenants_json_list(tenant_urls_of(f.origin, "/ok/q", 1001)) + "}");
    CHECK(big.status == 429);
    // Another key is not affected.
    (void)f.submit(slow, "key-b");
    CHECK(service.kill(SIGTERM) == 0);
}

TEST_CASE("serve tenants: ended jobs are deleted after jobs_ttl and by DELETE",
          "[integration][serve][tenants]") {
    tenants_fixture f;
    f.write_config("jobs_ttl: 2s\n");
    serve_process service(f.tmp / "serve.yaml", f.tmp / "serve.log", f.port);
    const auto kept = f.submit({f.origin.url("/ok/t1")});
    REQUIRE(tenants_text_of(f.wait_ended(kept, 20s), "status") == "done");
    // DELETE of an ended job deletes it and its results.
    const auto deleted = f.submit({f.origin.url("/ok/t2")});
    REQUIRE(tenants_text_of(f.wait_ended(deleted, 20s), "status") == "done");
    const auto result_id = tenants_text_of(f.results(deleted).at(0), "result_id");
    CHECK(curl(f.tmp, "DELETE", f.base + "/v1/jobs/" + deleted, "key-a").status == 200);
    const auto until = steady::now() + 10s;
    int deleted_status = 0;
    int kept_status = 0;
    while (steady::now() < until) {
        deleted_status = curl(f.tmp, "GET", f.base + "/v1/jobs/" + deleted, "key-a").status;
        kept_status = curl(f.tmp, "GET", f.base + "/v1/jobs/" + kept, "key-a").status;
        if (deleted_status == 404 && kept_status == 404) {
            break;
        }
        std::this_thread::sleep_for(100ms);
    }
    CHECK(deleted_status == 404);
    CHECK(curl(f.tmp, "GET", f.base + "/v1/results/" + result_id, "key-a").status == 404);
    // jobs_ttl: 2 s after it ended the job is gone.
    CHECK(kept_status == 404);
    CHECK(service.kill(SIGTERM) == 0);
}

TEST_CASE(
    "serve tenants: on a rate-limited host shared by two keys, one key's 200 waiting items do "
    "not queue the other key's two behind them",
    "[integration][serve][tenants]") {
    tenants_fixture f;
    f.write_config("concurrency: 64\n");
    // 20 requests a second to the chaos origin, one at a time.
    auto yaml = read_file(f.tmp / "serve.yaml");
    const std::string unlimited = "rate_limit: {per_second: 0, burst: 1}";
    yaml.replace(yaml.find(unlimited), unlimited.size(), "rate_limit: {per_second: 20, burst: 1}");
    write_file(f.tmp / "serve.yaml", yaml);
    serve_process service(f.tmp / "serve.yaml", f.tmp / "serve.log", f.port);
    const auto crowd = f.submit(tenant_urls_of(f.origin, "/ok/crowd", 200), "key-b");
    std::this_thread::sleep_for(300ms);
    const auto start = steady::now();
    const auto id = f.submit(tenant_urls_of(f.origin, "/ok/few", 2), "key-a");
    const auto done = f.wait_ended(id, 30s);
    const double took = std::chrono::duration<double>(steady::now() - start).count();
    INFO("key A's 2 items took " << took << " s beside key B's 200 at 20 requests a second");
    REQUIRE(tenants_text_of(done, "status") == "done");
    CHECK(done.at("succeeded").as_int64() == 2);
    CHECK(took < 1.5);
    CHECK(tenants_text_of(f.job(crowd, "key-b"), "status") == "running");
    CHECK(service.kill(SIGTERM) == 0);
}
