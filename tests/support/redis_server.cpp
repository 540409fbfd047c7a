#include "tests/support/redis_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

namespace harvest::test {

namespace {

namespace fs = std::filesystem;

[[noreturn]] void redis_fail(const std::string& what) {
    throw std::runtime_error("redis_server: " + what);
}

int pick_free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        redis_fail(std::string("socket: ") + std::strerror(errno));
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        ::close(fd);
        redis_fail("bind 127.0.0.1:0");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

bool accepts(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

}  // namespace

redis_server::redis_server(redis_server_options options) : options_(options) {
    const char* base = std::getenv("TMPDIR");
    fs::path parent = (base != nullptr && *base != '\0') ? fs::path(base) : fs::path("/tmp");
    std::string templ = (parent / "harvest-redis-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) {
        redis_fail("mkdtemp " + templ);
    }
    dir_ = templ;
    // A port that was free can be taken before redis-server binds it: retry with new ones.
    for (int attempt = 0; attempt < 5; ++attempt) {
        if (try_start()) {
            return;
        }
    }
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
    redis_fail("redis-server did not start (is the redis-server package installed?)");
}

redis_server::~redis_server() {
    stop();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
}

bool redis_server::try_start() {
    port_ = pick_free_port();
    if (options_.cluster_node) {
        // Not port + 10000, Redis' default: an ephemeral port plus 10000 may pass 65535.
        do {
            bus_port_ = pick_free_port();
        } while (bus_port_ == port_);
    }
    std::error_code ignored;
    fs::remove(dir_ / "sentinel.conf", ignored);  // a Sentinel's config names its port
    return start_on_port();
}

void redis_server::start_again() {
    stop();
    if (!start_on_port()) {
        redis_fail("redis-server did not start again on port " + std::to_string(port_));
    }
}

bool redis_server::start_on_port() {
    std::vector<std::string> args;
    if (!options_.sentinel_of.empty()) {
        // Sentinel rewrites its config file, so it gets one of its own in the folder.
        const fs::path config = dir_ / "sentinel.conf";
        const std::string name = options_.sentinel_of;
        const std::string text = "port " + std::to_string(port_) +
                                 "\nbind 127.0.0.1\n"
                                 "dir " +
                                 dir_.string() + "\nlogfile " + (dir_ / "redis.log").string() +
                                 "\nsentinel monitor " + name + " 127.0.0.1 " +
                                 std::to_string(options_.sentinel_primary) +
                                 " 1\n"
                                 "sentinel down-after-milliseconds " +
                                 name + " 1000\nsentinel failover-timeout " + name +
                                 " 10000\nsentinel parallel-syncs " + name + " 1\n";
        if (!fs::exists(config)) {
            FILE* f = std::fopen(config.c_str(), "w");
            if (f == nullptr) {
                redis_fail("cannot write " + config.string());
            }
            std::fwrite(text.data(), 1, text.size(), f);
            std::fclose(f);
        }
        args = {"redis-server", config.string(), "--sentinel"};
    } else {
        args = {"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1", "--dir",
                dir_.string(), "--save", "", "--appendonly", options_.append_only ? "yes" : "no",
                "--daemonize", "no", "--logfile", (dir_ / "redis.log").string(), "--protected-mode",
                "yes",
                // A replica's first sync starts at once (Redis waits 5 s by default for more).
                "--repl-diskless-sync-delay", "0"};
        if (options_.cluster_node) {
            args.insert(args.end(), {"--cluster-enabled", "yes", "--cluster-config-file",
                                     (dir_ / "nodes.conf").string(), "--cluster-node-timeout",
                                     "2000", "--cluster-port", std::to_string(bus_port_)});
        }
        if (options_.replica_of != 0) {
            args.insert(args.end(),
                        {"--replicaof", "127.0.0.1", std::to_string(options_.replica_of)});
        }
    }
    int pid = ::fork();
    if (pid < 0) {
        redis_fail("fork");
    }
    if (pid == 0) {
        ::setpgid(0, 0);
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        ::execvp(argv[0], argv.data());
        ::_exit(127);
    }
    pid_ = pid;
    // Ready when our child accepts on the port; give up if it exits (port taken) or after 10 s.
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < give_up) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return false;
        }
        if (accepts(port_)) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    stop();
    return false;
}

std::string redis_server::url() const {
    return "redis://127.0.0.1:" + std::to_string(port_) + "/0";
}

