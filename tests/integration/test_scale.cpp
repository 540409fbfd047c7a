// Scale fixtures, checked small: a crawl through the delay origin (tests/fixtures/delay_origin)
// yields every product exactly once, and `harvest run` raises its own open-file limit so that
// more fetches than the default soft limit (1024) can be in flight. No timing assertions: the
// figures come from bench/scale_bench.sh.

#include "tests/integration/support.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#ifndef HARVEST_DELAY_ORIGIN
#error "HARVEST_DELAY_ORIGIN (path of the delay_origin executable) must be defined"
#endif

namespace {

using namespace harvest::test;
namespace json = boost::json;

// The delay origin as a child process on a free loopback port; stop() returns the number of
// product requests it answered (its "requests N" line on exit).
class delay_origin {
  public:
    delay_origin(const fs::path& dir, int delay_ms) : output_(dir / "origin.out") {
        fs::create_directories(dir);
        const fs::path port_file = dir / "origin.port";
        std::vector<std::string> args{
            HARVEST_DELAY_ORIGIN, "--port",          "0", "--delay-ms", std::to_string(delay_ms),
            "--port-file",        port_file.string()};
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        std::fflush(nullptr);
        pid_ = ::fork();
        if (pid_ < 0) {
            throw std::runtime_error("delay_origin: fork failed");
        }
        if (pid_ == 0) {
            ::setpgid(0, 0);
            const int out = ::open(output_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
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
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        if (port_ == 0) {
            stop();
            throw std::runtime_error("delay_origin did not report its port within 5 s");
        }
    }
    ~delay_origin() { stop(); }
    delay_origin(const delay_origin&) = delete;
    delay_origin& operator=(const delay_origin&) = delete;

    std::string url(const std::string& id) const {
        return "http://127.0.0.1:" + std::to_string(port_) + "/p/" + id;
    }

    // Stops the origin (SIGTERM, SIGKILL after 3 s); the requests it answered, -1 if unknown.
    long stop() {
        if (pid_ > 0) {
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
        const std::string out = read_file(output_);
        const auto at = out.rfind("requests ");
        return at == std::string::npos ? -1 : std::atol(out.c_str() + at + 9);
    }

  private:
    fs::path output_;
    int pid_ = -1;
    int port_ = 0;
};

std::string scale_yaml(const fs::path& urls_file, int concurrency) {
    std::ostringstream y;
    y << "name: scale\n"
      << "seeds:\n"
      << "  - urls_file: " << urls_file.string() << "\n"
      << "engine:\n"
      << "  concurrency: " << concurrency << "\n"
      << "  per_host_concurrency: " << concurrency << "\n"
      << "  threads: 2\n"
      << "  robots_txt: ignore\n"
      << "http:\n"
      << "  timeouts: {connect: 10s, tls: 5s, response_headers: 20s, idle_read: 20s, "
         "total: 30s}\n"
      << "rate_limit:\n"
      << "  per_second: 0\n"
      << "  burst: 1\n"
      << "retry:\n"
      << "  max_attempts: 1\n"
      << "extract:\n"
      << "  - match: \".\"\n"
      << "    type: json\n"
      << "    fields:\n"
      << "      id: /id\n"
      << "      price: /price\n"
      << "    required: [id]\n"
      << "outputs:\n"
      << "  - type: jsonl\n"
      << "    path: out/items.jsonl\n";
    return y.str();
}

struct scale_run {
    process_result result;
    std::vector<json::object> items;
    std::vector<json::object> errors;
    long origin_requests = -1;
};

// `prefix... harvest run` over `count` distinct product URLs of a delay origin.
scale_run run_scale(const fs::path& dir, int count, int delay_ms, int concurrency,
                    const std::vector<std::string>& prefix = {}) {
    delay_origin origin(dir / "origin", delay_ms);
    std::string urls;
    for (int i = 0; i < count; ++i) {
        urls += origin.url("sku-" + std::to_string(i)) + "\n";
    }
    write_file(dir / "urls.txt", urls);
    write_file(dir / "cfg.yaml", scale_yaml(dir / "urls.txt", concurrency));
    std::vector<std::string> argv = prefix;
    argv.push_back(harvest_binary().string());
    argv.push_back("run");
    argv.push_back((dir / "cfg.yaml").string());
    argv.push_back("--progress");
    argv.push_back("never");
    scale_run run;
    run.result = run_process(argv, std::chrono::seconds(90));
    run.origin_requests = origin.stop();
    run.items = read_jsonl(dir / "out/items.jsonl");
    run.errors = read_jsonl(errors_path_for(dir / "out/items.jsonl"));
    return run;
}

std::set<std::string> ids_of(const std::vector<json::object>& items) {
    std::set<std::string> ids;
    for (const auto& item : items) {
        if (const auto* id = item.if_contains("id"); id != nullptr && id->is_string()) {
            ids.insert(std::string(id->as_string()));
        }
    }
    return ids;
}

std::string scale_tail(const std::string& s) {
    return s.size() > 2000 ? "..." + s.substr(s.size() - 2000) : s;
}

}  // namespace

TEST_CASE("scale: a crawl through the delay origin yields every product once", "[scale]") {
    temp_dir tmp("harvest-scale");
    constexpr int count = 300;
    const auto run = run_scale(tmp.path(), count, 100, 64);
    INFO("exit " << run.result.exit_code << "\nstderr:\n" << scale_tail(run.result.err));
    REQUIRE(run.result.exit_code == 0);
    CHECK(run.errors.empty());
    REQUIRE(run.items.size() == count);
    const auto ids = ids_of(run.items);
    CHECK(ids.size() == count);
    CHECK(ids.count("sku-0") == 1);
    CHECK(ids.count("sku-" + std::to_string(count - 1)) == 1);
    CHECK(run.origin_requests == count);
}

TEST_CASE("scale: harvest raises its open-file limit past the default 1024", "[scale]") {
    // Started with a soft limit of 1024, 1,500 fetches held open at once by the origin's delay
    // need more descriptors than that: without the raise, connects fail with EMFILE.
    temp_dir tmp("harvest-scale-fd");
    constexpr int count = 1500;
    const auto run = run_scale(tmp.path(), count, 1500, count, {"prlimit", "--nofile=1024:", "--"});
    INFO("exit " << run.result.exit_code << "\nstderr:\n" << scale_tail(run.result.err));
    REQUIRE(run.result.exit_code == 0);
    CHECK(run.errors.empty());
    CHECK(run.items.size() == count);
    CHECK(ids_of(run.items).size() == count);
}
