// HTTP/2 (http.version): `harvest run` and `harvest fetch` against nginx with `listen ... ssl
// http2` (ALPN) and against nghttpd over h2c (prior knowledge), including a server that sends
// GOAWAY every few requests and one that allows a single stream at a time. nginx's access log
// ($server_protocol, $connection) shows what really went over the wire.

#include "tests/integration/support.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <thread>

extern char** environ;

namespace {

using namespace harvest::test;
using namespace std::chrono_literals;
namespace json = boost::json;

// A server process in its own process group, output to `log`; killed with the group when it
// goes out of scope.
class server_process {
  public:
    server_process(const std::vector<std::string>& argv, const fs::path& log) {
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                         0644);
        posix_spawn_file_actions_adddup2(&actions, 1, 2);
        posix_spawnattr_t attr;
        posix_spawnattr_init(&attr);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
        posix_spawnattr_setpgroup(&attr, 0);
        std::vector<char*> args;
        for (const auto& a : argv) {
            args.push_back(const_cast<char*>(a.c_str()));
        }
        args.push_back(nullptr);
        const int rc = posix_spawn(&pid_, args[0], &actions, &attr, args.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
        if (rc != 0) {
            throw std::runtime_error("cannot start " + argv[0]);
        }
    }
    ~server_process() { stop(); }
    server_process(const server_process&) = delete;
    server_process& operator=(const server_process&) = delete;

    bool exited() {
        int status = 0;
        return pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_;
    }

    // SIGQUIT first: nginx finishes and flushes its log. Bounded: 3 s, then SIGKILL.
    void stop() {
        if (pid_ <= 0) {
            return;
        }
        ::kill(pid_, SIGQUIT);
        for (int i = 0; i < 150; ++i) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                ::kill(-pid_, SIGKILL);
                pid_ = -1;
                return;
            }
            std::this_thread::sleep_for(20ms);
        }
        ::kill(-pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }

  private:
    pid_t pid_ = -1;
};

void wait_accepting(int port, server_process& process, const fs::path& log) {
    for (int i = 0; i < 500; ++i) {  // 10 s
        if (port_accepts(port)) {
            return;
        }
        if (process.exited()) {
            break;
        }
        std::this_thread::sleep_for(20ms);
    }
    throw std::runtime_error("server did not start: " + read_file(log));
}

// One line of the h2 nginx's access log.
struct h2_entry {
    std::string protocol;  // $server_protocol: "HTTP/2.0", "HTTP/1.1"
    long long connection = 0;
    int status = 0;
    std::string uri;
};