std::string redis_server::cli(const std::string& arguments) const {
    std::string command =
        "redis-cli -h 127.0.0.1 -p " + std::to_string(port_) + " " + arguments + " 2>&1";
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
    if (!pipe) {
        redis_fail("popen redis-cli");
    }
    std::string out;
    std::array<char, 4096> chunk{};
    std::size_t n = 0;
    while ((n = std::fread(chunk.data(), 1, chunk.size(), pipe.get())) > 0) {
        out.append(chunk.data(), n);
    }
    return out;
}

void redis_server::stop() {
    if (pid_ <= 0) {
        return;
    }
    // SIGTERM lets redis-server exit cleanly (nothing to save); SIGKILL after 5 s.
    ::kill(pid_, SIGTERM);
    ::kill(pid_, SIGCONT);  // a paused server handles SIGTERM only once it runs
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > give_up) {
            ::kill(-pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
}

void redis_server::kill() {
    if (pid_ <= 0) {
        return;
    }
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
}

redis_cluster::redis_cluster(int primaries, int replicas_each) {
    const int count = primaries * (1 + replicas_each);
    std::string members;
    for (int i = 0; i < count; ++i) {
        nodes_.push_back(std::make_unique<redis_server>(redis_server_options::node_of_cluster()));
        members += " 127.0.0.1:" + std::to_string(nodes_.back()->port());
    }
    const std::string created =
        nodes_.front()->cli("--cluster create" + members + " --cluster-replicas " +
                            std::to_string(replicas_each) + " --cluster-yes");
    if (created.find("All 16384 slots covered") == std::string::npos) {
        redis_fail("redis-cli --cluster create failed:\n" + created);
    }
    if (!wait_ok(30)) {
        redis_fail("the cluster did not reach cluster_state:ok in 30 s");
    }
}

std::string redis_cluster::url() const {
    std::string url = "redis-cluster://";
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
        url += (i == 0 ? "" : ",") + std::string("127.0.0.1:") + std::to_string(nodes_[i]->port());
    }
    return url;
}

bool redis_cluster::wait_ok(int seconds) {
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < give_up) {
        bool all = true;
        for (const auto& node : nodes_) {
            if (!node->running()) {
                continue;
            }
            const std::string info = node->cli("cluster info");
            if (info.find("cluster_state:ok") == std::string::npos ||
                info.find("cluster_slots_ok:16384") == std::string::npos) {
                all = false;
                break;
            }
        }
        if (all) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
}

redis_server* redis_cluster::primary_of(int slot) {
    for (const auto& node : nodes_) {
        if (!node->running()) {
            continue;
        }
        // A primary's own line of CLUSTER NODES ("myself,master") lists the slots it serves.
        const std::string nodes = node->cli("cluster nodes");
        std::size_t line_start = 0;
        while (line_start < nodes.size()) {
            auto line_end = nodes.find('\n', line_start);
            if (line_end == std::string::npos) {
                line_end = nodes.size();
            }
            const std::string line = nodes.substr(line_start, line_end - line_start);
            line_start = line_end + 1;
            if (line.find("myself") == std::string::npos ||
                line.find("master") == std::string::npos) {
                continue;
            }
            // Fields: id addr flags master ping pong epoch state slot-ranges...
            std::vector<std::string> fields;
            std::size_t at = 0;
            while (at < line.size()) {
                auto space = line.find(' ', at);
                if (space == std::string::npos) {
                    space = line.size();
                }
                fields.push_back(line.substr(at, space - at));
                at = space + 1;
            }
            for (std::size_t f = 8; f < fields.size(); ++f) {
                const std::string& range = fields[f];
                if (range.empty() || range.front() == '[') {
                    continue;  // a slot being migrated
                }
                const auto dash = range.find('-');
                const int first = std::atoi(range.substr(0, dash).c_str());
                const int last =
                    dash == std::string::npos ? first : std::atoi(range.substr(dash + 1).c_str());
                if (slot >= first && slot <= last) {
                    return node.get();
                }
            }
        }
    }
    return nullptr;
}

void redis_server::pause() {
    if (pid_ > 0) {
        ::kill(pid_, SIGSTOP);
    }
}

void redis_server::resume() {
    if (pid_ > 0) {
        ::kill(pid_, SIGCONT);
    }
}

}  // namespace harvest::test
