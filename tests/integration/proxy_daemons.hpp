#pragma once
// Proxy daemons for the integration tests, run in the foreground as children of the test on
// loopback ports: tinyproxy (an HTTP forward proxy with CONNECT and Basic auth) logging each
// request line, and microsocks (SOCKS5 with a user/password of its own). Used by the proxies' tests
// and the rendering ones.

#include "tests/integration/support.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace harvest::test {

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
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
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

// microsocks on a free port with RFC 1929 user/pass of its own (-u/-P: no system user is
// involved, unlike dante's `username` method); it logs each connection it made for an
// authenticated client ("client[fd] 127.0.0.1: connected to 127.0.0.1:PORT").
struct microsocks {
    microsocks(const fs::path& dir, const std::string& user, const std::string& password)
        : dir(dir), port(free_port()) {
        fs::create_directories(dir);
        process = std::make_unique<daemon_process>(
            std::vector<std::string>{"microsocks", "-i", "127.0.0.1", "-p", std::to_string(port),
                                     "-u", user, "-P", password},
            dir / "microsocks.log", port);
    }

    int connections_to(int target_port) const {
        int n = 0;
        const std::string needle = ": connected to 127.0.0.1:" + std::to_string(target_port);
        for (const auto& line : read_lines(dir / "microsocks.log")) {
            n += line.find(needle) != std::string::npos ? 1 : 0;
        }
        return n;
    }

    fs::path dir;
    int port;
    std::unique_ptr<daemon_process> process;
};

}  // namespace harvest::test