// nginx serving `site`: HTTPS with h2 (ALPN) on h2_port, HTTPS without h2 on h1_port.
// `keepalive_requests`: after that many requests on a connection nginx sends GOAWAY.
// `max_streams`: its SETTINGS_MAX_CONCURRENT_STREAMS.
struct h2_nginx {
    h2_nginx(const fs::path& site, const fs::path& run, const test_pki& pki,
             int keepalive_requests = 100000, int max_streams = 128)
        : run_dir(run) {
        fs::create_directories(run / "tmp");
        for (int tries = 0; tries < 5 && !process; ++tries) {
            h2_port = free_port();
            h1_port = free_port();
            if (h1_port == h2_port) {
                continue;
            }
            const std::string tls = " ssl_certificate " + fs::absolute(pki.server_cert).string() +
                                    "; ssl_certificate_key " +
                                    fs::absolute(pki.server_key).string() + ";\n";
            std::ostringstream conf;
            conf << (::geteuid() == 0 ? "user root;\n" : "") << "worker_processes 1;\n"
                 << "pid " << run.string() << "/nginx.pid;\n"
                 << "error_log " << run.string() << "/error.log warn;\n"
                 << "events { worker_connections 1024; }\n"
                 << "http {\n"
                 << "  types { application/json json; text/plain txt; }\n"
                 << "  default_type application/octet-stream;\n"
                 << "  client_body_temp_path " << run.string() << "/tmp/body;\n"
                 << "  proxy_temp_path " << run.string() << "/tmp/proxy;\n"
                 << "  fastcgi_temp_path " << run.string() << "/tmp/fastcgi;\n"
                 << "  uwsgi_temp_path " << run.string() << "/tmp/uwsgi;\n"
                 << "  scgi_temp_path " << run.string() << "/tmp/scgi;\n"
                 << "  keepalive_requests " << keepalive_requests << ";\n"
                 << "  http2_max_concurrent_streams " << max_streams << ";\n"
                 << "  gzip off; gzip_static on;\n"
                 << "  log_format h2 '$server_protocol $connection $status $request_uri';\n"
                 << "  access_log " << run.string() << "/access.log h2;\n"
                 << "  server {\n"
                 << "    listen 127.0.0.1:" << h2_port << " ssl http2;\n"
                 << "    listen 127.0.0.1:" << h1_port << " ssl;\n"
                 << tls << "    root " << site.string() << ";\n"
                 << "    location / { try_files $uri =404; }\n"
                 << "    location = /reset { return 444; }\n"
                 << "  }\n"
                 << "}\n";
            write_file(run / "nginx.conf", conf.str());
            auto p = std::make_unique<server_process>(
                std::vector<std::string>{"/usr/sbin/nginx", "-p", run.string(), "-c",
                                         (run / "nginx.conf").string(), "-e",
                                         (run / "error.log").string(), "-g", "daemon off;"},
                run / "nginx.out");
            bool up = false;
            for (int i = 0; i < 250 && !p->exited(); ++i) {  // 5 s
                if (port_accepts(h2_port) && port_accepts(h1_port)) {
                    up = true;
                    break;
                }
                std::this_thread::sleep_for(20ms);
            }
            if (up) {
                process = std::move(p);
            }
        }
        if (!process) {
            throw std::runtime_error("nginx did not start: " + read_file(run / "nginx.out"));
        }
    }

    std::vector<h2_entry> entries() const {
        std::vector<h2_entry> out;
        for (const auto& line : read_lines(run_dir / "access.log")) {
            std::istringstream in(line);
            h2_entry e;
            in >> e.protocol >> e.connection >> e.status >> e.uri;
            out.push_back(e);
        }
        return out;
    }

    fs::path run_dir;
    int h2_port = 0;
    int h1_port = 0;
    std::unique_ptr<server_process> process;
};

struct h2_fixture {
    explicit h2_fixture(int products) : tmp("harvest-h2"), site(tmp / "site") {
        generate_catalog(site, {products, 5, 0.2});
        pki = make_test_pki(tmp / "pki");
        for (const auto& line : read_lines(site / "asins.txt")) {
            if (!line.empty()) {
                asins.push_back(line);
            }
        }
        write_file(tmp / "values.txt", [&] {
            std::string v;
            for (const auto& a : asins) {
                v += a + "\n";
            }
            return v;
        }());
    }

    // The crawl of every product's JSON document at `base`.
    std::string yaml(const std::string& base, const std::string& version,
                     int per_host_concurrency = 32) const {
        return "name: h2\n"
               "seeds:\n"
               "  - template: \"" +
               base +
               "/api/products/{id}.json\"\n    values_file: " + (tmp / "values.txt").string() +
               "\n"
               "engine:\n"
               "  concurrency: 64\n"
               "  per_host_concurrency: " +
               std::to_string(per_host_concurrency) +
               "\n"
               "  threads: 2\n"
               "  robots_txt: ignore\n"
               "http:\n"
               "  version: \"" +
               version +
               "\"\n"
               "  timeouts: {connect: 5s, tls: 5s, response_headers: 10s, idle_read: 10s, "
               "total: 20s}\n"
               "  tls: {verify: true, ca_file: " +
               fs::absolute(pki.ca_cert).string() +
               "}\n"
               "rate_limit: {per_second: 0, burst: 1}\n"
               "retry:\n"
               "  max_attempts: 2\n"
               "  backoff: {strategy: full_jitter, base: 50ms, max: 200ms}\n"
               "extract:\n"
               "  - match: \"/api/products/\"\n"
               "    type: json\n"
               "    fields:\n"
               "      id: /asin\n"
               "      title: {pointer: /title, as: string}\n"
               "    required: [id]\n"
               "outputs:\n"
               "  - type: jsonl\n"
               "    path: out/items.jsonl\n";
    }

    struct run_result {
        process_result process;
        std::vector<json::object> items;
        std::vector<json::object> errors;
        json::object stats;
    };

