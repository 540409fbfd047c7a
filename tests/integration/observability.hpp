#pragma once
// What the observability tests share: docs/metrics.md parsed into metric specs, a blocking HTTP
// GET for /metrics, a real Prometheus (the Debian package) scraping one target, and the
// dashboard's queries as Grafana would send them. Used by test_observability.cpp (a faulty
// crawl), test_redis_outage.cpp (a distributed crawl's workers) and test_proxies.cpp (a
// proxied crawl).
//
// POSIX only, no Asio (the integration binary has none).

#include "tests/integration/support.hpp"

#include <boost/json.hpp>

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
#include <cstdio>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace harvest::test::observability {

namespace json = boost::json;
using namespace std::chrono_literals;

// The contract: docs/metrics.md, parsed.

struct metric_spec {
    std::string name;
    std::string type;              // counter, gauge, histogram
    std::set<std::string> labels;  // crawl included
};

// The part of metrics.md: the metrics of every crawl, or those only the workers of a distributed
// crawl serve (its section "Workers of a distributed crawl").
enum class metric_section { every_crawl, distributed_workers, proxy_crawls };

// The dashboard's row of the distributed workers' metrics (checked against such a crawl).
inline constexpr const char* distributed_row = "Distributed crawl (Redis)";
// The dashboard's row of the metrics of crawls with proxies.
inline constexpr const char* proxy_row = "Proxies";

inline std::vector<metric_spec> load_metric_specs(
    metric_section section = metric_section::every_crawl) {
    std::string text = read_file(source_dir() / "docs" / "metrics.md");
    // Each section ends at the next heading (a later one, such as rendering, is neither's).
    const auto section_text = [&text](std::string_view heading) {
        const auto start = text.find(heading);
        if (start == std::string::npos) {
            return std::string();
        }
        const auto next = text.find("\n## ", start + 1);
        return text.substr(start, next == std::string::npos ? std::string::npos : next - start);
    };
    if (section == metric_section::every_crawl) {
        text = text.substr(0, text.find("\n## "));
    } else if (section == metric_section::distributed_workers) {
        text = section_text("\n## Workers of a distributed crawl");
    } else {
        text = section_text("\n## Crawls with proxies");
    }
    std::vector<metric_spec> specs;
    std::istringstream lines(text);
    std::string line;
    const std::regex row(R"(^\| `([a-z_]+)` \| (counter|gauge|histogram) \| ([a-z_, ]*) \|)");
    const std::regex word(R"([a-z_]+)");
    while (std::getline(lines, line)) {
        std::smatch m;
        if (std::regex_search(line, m, row)) {
            metric_spec spec{m[1], m[2], {"crawl"}};
            const std::string labels = m[3];
            for (auto it = std::sregex_iterator(labels.begin(), labels.end(), word);
                 it != std::sregex_iterator(); ++it) {
                spec.labels.insert(it->str());
            }
            specs.push_back(spec);
        }
    }
    // "Plus the standard process metrics ...: `process_cpu_seconds_total`, ..."
    const std::regex process(R"(`(process_[a-z_]+)`)");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), process);
         it != std::sregex_iterator(); ++it) {
        const std::string name = (*it)[1];
        specs.push_back({name, name.ends_with("_total") ? "counter" : "gauge", {"crawl"}});
    }
    return specs;
}

// ---------------------------------------------------------------------------------------------
// HTTP over a blocking socket (3 s timeouts): enough for /metrics and Prometheus' /-/ready.

struct http_reply {
    int status = -1;  // -1: no answer
    std::string content_type;
    std::string body;
};

