#pragma once
// `harvest serve` for the bulk-service tests: the service as a child process in its own process
// group, its config, and one API request through curl (a real, independent HTTP client). Used by
// test_serve.cpp, test_serve_tenants.cpp, test_render_serve.cpp and test_proxies.cpp.

#include "tests/integration/support.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace harvest::test {

// A service config, written by write_serve_config: the API on 127.0.0.1:`port`, its keys in
// keys.txt and the jobs in jobs.db beside serve.yaml. Each text is YAML, every line ending in a
// newline; the keys stand in the file in this order.
struct serve_config {
    int port = 0;
    std::string keys = "key-alpha\n";  // keys.txt, one key a line
    std::string top;                   // top-level keys before `profiles:`
    std::string profiles;              // the entries of `profiles:`, indented two spaces
    std::string after;                 // top-level keys after the profiles (templates, webhook)
    std::string allow;                 // egress.allow's entries (egress denies private addresses)
    std::optional<int> metrics_port;   // /metrics on 127.0.0.1 when given
};

// Writes `dir`/serve.yaml and `dir`/keys.txt from `config`; serve.yaml's first lines are
// listen, api_keys_file and jobs_db, then `top` (tests name a line of it by number).
inline void write_serve_config(const temp_dir& dir, const serve_config& config) {
    write_file(dir / "keys.txt", config.keys);
    std::string yaml = "listen: 127.0.0.1:" + std::to_string(config.port) +
                       "\n"
                       "api_keys_file: keys.txt\n"
                       "jobs_db: jobs.db\n" +
                       config.top + "profiles:\n" + config.profiles + config.after +
                       "egress: {deny_private: true, allow: [" + config.allow + "]}\n";
    if (config.metrics_port) {
        yaml += "metrics: {listen: 127.0.0.1:" + std::to_string(*config.metrics_port) + "}\n";
    }
    write_file(dir / "serve.yaml", yaml);
}

// `harvest serve --config FILE`, started by the constructor (ready when it listens on `port`)
// and killed with SIGKILL by the destructor. HARVEST_SERVE_BINARY runs the tests against another
// build (an older one, to see them fail there).
class serve_process {
  public:
    serve_process(fs::path config, fs::path log, int port)
        : config_(std::move(config)), log_(std::move(log)), port_(port) {
        start();
    }
    ~serve_process() { kill(SIGKILL); }
    serve_process(const serve_process&) = delete;
    serve_process& operator=(const serve_process&) = delete;

    // Starts the service (again, after kill); throws when it exits at start or does not listen
    // within 30 s.
    void start() {
        std::fflush(nullptr);
        pid_ = ::fork();
        if (pid_ == 0) {
            ::setpgid(0, 0);
            const int out = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            ::dup2(out, 1);
            ::dup2(out, 2);
            const char* other = std::getenv("HARVEST_SERVE_BINARY");
            const std::string binary =
                other != nullptr && *other != '\0' ? other : harvest_binary().string();
            const std::string config = config_.string();
            ::execl(binary.c_str(), binary.c_str(), "serve", "--config", config.c_str(),
                    static_cast<char*>(nullptr));
            ::_exit(127);
        }
        // Bounded by time, not by tries: a sanitized build starting beside a loaded test run
        // once took more than 5 s to listen (a restart right after kill -9).
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (std::chrono::steady_clock::now() < give_up) {
            if (port_accepts(port_)) {
                return;
            }
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                throw std::runtime_error("harvest serve exited at start: " + read_file(log_));
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        throw std::runtime_error("harvest serve did not listen within 30 s; its log: " +
                                 read_file(log_));
    }

    // Sends `signal` and returns at once (SIGHUP: a reload).
    void signal(int signal) const {
        if (pid_ > 0) {
            ::kill(pid_, signal);
        }
    }

    // Sends `signal` and waits (at most 10 s) for the process to end; its exit status. A stop
    // asked for with SIGTERM or SIGINT that does not end with 0 prints the end of the service's
    // log to stderr (a sanitizer's report goes there), so the failing test shows why.
    int kill(int signal) {
        if (pid_ <= 0) {
            return -1;
        }
        ::kill(pid_, signal);
        int status = 0;
        int result = -1;
        for (int i = 0; i < 1000 && result == -1; ++i) {
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                result = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            } else {
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
        }
        if (result == -1) {
            ::kill(-pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
        }
        pid_ = -1;
        if (result != 0 && (signal == SIGTERM || signal == SIGINT)) {
            // From a sanitizer's first report when there is one, else the log's end.
            const std::string log = read_file(log_);
            const std::size_t report = std::min(log.find("==ERROR"), log.find("runtime error"));
            const std::size_t limit = 24576;
            const std::size_t from = report != std::string::npos ? report
                                     : log.size() > limit        ? log.size() - limit
                                                                 : 0;
            std::fprintf(stderr, "harvest serve ended with %d after signal %d; its log:\n%s\n",
                         result, signal, log.substr(from, limit).c_str());
        }
        return result;
    }

  private:
    fs::path config_;
    fs::path log_;
    int port_;
    pid_t pid_ = -1;
};

struct http_answer {
    int status = 0;  // 0: no answer
    std::string body;
    std::string headers;
    double seconds = 0;
};

// One request with curl, at most 30 s: `key` as a Bearer token (none when empty), `body` as
// JSON. Its files in `tmp` are numbered, so concurrent calls do not share them.
inline http_answer curl(const temp_dir& tmp, const std::string& method, const std::string& url,
                        const std::string& key, const std::string& body = {},
                        const std::vector<std::string>& extra_headers = {}) {
    static std::atomic<int> serial{0};
    const auto n = std::to_string(serial++);
    const auto body_file = tmp / ("curl" + n + ".body");
    const auto out_file = tmp / ("curl" + n + ".out");
    const auto headers_file = tmp / ("curl" + n + ".headers");
    std::vector<std::string> argv{"curl", "-s",
                                  "-X",   method,
                                  "-o",   out_file.string(),
                                  "-D",   headers_file.string(),
                                  "-w",   "%{http_code} %{time_total}"};
    if (!key.empty()) {
        argv.insert(argv.end(), {"-H", "Authorization: Bearer " + key});
    }
    for (const auto& h : extra_headers) {
        argv.insert(argv.end(), {"-H", h});
    }
    if (!body.empty()) {
        write_file(body_file, body);
        argv.insert(argv.end(), {"-H", "Content-Type: application/json", "--data-binary",
                                 "@" + body_file.string()});
    }
    argv.push_back(url);
    const auto result = run_process(argv, std::chrono::seconds(30));
    http_answer answer;
    std::istringstream(result.out) >> answer.status >> answer.seconds;
    answer.body = fs::exists(out_file) ? read_file(out_file) : "";
    answer.headers = fs::exists(headers_file) ? read_file(headers_file) : "";
    std::error_code ignored;
    fs::remove(out_file, ignored);
    fs::remove(headers_file, ignored);
    fs::remove(body_file, ignored);
    return answer;
}

}  // namespace harvest::test
