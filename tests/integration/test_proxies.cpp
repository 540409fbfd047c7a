// Crawls through real proxies started on loopback ports: tinyproxy (HTTP forward proxy and
// CONNECT tunnels, Basic auth, URL filter) and dante (SOCKS5). Every claim is checked in the
// proxies' own logs and nginx's access log, not in Harvest's word: rotation spreads requests,
// a proxy killed mid-crawl is skipped and nothing is lost, a proxy refused by one host is
// benched for that host only, and wrong credentials fail with proxy_auth.

#include "tests/integration/support.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace harvest::test;
using namespace std::chrono_literals;
namespace json = boost::json;

// A proxy daemon run in the foreground as a child of the test (its own process group), killed
// by pid when it goes out of scope.
class daemon_process {
  public:
    daemon_process(const std::vector<std::string>& argv, const fs::path& log, int port) {
        pid_ = ::fork();
        if (pid_ == 0) {
            ::setpgid(0, 0);
            const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                ::dup2(fd, 1);
                ::dup2(fd, 2);
            }
            const int null_fd = ::open("/dev/null", O_RDONLY);
            if (null_fd >= 0) {
                ::dup2(null_fd, 0);
            }
            std::vector<char*> args;
            for (const auto& a : argv) {
                args.push_back(const_cast<char*>(a.c_str()));
            }
            args.push_back(nullptr);
            ::execvp(args[0], args.data());
            ::_exit(127);
        }
        // Ready when it accepts connections: bounded at 10 s.
        for (int i = 0; i < 200 && !port_accepts(port); ++i) {
            std::this_thread::sleep_for(50ms);
        }
        ready_ = port_accepts(port);
    }
    ~daemon_process() { kill(); }
    daemon_process(const daemon_process&) = delete;
    daemon_process& operator=(const daemon_process&) = delete;

    bool ready() const { return ready_; }
    void kill() {
        if (pid_ > 0) {
            ::kill(-pid_, SIGKILL);
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
            pid_ = -1;
        }
    }

  private:
    int pid_ = -1;
    bool ready_ = false;
};

// tinyproxy on a free port, logging every request line (LogLevel Connect) to dir/tinyproxy.log.
// `filter`: a regex of URLs it refuses with 403 (as a site that bans the proxy would).
struct tinyproxy {
    tinyproxy(const fs::path& dir, const std::string& auth = "", const std::string& filter = "")
        : dir(dir), port(free_port()) {
        fs::create_directories(dir);
        std::string conf = "Port " + std::to_string(port) +
                           "\nListen 127.0.0.1\nTimeout 30\nMaxClients 256\nLogLevel Connect\n" +
                           "LogFile \"" + (dir / "tinyproxy.log").string() + "\"\n";
        if (!auth.empty()) {
            conf += "BasicAuth " + auth + "\n";
        }
        if (!filter.empty()) {
            write_file(dir / "filter", filter + "\n");
            conf += "Filter \"" + (dir / "filter").string() +
                    "\"\nFilterURLs On\nFilterType ere\nFilterDefaultDeny No\n";
        }
        write_file(dir / "tinyproxy.conf", conf);
        process = std::make_unique<daemon_process>(
            std::vector<std::string>{"tinyproxy", "-d", "-c", (dir / "tinyproxy.conf").string()},
            dir / "stdout.log", port);
    }

    // Request lines ("GET http://..." or "CONNECT host:port") that contain `needle`.
    int requests_with(const std::string& needle) const {
        int n = 0;
        for (const auto& line : read_lines(dir / "tinyproxy.log")) {
            if (line.find("Request (file descriptor") != std::string::npos &&
                line.find(needle) != std::string::npos) {
                ++n;
            }
        }
        return n;
    }

    std::string url(const std::string& credentials = "") const {
        return "http://" + (credentials.empty() ? "" : credentials + "@") +
               "127.0.0.1:" + std::to_string(port);
    }

    fs::path dir;
    int port;
    std::unique_ptr<daemon_process> process;
};