    run_result run(const std::string& name, const std::string& yaml_text) const {
        const auto dir = tmp / name;
        write_file(dir / "cfg.yaml", yaml_text);
        run_result r;
        r.process = run_process({harvest_binary().string(), "run", (dir / "cfg.yaml").string(),
                                 "--stats-json", (dir / "stats.json").string()},
                                60s);
        r.items = read_jsonl(dir / "out/items.jsonl");
        r.errors = read_jsonl(errors_path_for(dir / "out/items.jsonl"));
        if (fs::exists(dir / "stats.json")) {
            auto v = json::parse(read_file(dir / "stats.json"));
            if (v.is_object()) {
                r.stats = v.as_object();
            }
        }
        return r;
    }

    // Every product emitted exactly once.
    void check_each_once(const run_result& r) const {
        std::map<std::string, int> seen;
        for (const auto& item : r.items) {
            ++seen[std::string(item.at("id").as_string())];
        }
        CHECK(seen.size() == asins.size());
        for (const auto& asin : asins) {
            INFO(asin);
            CHECK(seen[asin] == 1);
        }
        CHECK(r.items.size() == asins.size());
    }

    temp_dir tmp;
    fs::path site;
    test_pki pki;
    std::vector<std::string> asins;
};

json::object fetch_json(const std::vector<std::string>& extra_args, const std::string& url,
                        process_result& result) {
    std::vector<std::string> argv{harvest_binary().string(), "fetch", url};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    result = run_process(argv, 30s);
    auto v = json::parse(result.out);
    return v.as_object();
}

}  // namespace

TEST_CASE("http2: a crawl over TLS negotiates h2 with nginx; streams share one connection",
          "[integration][h2]") {
    h2_fixture f(300);
    h2_nginx nginx(f.site, f.tmp / "nginx", f.pki);
    const std::string base = "https://127.0.0.1:" + std::to_string(nginx.h2_port);

    auto r = f.run("auto", f.yaml(base, "auto"));
    INFO(describe(r.process));
    REQUIRE(r.process.exit_code == 0);
    f.check_each_once(r);
    CHECK(r.errors.empty());

    const auto entries = nginx.entries();
    REQUIRE(entries.size() == f.asins.size());  // nothing was requested twice
    std::set<long long> connections;
    for (const auto& e : entries) {
        CHECK(e.protocol == "HTTP/2.0");
        CHECK(e.status == 200);
        connections.insert(e.connection);
    }
    // One connection per origin: 300 requests, up to 32 at once, all on one connection.
    CHECK(connections.size() == 1);

    SECTION("http.version 1.1 stays on HTTP/1.1 with the same server") {
        auto again = f.run("v11", f.yaml(base, "1.1", 8));
        INFO(describe(again.process));
        REQUIRE(again.process.exit_code == 0);
        f.check_each_once(again);
        const auto all = nginx.entries();
        REQUIRE(all.size() == 2 * f.asins.size());
        std::set<long long> h1_connections;
        for (std::size_t i = f.asins.size(); i < all.size(); ++i) {
            CHECK(all[i].protocol == "HTTP/1.1");
            h1_connections.insert(all[i].connection);
        }
        CHECK(h1_connections.size() > 1);  // HTTP/1.1: one request at a time per connection
    }
}

