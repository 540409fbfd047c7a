#pragma once
// The chaos origin (tests/fixtures/chaos_origin) as the integration tests drive it: started as a
// child process on a free loopback port, its per-request log read back as arrivals, flipped
// between healthy and failing through its control endpoint, stopped by pid.
//
// Header-only and POSIX only (fork/exec, a blocking socket for the control GET): the
// integration binary has no Asio. Throws std::runtime_error when the fixture cannot start.

#include "tests/integration/support.hpp"

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
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#ifndef HARVEST_CHAOS_ORIGIN
#error "HARVEST_CHAOS_ORIGIN (path of the chaos_origin executable) must be defined"
#endif

namespace harvest::test {

// One request as the origin logged it on arrival.
struct arrival {
    double t = 0;  // seconds since the epoch: when the origin's kernel received the request
    std::string method;
    std::string path;
    std::string idempotency_key;  // empty when the request carried none
    int status = 0;               // what the origin answered; 0 = never answered (/hang)
    std::string retry_after;      // the Retry-After the origin sent, if any
};

// Over every window [t_i, t_j] of `sorted` (arrivals in time order), the most arrivals beyond
// rate * (t_j - t_i + jitter) + burst: positive when some window broke the rate, negative by how
// far every window stayed inside it.
inline double worst_window_excess(const std::vector<arrival>& sorted, double rate, double burst,
                                  double jitter) {
    double worst = -1e9;
    for (std::size_t i = 0; i < sorted.size(); ++i) {
        for (std::size_t j = i; j < sorted.size(); ++j) {
            const double allowed = rate * (sorted[j].t - sorted[i].t + jitter) + burst;
            worst = std::max(worst, static_cast<double>(j - i + 1) - allowed);
        }
    }
    return worst;
}

// GET http://127.0.0.1:port/path with a blocking socket (2 s timeouts); the response status,
// or -1 when there was no answer.
inline int http_get_status(int port, std::string_view path) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int status = -1;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        const std::string request = "GET " + std::string(path) +
                                    " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                                    "\r\nConnection: close\r\n\r\n";
        if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size())) {
            std::string response;
            char buffer[1024];
            // Bounded: the origin closes after answering; the receive timeout ends a stall.
            for (int reads = 0; reads < 64; ++reads) {
                const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
                if (n <= 0) {
                    break;
                }
                response.append(buffer, static_cast<std::size_t>(n));
            }
            // "HTTP/1.1 200 OK"
            if (response.size() >= 12 && response.compare(0, 5, "HTTP/") == 0) {
                status = std::atoi(response.c_str() + 9);
            }
        }
    }
    ::close(fd);
    return status;
}

// How a chaos origin starts.
struct chaos_options {
    std::string name = "origin";  // names its files under the directory: NAME.log, NAME.port, ...
    bool fail_all = false;        // start in fail-all mode (every request 503)
    std::string robots_txt;       // served at /robots.txt (200 text/plain); empty = none
    int robots_status = 0;        // /robots.txt answers this status, empty body; 0 = none
};

class chaos_origin {
  public:
    // Starts the origin with its log, port file and output under `dir` (created), named `name`.
    explicit chaos_origin(const fs::path& dir, const std::string& name = "origin",
                          bool fail_all = false)
        : chaos_origin(dir, chaos_options{name, fail_all, {}, 0}) {}

    chaos_origin(const fs::path& dir, const chaos_options& options)
        : log_(dir / (options.name + ".log")) {
        fs::create_directories(dir);
        const fs::path port_file = dir / (options.name + ".port");
        const fs::path output = dir / (options.name + ".out");
        fs::remove(port_file);
        std::vector<std::string> args{
            HARVEST_CHAOS_ORIGIN, "--port",          "0", "--log", log_.string(),
            "--port-file",        port_file.string()};
        if (options.fail_all) {
            args.emplace_back("--fail-all");
        }
        if (options.robots_status != 0) {
            args.emplace_back("--robots-status");
            args.push_back(std::to_string(options.robots_status));
        } else if (!options.robots_txt.empty()) {
            const fs::path robots = dir / (options.name + ".robots.txt");
            write_file(robots, options.robots_txt);
            args.emplace_back("--robots");
            args.push_back(robots.string());
        }
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        // Whatever stdio holds unwritten would otherwise be written by the child as well.
        std::fflush(nullptr);
        pid_ = ::fork();
        if (pid_ < 0) {
            throw std::runtime_error("chaos_origin: fork failed");
        }
        if (pid_ == 0) {
            ::setpgid(0, 0);
            const int out = ::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (out >= 0) {
                ::dup2(out, 1);
                ::dup2(out, 2);
            }
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        // Bounded wait for the port file (written whole, by rename).
        for (int i = 0; i < 500 && port_ == 0; ++i) {
            if (fs::exists(port_file)) {
                port_ = std::atoi(read_file(port_file).c_str());
                break;
            }
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                throw std::runtime_error("chaos_origin exited at start: " + read_file(output));
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        if (port_ == 0) {
            stop();
            throw std::runtime_error("chaos_origin did not report its port within 5 s");
        }
    }

    ~chaos_origin() { stop(); }
    chaos_origin(const chaos_origin&) = delete;
    chaos_origin& operator=(const chaos_origin&) = delete;

    int port() const { return port_; }
    std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
    std::string url(std::string_view path) const { return "http://" + host() + std::string(path); }
    const fs::path& log_path() const { return log_; }

    // Every logged request, in arrival order; control requests left out unless asked for.
    std::vector<arrival> arrivals(bool with_control = false) const {
        std::vector<arrival> out;
        for (const auto& line : read_jsonl(log_)) {
            arrival a;
            a.t = line.at("t").to_number<double>();
            a.method = std::string(line.at("method").as_string());
            a.path = std::string(line.at("path").as_string());
            if (auto* key = line.if_contains("idempotency_key")) {
                a.idempotency_key = std::string(key->as_string());
            }
            a.status = static_cast<int>(json_int(line.at("status")));
            if (auto* ra = line.if_contains("retry_after")) {
                a.retry_after = std::string(ra->as_string());
            }
            if (!with_control && a.path.rfind("/__control/", 0) == 0) {
                continue;
            }
            out.push_back(std::move(a));
        }
        std::stable_sort(out.begin(), out.end(),
                         [](const arrival& a, const arrival& b) { return a.t < b.t; });
        return out;
    }

    std::vector<arrival> arrivals_of(std::string_view path) const {
        std::vector<arrival> out;
        for (auto& a : arrivals()) {
            if (a.path == path) {
                out.push_back(std::move(a));
            }
        }
        return out;
    }

    // Flips the whole origin: "fail-all" (every request 503) or "healthy". The status answered.
    int control(std::string_view what) const {
        return http_get_status(port_, "/__control/" + std::string(what));
    }

    // Forgets what was logged so far (between two runs against the same origin).
    void clear_log() const { write_file(log_, ""); }

    void stop() {
        if (pid_ <= 0) {
            return;
        }
        ::kill(pid_, SIGTERM);
        int status = 0;
        bool reaped = false;
        for (int i = 0; i < 300 && !reaped; ++i) {
            reaped = ::waitpid(pid_, &status, WNOHANG) == pid_;
            if (!reaped) {
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
        }
        if (!reaped) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
        }
        pid_ = -1;
    }

  private:
    fs::path log_;
    int pid_ = -1;
    int port_ = 0;
};

}  // namespace harvest::test