// dante on a free port, without authentication, as the user running the test (no user.*
// settings: it never switches users); logs each connection it carried.
struct dante {
    // `method`: "none", or "username" (RFC 1929, checked against the system's users).
    explicit dante(const fs::path& dir, const std::string& method = "none")
        : dir(dir), port(free_port()) {
        fs::create_directories(dir);
        const std::string conf =
            "logoutput: " + (dir / "danted.log").string() +
            "\ninternal: 127.0.0.1 port = " + std::to_string(port) +
            "\nexternal: 127.0.0.1\nclientmethod: none\nsocksmethod: " + method +
            "\n"
            "client pass {\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n}\n"
            "socks pass {\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n"
            "  command: connect\n  log: connect disconnect\n}\n";
        write_file(dir / "danted.conf", conf);
        process = std::make_unique<daemon_process>(
            std::vector<std::string>{"danted", "-f", (dir / "danted.conf").string(), "-N", "1"},
            dir / "stdout.log", port);
    }

    // Log lines of connections it made to 127.0.0.1:target_port.
    int connections_to(int target_port) const {
        int n = 0;
        const std::string needle = " 127.0.0.1." + std::to_string(target_port) + " ";
        for (const auto& line : read_lines(dir / "danted.log")) {
            n += line.find("pass(") != std::string::npos && line.find(needle) != std::string::npos
                     ? 1
                     : 0;
        }
        return n;
    }

    std::string url(const std::string& scheme) const {
        return scheme + "://127.0.0.1:" + std::to_string(port);
    }

    fs::path dir;
    int port;
    std::unique_ptr<daemon_process> process;
};

struct proxy_fixture {
    explicit proxy_fixture(int products, bool tls = false)
        : tmp("harvest-proxies"), site(tmp / "site") {
        generate_catalog(site, {products, 5, 0.0});
        std::optional<test_pki> pki;
        if (tls) {
            pki = make_test_pki(tmp / "pki");
            ca = pki->ca_cert;
        }
        nginx = std::make_unique<nginx_server>(nginx_options{site, tmp / "nginx", pki, 1});
        for (const auto& line : read_lines(site / "asins.txt")) {
            if (!line.empty()) {
                asins.insert(line);
            }
        }
    }

    // A crawl of every product document of `base` through `proxies` (YAML list items).
    std::string yaml(const std::string& base, const std::vector<std::string>& proxies,
                     const std::string& output, const std::string& extra = "") const {
        std::string text =
            "name: proxies\nseeds:\n  - template: \"" + base +
            "/api/products/{id}.json\"\n    values_file: " + (site / "asins.txt").string() +
            "\nengine: {concurrency: 8, per_host_concurrency: 8, threads: 2, "
            "robots_txt: ignore}\n"
            "rate_limit: {per_second: 0}\n"
            "retry: {max_attempts: 4, backoff: {strategy: none, base: 10ms, max: "
            "10ms}}\n"
            "state: {dir: " +
            (tmp / ("state-" + output)).string() + "}\n";
        if (!ca.empty()) {
            text += "http: {tls: {ca_file: " + ca.string() + "}}\n";
        }
        text += "proxies:\n";
        for (const auto& proxy : proxies) {
            text += "  - \"" + proxy + "\"\n";
        }
        text += extra;
        text +=
            "extract:\n  - match: \"/api/products/\"\n    type: json\n    fields:\n      id: "
            "/asin\n    required: [id]\noutputs:\n  - type: jsonl\n    path: " +
            (tmp / output).string() + "\n";
        return text;
    }

    process_result run(const std::string& config, const std::string& output) {
        write_file(tmp / (output + ".yaml"), config);
        return run_process({harvest_binary().string(), "run", (tmp / (output + ".yaml")).string()},
                           60s);
    }

    // Each id emitted exactly once, and every product there.
    bool each_once(const std::vector<json::object>& items) const {
        std::multiset<std::string> ids;
        for (const auto& item : items) {
            ids.insert(std::string(item.at("id").as_string()));
        }
        return ids.size() == asins.size() && std::set<std::string>(ids.begin(), ids.end()) == asins;
    }

    std::vector<std::string> error_kinds(const std::string& output) const {
        std::vector<std::string> kinds;
        for (const auto& record : read_jsonl(errors_path_for(tmp / output))) {
            kinds.emplace_back(record.at("error").as_string());
        }
        return kinds;
    }

