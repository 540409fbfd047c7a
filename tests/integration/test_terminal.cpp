// Harvest's terminal behaviour and the agreement of its figures: the progress line under a real
// pseudo-terminal (util-linux `script`), JSON log lines, and --stats-json against the last
// /metrics scrape of the same run.
//
// POSIX only, no Asio (the integration binary has none): a blocking socket scrapes /metrics.

#include "tests/integration/observability.hpp"
#include "tests/integration/support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <thread>

namespace {

using namespace harvest::test;
namespace json = boost::json;
using namespace std::chrono_literals;

constexpr std::string_view redraw = "\r\033[K";

std::size_t count_of(std::string_view text, std::string_view what) {
    std::size_t n = 0;
    for (auto pos = text.find(what); pos != std::string_view::npos;
         pos = text.find(what, pos + what.size())) {
        ++n;
    }
    return n;
}

// A catalog on nginx and a crawl config over its first `products` product URLs (after `extra`
// URLs), rate-limited per host so that the run lasts as long as the test needs.
struct terminal_site {
    explicit terminal_site(int products) : tmp("harvest-terminal") {
        generate_catalog(tmp / "site", {.products = products, .seed = 3, .gzip_fraction = 0.2});
        nginx_options options;
        options.site = tmp / "site";
        options.run_dir = tmp / "nginx";
        nginx = std::make_unique<nginx_server>(options);
        paths = read_lines(tmp / "site" / "urls-json.txt");
    }

    // Writes urls.txt (extra first, then the products) and cfg.yaml; returns cfg.yaml's path.
    fs::path write_config(const std::string& name, std::size_t products, double per_second,
                          const std::string& extra_urls = "", const std::string& extra_yaml = "",
                          const std::string& timeouts =
                              "{connect: 5s, tls: 5s, response_headers: 15s, idle_read: 15s, "
                              "total: 30s}") {
        std::string urls = extra_urls;
        for (std::size_t i = 0; i < paths.size() && i < products; ++i) {
            urls += nginx->base_url() + paths[i] + "\n";
        }
        write_file(tmp / "urls.txt", urls);
        std::ostringstream rate;
        rate << per_second;
        write_file(tmp / "cfg.yaml",
                   "name: " + name + "\n" +
                       "seeds:\n  - urls_file: urls.txt\n"
                       "engine:\n  concurrency: 32\n  per_host_concurrency: 16\n  threads: 2\n"
                       "  robots_txt: ignore\n"
                       "http:\n  timeouts: " +
                       timeouts +
                       "\n"
                       "rate_limit:\n  per_second: " +
                       rate.str() +
                       "\n  burst: 1\n"
                       "retry:\n  max_attempts: 1\n"
                       "extract:\n  - match: \"/api/products/\"\n    type: json\n"
                       "    fields: {id: /asin, price: /price}\n    required: [id]\n"
                       "outputs:\n  - type: jsonl\n    path: out/items.jsonl\n" +
                       extra_yaml);
        return tmp / "cfg.yaml";
    }

    temp_dir tmp;
    std::unique_ptr<nginx_server> nginx;
    std::vector<std::string> paths;
};

// Single-quotes for sh -c.
std::string sh_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return out + "'";
}

bool have_script() {
    return run_process({"sh", "-c", "command -v script"}, 10s).exit_code == 0;
}

// Runs the command with stdin, stdout and stderr on a fresh pty; returns what the pty showed.
process_result run_under_pty(const std::vector<std::string>& argv) {
    std::string command;
    for (const auto& a : argv) {
        command += (command.empty() ? "" : " ") + sh_quote(a);
    }
    // -e: script's exit status is the command's.
    return run_process({"script", "-q", "-e", "-c", command, "/dev/null"}, 60s);
}

// GET /metrics (observability.hpp's blocking client, 3 s timeouts): the body, or nullopt on no
// answer other than 200.
std::optional<std::string> terminal_scrape(int port) {
    auto reply = harvest::test::observability::http_get(port, "/metrics");
    if (reply.status != 200) {
        return std::nullopt;
    }
    return std::move(reply.body);
}

// One sample of a Prometheus text exposition.
struct metric_sample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

