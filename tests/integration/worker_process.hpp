#pragma once
// One `harvest run` worker of a distributed crawl as a child process (its own process group),
// its output in dir/worker.{out,err} and its --stats-json in dir/stats.json; killed with its
// group when destroyed. Used by the distributed-crawl tests (test_distributed.cpp,
// test_redis_outage.cpp).

#include "tests/integration/support.hpp"

#include <boost/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace harvest::test {

class worker_process {
  public:
    // Runs `harvest run dir/cfg.yaml` (written from `yaml`) in `dir`, HARVEST_WORKER=name.
    worker_process(const std::string& yaml, const fs::path& dir, const std::string& name)
        : dir_(dir) {
        fs::create_directories(dir);
        const fs::path config = dir / "cfg.yaml";
        write_file(config, yaml);
        pid_ = ::fork();
        if (pid_ < 0) {
            throw std::runtime_error("fork failed");
        }
        if (pid_ == 0) {
            ::setpgid(0, 0);
            int out = ::open((dir / "worker.out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            int err = ::open((dir / "worker.err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            int null = ::open("/dev/null", O_RDONLY);
            ::dup2(null, 0);
            ::dup2(out, 1);
            ::dup2(err, 2);
            if (::chdir(dir.c_str()) != 0) {
                ::_exit(126);
            }
            ::setenv("HARVEST_WORKER", name.c_str(), 1);
            std::string binary = harvest_binary().string();
            std::string stats = (dir / "stats.json").string();
            std::string cfg = config.string();
            const char* argv[] = {binary.c_str(), "run",        cfg.c_str(), "--stats-json",
                                  stats.c_str(),  "--progress", "never",     nullptr};
            ::execv(argv[0], const_cast<char* const*>(argv));
            ::_exit(127);
        }
    }
    ~worker_process() {
        if (pid_ > 0) {
            ::kill(-pid_, SIGKILL);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
    }
    worker_process(const worker_process&) = delete;
    worker_process& operator=(const worker_process&) = delete;

    // The exit code, 128 + signal when killed, -1 on timeout (then it is killed).
    int wait_until(std::chrono::steady_clock::time_point give_up) {
        int status = 0;
        while (::waitpid(pid_, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > give_up) {
                ::kill(-pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                pid_ = -1;
                return -1;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    int wait(std::chrono::seconds timeout) {
        return wait_until(std::chrono::steady_clock::now() + timeout);
    }

    void kill_hard() { ::kill(pid_, SIGKILL); }
    int pid() const { return pid_; }
    std::string err() const { return read_file(dir_ / "worker.err"); }
    std::vector<boost::json::object> items() const { return read_jsonl(dir_ / "out/items.jsonl"); }
    // A worker killed with -9 may leave its last line half written (no newline yet): that
    // request was not completed in Redis, so another worker fetched it again. Whole lines only.
    std::vector<boost::json::object> whole_items() const {
        const std::string text = read_file(dir_ / "out/items.jsonl");
        std::vector<boost::json::object> out;
        std::size_t start = 0;
        for (std::size_t nl = text.find('\n'); nl != std::string::npos;
             start = nl + 1, nl = text.find('\n', start)) {
            const auto line = std::string_view(text).substr(start, nl - start);
            out.push_back(boost::json::parse(line).as_object());
        }
        return out;
    }

  private:
    fs::path dir_;
    int pid_ = -1;
};

// The last `n` bytes of a log, for INFO.
inline std::string tail(const std::string& text, std::size_t n = 3000) {
    return text.size() > n ? "..." + text.substr(text.size() - n) : text;
}

}  // namespace harvest::test