inline http_reply http_get(int port, const std::string& target) {
    http_reply reply;
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return reply;
    }
    timeval tv{3, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string response;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        const std::string request = "GET " + target +
                                    " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                                    "\r\nConnection: close\r\n\r\n";
        if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size())) {
            char buffer[16384];
            // Bounded: the server closes after answering (Connection: close); 64 MiB at most.
            for (int reads = 0; reads < 4096; ++reads) {
                const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
                if (n <= 0) {
                    break;
                }
                response.append(buffer, static_cast<std::size_t>(n));
            }
        }
    }
    ::close(fd);
    const auto head_end = response.find("\r\n\r\n");
    if (head_end == std::string::npos || response.compare(0, 5, "HTTP/") != 0) {
        return reply;
    }
    reply.status = std::atoi(response.c_str() + 9);
    reply.body = response.substr(head_end + 4);
    std::istringstream head(response.substr(0, head_end));
    std::string line;
    while (std::getline(head, line)) {
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        const auto colon = line.find(':');
        if (colon == std::string::npos) {
            continue;
        }
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (name == "content-type") {
            reply.content_type = line.substr(line.find_first_not_of(' ', colon + 1));
        }
    }
    return reply;
}

// `promtool check metrics` on one scrape (written to dir/scrape-N.txt): it reads stdin only.
inline process_result promtool_check_metrics(const fs::path& dir, const std::string& body, int n) {
    const fs::path file = dir / ("scrape-" + std::to_string(n) + ".txt");
    write_file(file, body);
    return run_process({"sh", "-c", "exec promtool check metrics < \"$0\"", file.string()},
                       std::chrono::seconds(30));
}

class prometheus_server {
  public:
    prometheus_server(const fs::path& dir, int target_port) : dir_(dir) {
        fs::create_directories(dir_ / "data");
        write_file(dir_ / "prometheus.yml",
                   "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                   "scrape_configs:\n  - job_name: harvest\n    scrape_interval: 1s\n"
                   "    scrape_timeout: 1s\n    static_configs:\n      - targets: "
                   "[\"127.0.0.1:" +
                       std::to_string(target_port) + "\"]\n");
        // Bounded: a port taken between free_port() and Prometheus' bind means another try.
        for (int attempt = 0; attempt < 3 && port_ == 0; ++attempt) {
            const int port = free_port();
            if (launch(port) && wait_ready(port)) {
                port_ = port;
            } else {
                stop();
            }
        }
        if (port_ == 0) {
            throw std::runtime_error("prometheus did not become ready: " +
                                     read_file(dir_ / "prometheus.log"));
        }
    }
    ~prometheus_server() { stop(); }
    prometheus_server(const prometheus_server&) = delete;
    prometheus_server& operator=(const prometheus_server&) = delete;

    int port() const { return port_; }

    // Waits (at most 20 s) until Prometheus has tried to scrape its target once: its target
    // discovery applies the config only about 5 s after start, well after /-/ready.
    bool wait_first_scrape() const {
        for (int i = 0; i < 100; ++i) {
            const auto targets = api("targets", {{"state", "active"}});
            for (const auto& t : targets.as_object().at("activeTargets").as_array()) {
                if (t.as_object().at("health").as_string() != "unknown") {
                    return true;
                }
            }
            std::this_thread::sleep_for(200ms);
        }
        return false;
    }

    // GET /api/v1/<path> with url-encoded parameters, through curl; the parsed "data" member.
    json::value api(const std::string& path,
                    const std::vector<std::pair<std::string, std::string>>& params) const {
        std::vector<std::string> argv{"curl", "-sS", "--max-time", "10", "--get"};
        for (const auto& [name, value] : params) {
            argv.push_back("--data-urlencode");
            argv.push_back(name + "=" + value);
        }
        argv.push_back("http://127.0.0.1:" + std::to_string(port_) + "/api/v1/" + path);
        const auto r = run_process(argv, std::chrono::seconds(15));
        if (r.exit_code != 0) {
            throw std::runtime_error("curl " + path + " failed: " + r.err);
        }
        auto doc = json::parse(r.out);
        const auto& obj = doc.as_object();
        if (obj.at("status").as_string() != "success") {
            throw std::runtime_error("prometheus " + path + ": " + r.out);
        }
        return obj.at("data");
    }

    // An instant query at `at` (seconds since the epoch): the result vector.
    json::array query(const std::string& expr, double at) const {
        return api("query", {{"query", expr}, {"time", fixed(at)}})
            .as_object()
            .at("result")
            .as_array();
    }

    // A range query: the result matrix.
    json::array query_range(const std::string& expr, double start, double end,
                            double step = 1.0) const {
        return api("query_range", {{"query", expr},
                                   {"start", fixed(start)},
                                   {"end", fixed(end)},
                                   {"step", fixed(step)}})
            .as_object()
            .at("result")
            .as_array();
    }