std::vector<metric_sample> parse_exposition(const std::string& body) {
    static const std::regex line_re(R"re(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$)re");
    static const std::regex label_re(R"re(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)")re");
    std::vector<metric_sample> out;
    std::istringstream lines(body);
    std::string line;
    while (std::getline(lines, line)) {
        std::smatch m;
        if (line.empty() || line[0] == '#' || !std::regex_match(line, m, line_re)) {
            continue;
        }
        metric_sample s;
        s.name = m[1];
        const std::string labels = m[3];
        for (std::sregex_iterator it(labels.begin(), labels.end(), label_re), end; it != end;
             ++it) {
            s.labels[(*it)[1]] = (*it)[2];
        }
        s.value = std::stod(m[4]);
        out.push_back(std::move(s));
    }
    return out;
}

// Sum of `name` over the samples whose labels include all of `where`.
double sum_of(const std::vector<metric_sample>& samples, const std::string& name,
              const std::map<std::string, std::string>& where = {}) {
    double total = 0;
    for (const auto& s : samples) {
        if (s.name != name) {
            continue;
        }
        bool match = true;
        for (const auto& [k, v] : where) {
            auto it = s.labels.find(k);
            match = match && it != s.labels.end() && it->second == v;
        }
        if (match) {
            total += s.value;
        }
    }
    return total;
}

// Sum of `name` by the value of `label`.
std::map<std::string, double> by_label(const std::vector<metric_sample>& samples,
                                       const std::string& name, const std::string& label) {
    std::map<std::string, double> out;
    for (const auto& s : samples) {
        auto it = s.labels.find(label);
        if (s.name == name && it != s.labels.end()) {
            out[it->second] += s.value;
        }
    }
    return out;
}

std::map<std::string, double> json_counts(const json::object& obj) {
    std::map<std::string, double> out;
    for (const auto& [k, v] : obj) {
        out[std::string(k)] = static_cast<double>(json_int(v));
    }
    return out;
}

// A socket that listens on 127.0.0.1 but never accepts nor answers: the kernel completes the
// handshake, the request goes into the void and harvest's response_headers timeout fires.
class silent_listener {
  public:
    silent_listener() {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(fd_, 16) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
            throw std::runtime_error("silent_listener: cannot listen on 127.0.0.1");
        }
        port_ = ntohs(addr.sin_port);
    }
    ~silent_listener() { ::close(fd_); }
    silent_listener(const silent_listener&) = delete;
    silent_listener& operator=(const silent_listener&) = delete;
    int port() const { return port_; }

  private:
    int fd_ = -1;
    int port_ = 0;
};

}  // namespace

TEST_CASE("terminal: the progress line redraws under a pty and ends before the summary",
          "[integration]") {
    if (!have_script()) {
        WARN("util-linux `script` is not installed: no pty test");
        return;
    }
    terminal_site site(2000);
    // 2,000 products at 800/s on one host: about 2.5 s.
    const auto cfg = site.write_config("ptyrun", 2000, 800);

    SECTION("--progress auto on a terminal draws it") {
        auto r =
            run_under_pty({harvest_binary().string(), "run", cfg.string(), "--progress", "auto"});
        INFO(describe(r));
        REQUIRE(r.exit_code == 0);
        const std::string& tty = r.out;  // the pty carries stdout and stderr alike

        const std::size_t redraws = count_of(tty, redraw);
        std::smatch m;
        static const std::regex finished(R"re(crawl ptyrun finished in ([0-9.]+) s)re");
        REQUIRE(std::regex_search(tty, m, finished));
        const double elapsed = std::stod(m[1]);
        INFO("redraws " << redraws << " in " << elapsed << " s");
        CHECK(elapsed > 1.0);  // the rate limit did hold the run up
        CHECK(redraws >= 3);
        // At most 4 a second (the timer ticks every 250 ms), +1 for a tick at the very end.
        CHECK(static_cast<double>(redraws) <= 4 * elapsed + 1);

        // Every redraw shows the rate and the items.
        std::size_t pos = 0;
        std::size_t checked = 0;
        while ((pos = tty.find(redraw, pos)) != std::string::npos && checked < 1000) {
            pos += redraw.size();
            const auto end = tty.find_first_of("\r\n", pos);
            const std::string line = tty.substr(pos, end - pos);
            CHECK(line.find("req/s") != std::string::npos);
            CHECK(line.find("items") != std::string::npos);
            ++checked;
        }

        // The last progress line is ended by a newline, and the summary follows on its own
        // lines (the pty turns "\n" into "\r\n").
        const auto last = tty.rfind(redraw);
        const auto summary = tty.find("crawl ptyrun finished in");
        REQUIRE(last != std::string::npos);
        REQUIRE(summary > last);
        const std::string between = tty.substr(last, summary - last);
        CHECK(between.find('\n') != std::string::npos);
        CHECK(tty[summary - 1] == '\n');
        CHECK(tty.find(redraw, summary) == std::string::npos);
        const auto requests_line = tty.find("\n  requests ", summary);
        REQUIRE(requests_line != std::string::npos);
        CHECK(tty.find("(", requests_line) != std::string::npos);
        CHECK(tty.find("responses {200: 2000}", requests_line) != std::string::npos);
    }

    SECTION("--progress never on a terminal draws nothing") {
        auto r =
            run_under_pty({harvest_binary().string(), "run", cfg.string(), "--progress", "never"});
        INFO(describe(r));
        REQUIRE(r.exit_code == 0);
        CHECK(r.out.find("crawl ptyrun finished in") != std::string::npos);
        CHECK(count_of(r.out, redraw) == 0);
        CHECK(r.out.find("\033[") == std::string::npos);
    }
}