    temp_dir tmp;
    fs::path site;
    fs::path ca;
    std::unique_ptr<nginx_server> nginx;
    std::set<std::string> asins;
};

int product_requests(const nginx_server& nginx) {
    int n = 0;
    for (const auto& entry : nginx.access_entries()) {
        n += entry.uri.starts_with("/api/products/") ? 1 : 0;
    }
    return n;
}

}  // namespace

TEST_CASE(
    "proxies: round_robin spreads requests evenly over three proxies, each log shows its "
    "share",
    "[integration][proxy]") {
    proxy_fixture f(30);
    tinyproxy a(f.tmp / "a");
    tinyproxy b(f.tmp / "b");
    tinyproxy c(f.tmp / "c");
    REQUIRE((a.process->ready() && b.process->ready() && c.process->ready()));
    const auto result =
        f.run(f.yaml(f.nginx->base_url(), {a.url(), b.url(), c.url()}, "rr.jsonl"), "rr.jsonl");
    INFO(describe(result));
    REQUIRE(result.exit_code == 0);
    CHECK(f.each_once(read_jsonl(f.tmp / "rr.jsonl")));
    const std::string target = "GET " + f.nginx->base_url() + "/api/products/";
    CHECK(a.requests_with(target) == 10);
    CHECK(b.requests_with(target) == 10);
    CHECK(c.requests_with(target) == 10);
    CHECK(product_requests(*f.nginx) == 30);  // nothing went direct or twice
}

TEST_CASE("proxies: sticky_per_host sends one host through one proxy", "[integration][proxy]") {
    proxy_fixture f(20);
    tinyproxy a(f.tmp / "a");
    tinyproxy b(f.tmp / "b");
    REQUIRE((a.process->ready() && b.process->ready()));
    const auto result = f.run(f.yaml(f.nginx->base_url(), {a.url(), b.url()}, "sticky.jsonl",
                                     "proxy_rotation: sticky_per_host\n"),
                              "sticky.jsonl");
    INFO(describe(result));
    REQUIRE(result.exit_code == 0);
    CHECK(f.each_once(read_jsonl(f.tmp / "sticky.jsonl")));
    const std::string target = "GET " + f.nginx->base_url() + "/api/products/";
    const int through_a = a.requests_with(target);
    const int through_b = b.requests_with(target);
    CHECK(through_a + through_b == 20);
    CHECK((through_a == 0 || through_b == 0));
}

TEST_CASE("proxies: sticky_per_session keeps each session of sessions: on one proxy",
          "[integration][proxy][cookies]") {
    proxy_fixture f(30);
    tinyproxy a(f.tmp / "a");
    tinyproxy b(f.tmp / "b");
    tinyproxy c(f.tmp / "c");
    REQUIRE((a.process->ready() && b.process->ready() && c.process->ready()));
    const auto result =
        f.run(f.yaml(f.nginx->base_url(), {a.url(), b.url(), c.url()}, "sessions.jsonl",
                     "proxy_rotation: sticky_per_session\nsessions: {count: 3}\n"),
              "sessions.jsonl");
    INFO(describe(result));
    REQUIRE(result.exit_code == 0);
    CHECK(f.each_once(read_jsonl(f.tmp / "sessions.jsonl")));
    // Seeds are dealt to the sessions in turn, in the values file's order: seed i is session
    // i mod 3. Each proxy's log names the URLs it carried; a session's URLs all went through one.
    const std::vector<const tinyproxy*> proxies{&a, &b, &c};
    std::vector<std::set<std::size_t>> proxies_of_session(3);
    std::size_t index = 0;
    int carried = 0;
    for (const auto& asin : read_lines(f.site / "asins.txt")) {
        if (asin.empty()) {
            continue;
        }
        const std::string line = "GET " + f.nginx->base_url() + "/api/products/" + asin + ".json";
        for (std::size_t p = 0; p < proxies.size(); ++p) {
            const int n = proxies[p]->requests_with(line);
            if (n > 0) {
                proxies_of_session[index % 3].insert(p);
                carried += n;
            }
        }
        ++index;
    }
    CHECK(carried == 30);
    for (std::size_t session = 0; session < 3; ++session) {
        INFO("session " << session);
        CHECK(proxies_of_session[session].size() == 1);
    }
}