    void stop() {
        if (pid_ <= 0) {
            return;
        }
        ::kill(pid_, SIGTERM);
        int status = 0;
        bool reaped = false;
        for (int i = 0; i < 500 && !reaped; ++i) {
            reaped = ::waitpid(pid_, &status, WNOHANG) == pid_;
            if (!reaped) {
                std::this_thread::sleep_for(10ms);
            }
        }
        if (!reaped) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
        }
        pid_ = -1;
    }

  private:
    static std::string fixed(double v) {
        char buffer[64];
        std::snprintf(buffer, sizeof buffer, "%.3f", v);
        return buffer;
    }

    bool launch(int port) {
        std::vector<std::string> args{
            "/usr/bin/prometheus", "--config.file=" + (dir_ / "prometheus.yml").string(),
            "--storage.tsdb.path=" + (dir_ / "data").string(),
            "--web.listen-address=127.0.0.1:" + std::to_string(port), "--log.level=warn"};
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        const std::string log = (dir_ / "prometheus.log").string();
        std::fflush(nullptr);
        pid_ = ::fork();
        if (pid_ < 0) {
            throw std::runtime_error("fork failed");
        }
        if (pid_ == 0) {
            ::setpgid(0, 0);
            const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (out >= 0) {
                ::dup2(out, 1);
                ::dup2(out, 2);
            }
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        return true;
    }

    bool wait_ready(int port) {
        // Prometheus 2.42 takes about 6 s here; 30 s bound.
        for (int i = 0; i < 300; ++i) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return false;
            }
            if (port_accepts(port) && http_get(port, "/-/ready").status == 200) {
                return true;
            }
            std::this_thread::sleep_for(100ms);
        }
        return false;
    }

    fs::path dir_;
    int pid_ = -1;
    int port_ = 0;
};

// ---------------------------------------------------------------------------------------------
inline double now_seconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// ---------------------------------------------------------------------------------------------
// The dashboard.

struct dashboard_query {
    std::string panel;
    std::string ref_id;
    std::string expr;
    std::string row;  // the title of the row the panel is in ("" before the first row)
};

// A row's panels follow it in `panels` (or sit in its own `panels` while it is collapsed).
inline void collect_queries(const json::array& panels, std::vector<dashboard_query>& out,
                            std::vector<std::string>& problems, std::string row = "") {
    for (const auto& v : panels) {
        const auto& panel = v.as_object();
        const std::string title(panel.at("title").as_string());
        if (panel.at("type").as_string() == "row") {
            row = title;
            if (const auto* nested = panel.if_contains("panels")) {
                collect_queries(nested->as_array(), out, problems, row);
            }
            continue;
        }
        const auto* targets = panel.if_contains("targets");
        if (targets == nullptr || targets->as_array().empty()) {
            problems.push_back("panel \"" + title + "\" has no query");
            continue;
        }
        for (const auto& t : targets->as_array()) {
            const auto& target = t.as_object();
            const auto* ds = target.if_contains("datasource");
            if (ds == nullptr || ds->as_object().at("uid").as_string() != "${datasource}") {
                problems.push_back("panel \"" + title + "\": a target not on ${datasource}");
            }
            out.push_back({title, std::string(target.at("refId").as_string()),
                           std::string(target.at("expr").as_string()), row});
        }
    }
}

inline json::object load_dashboard() {
    return json::parse(read_file(source_dir() / "deploy" / "grafana" / "harvest-dashboard.json"))
        .as_object();
}

inline std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
        s.replace(pos, from.size(), to);
    }
    return s;
}

// Grafana's variables, as Grafana would expand them for this test's crawl (1 s scrapes).
inline std::string expand(const std::string& expr, const std::string& crawl) {
    std::string out = replace_all(expr, "$__rate_interval", "5s");
    out = replace_all(out, "$__interval", "2s");
    out = replace_all(out, "$__range", "60s");
    out = replace_all(out, "$crawl", crawl);
    out = replace_all(out, "$host", ".*");
    return out;
}

}  // namespace harvest::test::observability