TEST_CASE("http2: two hosts on two network shards, each host's streams on one connection",
          "[integration][h2]") {
    // engine.network_threads: 2 gives each host a shard of its own: its h2 session and the
    // fetches multiplexed on it run there, and the crawl ends with both sessions closed.
    h2_fixture f(200);
    h2_nginx first(f.site, f.tmp / "nginx1", f.pki);
    h2_nginx second(f.site, f.tmp / "nginx2", f.pki);
    const std::string base1 = "https://127.0.0.1:" + std::to_string(first.h2_port);
    const std::string base2 = "https://127.0.0.1:" + std::to_string(second.h2_port);
    std::string yaml = f.yaml(base1, "auto");
    yaml.insert(yaml.find("engine:\n"), "  - template: \"" + base2 +
                                            "/api/products/{id}.json\"\n    values_file: " +
                                            (f.tmp / "values.txt").string() + "\n");
    const std::string threads = "  threads: 2\n";
    yaml.replace(yaml.find(threads), threads.size(), threads + "  network_threads: 2\n");

    auto r = f.run("shards", yaml);
    INFO(describe(r.process));
    REQUIRE(r.process.exit_code == 0);
    CHECK(r.errors.empty());
    std::map<std::string, int> seen;  // url -> items
    for (const auto& item : r.items) {
        ++seen[std::string(item.at("url").as_string())];
    }
    CHECK(r.items.size() == 2 * f.asins.size());
    for (const auto& asin : f.asins) {
        for (const auto& base : {base1, base2}) {
            const std::string url = base + "/api/products/" + asin + ".json";
            INFO(url);
            CHECK(seen[url] == 1);
        }
    }
    for (const h2_nginx* server : {&first, &second}) {
        const auto entries = server->entries();
        CHECK(entries.size() == f.asins.size());
        std::set<long long> connections;
        for (const auto& e : entries) {
            CHECK(e.protocol == "HTTP/2.0");
            connections.insert(e.connection);
        }
        CHECK(connections.size() == 1);
    }
}

TEST_CASE("http2: GOAWAY every 7 requests loses and repeats nothing", "[integration][h2]") {
    h2_fixture f(200);
    h2_nginx nginx(f.site, f.tmp / "nginx", f.pki, 7);
    const std::string base = "https://127.0.0.1:" + std::to_string(nginx.h2_port);

    auto r = f.run("goaway", f.yaml(base, "2"));
    INFO(describe(r.process));
    REQUIRE(r.process.exit_code == 0);
    f.check_each_once(r);
    CHECK(r.errors.empty());
    // Requests past a GOAWAY's last stream were never processed: sent again, not retried.
    CHECK(r.stats.at("retries").as_int64() == 0);

    const auto entries = nginx.entries();
    CHECK(entries.size() == f.asins.size());
    std::map<long long, int> per_connection;
    for (const auto& e : entries) {
        CHECK(e.protocol == "HTTP/2.0");
        ++per_connection[e.connection];
    }
    CHECK(per_connection.size() >= f.asins.size() / 7);
    for (const auto& [connection, count] : per_connection) {
        CHECK(count <= 7);
    }
}

TEST_CASE("http2: random GOAWAY spacing, stream limits and concurrency lose and repeat nothing",
          "[integration][h2]") {
    // Fixed seed in CI; each round draws how often nginx ends a connection (GOAWAY after N
    // requests), how many streams it allows at once and how many requests harvest keeps in
    // flight. The writer's cork and the resends after GOAWAY meet every mix of these.
    std::mt19937 random(20261207);
    h2_fixture f(150);
    for (int round = 0; round < 6; ++round) {
        const int keepalive = std::uniform_int_distribution<int>(2, 40)(random);
        const int streams = std::uniform_int_distribution<int>(1, 128)(random);
        const int in_flight = std::uniform_int_distribution<int>(1, 64)(random);
        INFO("round " << round << ": GOAWAY after " << keepalive << " requests, " << streams
                      << " streams, " << in_flight << " in flight");
        const std::string name = "mix" + std::to_string(round);
        h2_nginx nginx(f.site, f.tmp / (name + "-nginx"), f.pki, keepalive, streams);
        const std::string base = "https://127.0.0.1:" + std::to_string(nginx.h2_port);
        auto r = f.run(name, f.yaml(base, "2", in_flight));
        INFO(describe(r.process));
        REQUIRE(r.process.exit_code == 0);
        f.check_each_once(r);
        CHECK(r.errors.empty());
        // Refused streams are sent again without a retry, the most refused first, so even at 2
        // requests per connection none is refused max_h2_sends times (woken in arrival order,
        // 2 to 6 per connection gave 0 to 48 retries in a crawl of 150).
        CHECK(r.stats.at("retries").as_int64() == 0);
        // Each request reached nginx once: nothing processed was sent again.
        std::map<std::string, int> served;
        std::map<long long, int> per_connection;
        for (const auto& e : nginx.entries()) {
            CHECK(e.protocol == "HTTP/2.0");
            CHECK(e.status == 200);
            ++served[e.uri];
            ++per_connection[e.connection];
        }
        CHECK(served.size() == f.asins.size());
        for (const auto& [uri, count] : served) {
            INFO(uri);
            CHECK(count == 1);
        }
        for (const auto& [connection, count] : per_connection) {
            CHECK(count <= keepalive);
        }
    }
}