TEST_CASE("proxies: https through CONNECT with Basic auth; wrong credentials fail with proxy_auth",
          "[integration][proxy]") {
    // 8 products: fewer than circuit_breaker.min_calls, so the proxy's own breaker stays closed
    // and every request meets the proxy's refusal (not an open breaker).
    proxy_fixture f(8, true);
    tinyproxy a(f.tmp / "a", "alice s3cret");
    REQUIRE(a.process->ready());
    const auto good =
        f.run(f.yaml(f.nginx->tls_base_url(), {a.url("alice:s3cret")}, "tls.jsonl"), "tls.jsonl");
    INFO(describe(good));
    REQUIRE(good.exit_code == 0);
    CHECK(f.each_once(read_jsonl(f.tmp / "tls.jsonl")));
    CHECK(a.requests_with("CONNECT 127.0.0.1:" + std::to_string(f.nginx->tls_port())) >= 1);
    CHECK(good.err.find("s3cret") == std::string::npos);

    const auto wrong =
        f.run(f.yaml(f.nginx->tls_base_url(), {a.url("alice:wrong")}, "bad.jsonl"), "bad.jsonl");
    INFO(describe(wrong));
    CHECK(read_jsonl(f.tmp / "bad.jsonl").empty());
    const auto kinds = f.error_kinds("bad.jsonl");
    CHECK(kinds.size() == 8);
    CHECK(std::all_of(kinds.begin(), kinds.end(),
                      [](const std::string& kind) { return kind == "proxy_auth"; }));
    CHECK(wrong.err.find("wrong") == std::string::npos);

    // Forward (http:// target) without credentials: tinyproxy answers 407.
    const auto none = f.run(f.yaml(f.nginx->base_url(), {a.url()}, "none.jsonl"), "none.jsonl");
    const auto none_kinds = f.error_kinds("none.jsonl");
    CHECK(none_kinds.size() == 8);
    CHECK(std::all_of(none_kinds.begin(), none_kinds.end(),
                      [](const std::string& kind) { return kind == "proxy_auth"; }));
}

TEST_CASE(
    "proxies: SOCKS5 through dante, the name resolved by harvest (socks5) or the proxy "
    "(socks5h), http and https",
    "[integration][proxy]") {
    proxy_fixture f(10, true);
    dante d(f.tmp / "dante");
    REQUIRE(d.process->ready());
    for (const std::string scheme : {"socks5", "socks5h"}) {
        for (const bool tls : {false, true}) {
            const std::string output = scheme + (tls ? "-tls" : "-plain") + ".jsonl";
            const std::string base = tls ? f.nginx->tls_base_url() : f.nginx->base_url();
            const auto result = f.run(f.yaml(base, {d.url(scheme)}, output), output);
            INFO(output << "\n" << describe(result));
            REQUIRE(result.exit_code == 0);
            CHECK(f.each_once(read_jsonl(f.tmp / output)));
        }
    }
    // After harvest exited, dante logged the connections it carried to each nginx port.
    std::this_thread::sleep_for(200ms);
    CHECK(d.connections_to(f.nginx->port()) >= 2);
    CHECK(d.connections_to(f.nginx->tls_port()) >= 2);
}

TEST_CASE("proxies: a SOCKS5 proxy that refuses our user/pass gives proxy_auth",
          "[integration][proxy]") {
    // 6 products: fewer than circuit_breaker.min_calls, so each meets the refusal itself.
    proxy_fixture f(6);
    dante d(f.tmp / "dante", "username");
    REQUIRE(d.process->ready());
    const auto result =
        f.run(f.yaml(f.nginx->base_url(),
                     {"socks5h://nobody:not-the-password@127.0.0.1:" + std::to_string(d.port)},
                     "socksauth.jsonl"),
              "socksauth.jsonl");
    INFO(describe(result));
    CHECK(read_jsonl(f.tmp / "socksauth.jsonl").empty());
    const auto kinds = f.error_kinds("socksauth.jsonl");
    CHECK(kinds.size() == 6);
    CHECK(std::all_of(kinds.begin(), kinds.end(),
                      [](const std::string& kind) { return kind == "proxy_auth"; }));
    CHECK(product_requests(*f.nginx) == 0);
    CHECK(result.err.find("not-the-password") == std::string::npos);
}