TEST_CASE("terminal: --log-format json writes each log line as a JSON object", "[integration]") {
    terminal_site site(50);
    const int metrics_port = free_port();
    const auto cfg = site.write_config(
        "jsonlog", 50, 0, "",
        "metrics:\n  listen: \"127.0.0.1:" + std::to_string(metrics_port) + "\"\n  linger: 0\n");
    auto r = run_process({harvest_binary().string(), "run", cfg.string(), "--log-format", "json",
                          "--progress", "never"},
                         60s);
    INFO(describe(r));
    REQUIRE(r.exit_code == 0);
    std::istringstream lines(r.err);
    std::string line;
    int log_lines = 0;
    bool saw_metrics_line = false;
    while (std::getline(lines, line)) {
        if (line.empty() || line[0] != '{') {
            continue;  // the summary is not a log line
        }
        INFO("line: " << line);
        ++log_lines;
        boost::system::error_code ec;
        auto v = json::parse(line, ec);
        REQUIRE_FALSE(ec);
        REQUIRE(v.is_object());
        const auto& obj = v.as_object();
        for (const char* key : {"time", "level", "message"}) {
            REQUIRE(obj.contains(key));
            CHECK(obj.at(key).is_string());
        }
        CHECK(std::regex_match(std::string(obj.at("time").as_string()),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
        const std::string message(obj.at("message").as_string());
        if (message.find("metrics on http://127.0.0.1:" + std::to_string(metrics_port)) !=
            std::string::npos) {
            saw_metrics_line = true;
            CHECK(obj.at("level").as_string() == "info");
        }
    }
    CHECK(log_lines >= 1);
    CHECK(saw_metrics_line);
    CHECK(r.err.find("crawl jsonlog finished in") != std::string::npos);
}

// The design: the run's last seconds send nothing. One URL goes to a listener that never answers
// (response_headers timeout 6 s, one attempt: room for a sanitizer build) and is sent first; the
// nginx part (20 404s and 300 products at 400/s, under 1 s) ends long before it. /metrics is
// polled every 100 ms; the last scrape that still shows the silent request in flight therefore
// saw every nginx request complete and the silent one sent but unanswered (a scrape during the
// drain, after its timeout, is not used). So stats.json must equal that scrape exactly, except
// for the silent request's own outcome (one timeout error and failure), which only the end can
// see. The test checks that premise (the scrape holds all 320 nginx responses) instead of
// assuming it.
TEST_CASE("terminal: --stats-json agrees with the last /metrics scrape", "[integration]") {
    terminal_site site(300);
    silent_listener silent;
    const int metrics_port = free_port();
    const std::string silent_host = "127.0.0.1:" + std::to_string(silent.port());
    const std::string nginx_host = "127.0.0.1:" + std::to_string(site.nginx->port());
    std::string extra = "http://" + silent_host + "/never\n";
    constexpr int missing = 20;
    for (int i = 0; i < missing; ++i) {
        extra += site.nginx->base_url() + "/api/products/MISSING" + std::to_string(i) + ".json\n";
    }
    const auto cfg = site.write_config(
        "agree", 300, 400, extra,
        "metrics:\n  listen: \"127.0.0.1:" + std::to_string(metrics_port) + "\"\n  linger: 0\n",
        "{connect: 2s, tls: 2s, response_headers: 6s, idle_read: 6s, total: 8s}");

    process_result result;
    std::atomic<bool> done{false};
    std::thread crawl([&] {
        result = run_process({harvest_binary().string(), "run", cfg.string(), "--stats-json",
                              (site.tmp / "stats.json").string(), "--progress", "never"},
                             60s);
        done = true;
    });
    std::optional<std::string> last;
    int scrapes = 0;
    for (int i = 0; i < 600 && !done; ++i) {  // 60 s at most
        if (auto body = terminal_scrape(metrics_port)) {
            ++scrapes;
            // Kept while the silent request is still the one in flight: the endpoint also
            // serves while the run drains, after that request timed out, and such a scrape
            // already holds its outcome. Its counters move when the scheduler takes the
            // outcome, the in-flight gauge at the next publish (at most 100 ms later): a scrape
            // in between shows one request in flight and its timeout both (seen under ASan).
            const auto samples = parse_exposition(*body);
            if (sum_of(samples, "harvest_inflight_requests") == 1 &&
                sum_of(samples, "harvest_request_errors_total") == 0) {
                last = std::move(body);
            }
        }
        std::this_thread::sleep_for(100ms);
    }
    crawl.join();
    INFO(describe(result));
    REQUIRE(result.exit_code == 0);
    REQUIRE(last.has_value());
    INFO("scrapes: " << scrapes << "; last:\n" << last->substr(0, 6000));
    const auto samples = parse_exposition(*last);
    const auto stats = json::parse(read_file(site.tmp / "stats.json")).as_object();
    INFO("stats.json: " << json::serialize(stats));

    // The premise: the last scrape with only one request in flight came after every nginx
    // request had completed. The gauges are published at most 10 times a second, and the
    // scheduler wakes up to do it in a quiet tail too; were they stale, no scrape would show
    // all 320 responses with one request in flight.
    REQUIRE(sum_of(samples, "harvest_responses_total", {{"host", nginx_host}}) == 300 + missing);
    REQUIRE(sum_of(samples, "harvest_requests_total", {{"host", silent_host}}) == 1);

    // Requests are counted when sent: all of them, the silent one included.
    CHECK(sum_of(samples, "harvest_requests_total") == json_int(stats.at("requests")));
    CHECK(json_int(stats.at("requests")) == 300 + missing + 1);
    // Responses by code, exactly.
    const auto responses = by_label(samples, "harvest_responses_total", "code");
    CHECK(responses == json_counts(stats.at("responses").as_object()));
    CHECK(responses == std::map<std::string, double>{{"200", 300}, {"404", missing}});
    // The series a host gets at 0 (metrics.md, "Series that exist from the start") are there
    // for every documented kind; stats.json lists only what happened.
    const auto happened = [](std::map<std::string, double> counts) {
        std::erase_if(counts, [](const auto& kind_count) { return kind_count.second == 0; });
        return counts;
    };
    CHECK(by_label(samples, "harvest_failures_total", "kind").size() == 18);
    CHECK(by_label(samples, "harvest_failures_total", "kind").at("status_5xx") == 0);
    // Failures by kind: the scrape's, plus the silent request's timeout.
    auto failures = happened(by_label(samples, "harvest_failures_total", "kind"));
    CHECK(failures == std::map<std::string, double>{{"status_4xx", missing}});
    failures["timeout"] += 1;
    CHECK(failures == json_counts(stats.at("failed").as_object()));
    // Errors: none at the scrape, the one timeout at the end.
    auto errors = happened(by_label(samples, "harvest_request_errors_total", "kind"));
    CHECK(errors.empty());
    CHECK(json_counts(stats.at("request_errors").as_object()) ==
          std::map<std::string, double>{{"timeout", 1}});
    CHECK(sum_of(samples, "harvest_retries_total") == json_int(stats.at("retries")));
    CHECK(json_int(stats.at("retries")) == 0);
    // Items and body bytes.
    const auto& items = stats.at("items").as_object();
    CHECK(sum_of(samples, "harvest_items_total", {{"outcome", "emitted"}}) ==
          json_int(items.at("emitted")));
    CHECK(json_int(items.at("emitted")) == 300);
    CHECK(sum_of(samples, "harvest_items_total", {{"outcome", "invalid"}}) ==
          json_int(items.at("invalid")));
    CHECK(sum_of(samples, "harvest_response_bytes_total") == json_int(stats.at("bytes_received")));
    CHECK(json_int(stats.at("bytes_received")) > 0);
    CHECK(sum_of(samples, "harvest_circuit_short_circuits_total") ==
          json_int(stats.at("breaker").as_object().at("short_circuited")));
}