TEST_CASE("http2: h2c with prior knowledge against nghttpd allowing one stream at a time",
          "[integration][h2]") {
    h2_fixture f(80);
    const int port = free_port();
    const auto log = f.tmp / "nghttpd.log";
    server_process nghttpd({"/usr/sbin/nghttpd", "--no-tls", "-a", "127.0.0.1", "-d",
                            f.site.string(), "--max-concurrent-streams=1", std::to_string(port)},
                           log);
    wait_accepting(port, nghttpd, log);
    const std::string base = "http://127.0.0.1:" + std::to_string(port);

    auto r = f.run("h2c", f.yaml(base, "2"));
    INFO(describe(r.process));
    REQUIRE(r.process.exit_code == 0);
    f.check_each_once(r);
    CHECK(r.errors.empty());

    process_result fetched;
    auto summary = fetch_json({"--set", "http.version=2"},
                              base + "/api/products/" + f.asins[0] + ".json", fetched);
    INFO(describe(fetched));
    CHECK(fetched.exit_code == 0);
    CHECK(summary.at("protocol") == json::value("h2"));
    CHECK(summary.at("status") == json::value(200));
}

TEST_CASE("http2: harvest fetch reports the protocol; resets and a missing h2 are errors",
          "[integration][h2]") {
    h2_fixture f(3);
    h2_nginx nginx(f.site, f.tmp / "nginx", f.pki);
    const std::string ca = "http.tls.ca_file=" + fs::absolute(f.pki.ca_cert).string();
    const std::string no_robots = "engine.robots_txt=ignore";
    const std::string path = "/api/products/" + f.asins[0] + ".json";
    const std::string h2_base = "https://127.0.0.1:" + std::to_string(nginx.h2_port);
    const std::string h1_base = "https://127.0.0.1:" + std::to_string(nginx.h1_port);
    process_result p;

    auto s = fetch_json({"--set", ca}, h2_base + path, p);
    INFO(describe(p));
    CHECK(p.exit_code == 0);
    CHECK(s.at("protocol") == json::value("h2"));
    CHECK(s.at("status") == json::value(200));

    s = fetch_json({"--set", ca}, h1_base + path, p);  // ALPN: the server picks http/1.1
    CHECK(p.exit_code == 0);
    CHECK(s.at("protocol") == json::value("http/1.1"));

    s = fetch_json({"--set", ca, "--set", "http.version=1.1"}, h2_base + path, p);
    CHECK(p.exit_code == 0);
    CHECK(s.at("protocol") == json::value("http/1.1"));

    // http.version "2" with a server that does not offer h2: nginx ends the TLS handshake
    // (no_application_protocol alert) rather than fall back to HTTP/1.1.
    s = fetch_json({"--set", ca, "--set", "http.version=2", "--set", "retry.max_attempts=1",
                    "--set", no_robots},
                   h1_base + path, p);
    CHECK(p.exit_code == 1);
    CHECK(s.at("error") == json::value("tls_handshake"));

    // nginx answers 444 over HTTP/2 with RST_STREAM(PROTOCOL_ERROR): error protocol (the
    // unit tests map the other codes).
    s = fetch_json({"--set", ca, "--set", "retry.max_attempts=1", "--set", no_robots},
                   h2_base + "/reset", p);
    CHECK(p.exit_code == 1);
    CHECK(s.at("error") == json::value("protocol"));

    // A bad version value is a config error at its key.
    write_file(f.tmp / "bad.yaml", "name: bad\nseeds: [\"" + h2_base +
                                       "/\"]\nhttp:\n  version: \"3\"\n"
                                       "outputs:\n  - {type: jsonl, path: out.jsonl}\n");
    auto check = run_process({harvest_binary().string(), "check", (f.tmp / "bad.yaml").string()});
    INFO(describe(check));
    CHECK(check.exit_code == 2);
    CHECK(check.err.find("bad.yaml:4:12: 'http.version' must be one of") != std::string::npos);
}