TEST_CASE("proxies: a proxy killed mid-crawl is skipped and every URL is emitted once",
          "[integration][proxy]") {
    proxy_fixture f(120);
    tinyproxy a(f.tmp / "a");
    tinyproxy b(f.tmp / "b");
    REQUIRE((a.process->ready() && b.process->ready()));
    // 40 requests a second: the crawl lasts about 3 s; proxy a dies after 1 s.
    std::string paced = f.yaml(f.nginx->base_url(), {a.url(), b.url()}, "kill.jsonl");
    const std::string from = "rate_limit: {per_second: 0}";
    paced.replace(paced.find(from), from.size(), "rate_limit: {per_second: 40, burst: 1}");
    write_file(f.tmp / "kill.yaml", paced);
    background_harvest run({"run", (f.tmp / "kill.yaml").string()}, f.tmp / "kill.log");
    std::this_thread::sleep_for(1s);
    const std::string target = "GET " + f.nginx->base_url() + "/api/products/";
    const int before_kill = a.requests_with(target);
    a.process->kill();
    const int status = run.wait(60s);
    INFO(read_file(f.tmp / "kill.log"));
    REQUIRE(status == 0);
    CHECK(before_kill > 0);
    CHECK(f.each_once(read_jsonl(f.tmp / "kill.jsonl")));
    CHECK(f.error_kinds("kill.jsonl").empty());
    // b carried the rest: everything a did not get before it died.
    CHECK(b.requests_with(target) >= 120 - a.requests_with(target));
    CHECK(b.requests_with(target) > a.requests_with(target));
}

TEST_CASE("proxies: a proxy refused (403) by one host is benched for that host only",
          "[integration][proxy]") {
    proxy_fixture f(40);
    // A second origin: the same catalog on another nginx (another port, so another host).
    nginx_server other(nginx_options{f.site, f.tmp / "nginx2", std::nullopt, 1});
    const std::string banned_host = "127.0.0.1:" + std::to_string(f.nginx->port());
    // Proxy a answers 403 for every URL of the first origin, as a site banning it would.
    tinyproxy a(f.tmp / "a", "",
                "^http://127\\.0\\.0\\.1:" + std::to_string(f.nginx->port()) + "/");
    tinyproxy b(f.tmp / "b");
    REQUIRE((a.process->ready() && b.process->ready()));
    // random: a shared round_robin counter could alias with the two hosts' alternation.
    std::string config =
        f.yaml(f.nginx->base_url(), {a.url(), b.url()}, "ban.jsonl",
               "proxy_rotation: random\nproxy_ban: {status: [403], bench_for: 10m}\n");
    // Seeds of both origins.
    const std::string second_seed =
        "  - template: \"" + other.base_url() +
        "/api/products/{id}.json\"\n    values_file: " + (f.site / "asins.txt").string() + "\n";
    config.insert(config.find("engine:"), second_seed);
    const auto result = f.run(config, "ban.jsonl");
    INFO(describe(result));
    REQUIRE(result.exit_code == 0);
    const auto items = read_jsonl(f.tmp / "ban.jsonl");
    CHECK(items.size() == 80);  // both origins, every product
    CHECK(f.error_kinds("ban.jsonl").empty());
    // The first origin: every product reached it once, all through b; a refused at most the
    // requests in flight before its first refusal was known (per_host_concurrency).
    CHECK(product_requests(*f.nginx) == 40);
    const std::string first = "GET http://" + banned_host + "/api/products/";
    CHECK(b.requests_with(first) == 40);
    CHECK(a.requests_with(first) >= 1);
    CHECK(a.requests_with(first) <= 8);
    // The other origin still goes through a, about half of it (P(fewer than 5 of 40) < 1e-6).
    const std::string second = "GET " + other.base_url() + "/api/products/";
    CHECK(a.requests_with(second) >= 5);
    CHECK(product_requests(other) == 40);
}
