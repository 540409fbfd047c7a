// The bulk service's edge under hostile clients and receivers (issue 17, items 3 and 8): the real
// `harvest serve` process, slow-header connections opened from this test over several loopback
// source addresses, and webhook receivers that answer with a huge body or keep failing. Every
// socket is on 127.0.0.0/8; every wait is bounded by a clock.
//
// HARVEST_SERVE_BINARY (optional) runs another harvest executable, to compare builds.

#include "tests/integration/support.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

namespace {

using namespace harvest::test;
namespace json = boost::json;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

double seconds_since(steady::time_point start) {
    return std::chrono::duration<double>(steady::now() - start).count();
}

std::string base_config(int port, const std::string& extra) {
    return "listen: 127.0.0.1:" + std::to_string(port) +
           "\n"
           "api_keys_file: keys.txt\n"
           "jobs_db: jobs.db\n"
           "profiles:\n"
           "  p:\n"
           "    http: {timeouts: {connect: 1s, total: 2s}}\n"
           "    retry: {max_attempts: 1}\n"
           "    extract: [{match: \".\", type: json, fields: {id: /id}}]\n" +
           extra;
}

// `harvest serve --config FILE` as a child in its own process group; SIGKILL on destruction.
class serve_child {
  public:
    serve_child(const fs::path& config, const fs::path& log, int port) {
        const char* override = std::getenv("HARVEST_SERVE_BINARY");
        const std::string binary = override != nullptr ? override : harvest_binary().string();
        std::fflush(nullptr);
        pid_ = ::fork();
        if (pid_ == 0) {
            ::setpgid(0, 0);
            const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            ::dup2(out, 1);
            ::dup2(out, 2);
            ::execl(binary.c_str(), binary.c_str(), "serve", "--config", config.c_str(),
                    static_cast<char*>(nullptr));
            ::_exit(127);
        }
        const auto give_up = steady::now() + 30s;
        while (steady::now() < give_up) {
            if (port_accepts(port)) {
                return;
            }
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                throw std::runtime_error("harvest serve exited at start: " + read_file(log));
            }
            std::this_thread::sleep_for(10ms);
        }
        throw std::runtime_error("harvest serve did not listen within 30 s: " + read_file(log));
    }
    ~serve_child() {
        if (pid_ > 0) {
            ::kill(-pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    serve_child(const serve_child&) = delete;
    serve_child& operator=(const serve_child&) = delete;

  private:
    pid_t pid_ = -1;
};

// A TCP connection to 127.0.0.1:port from `source` (any 127.0.0.0/8 address); -1 on failure.
int connect_from(const char* source, int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    sockaddr_in local{};
    local.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &local.sin_addr);
    sockaddr_in remote{};
    remote.sin_family = AF_INET;
    remote.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    remote.sin_port = htons(static_cast<uint16_t>(port));
    if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
        ::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// True once the server has closed `fd` (EOF or reset); waits at most `wait`.
bool closed_by_server(int fd, std::chrono::milliseconds wait) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) {
        return false;
    }
    char byte = 0;
    const auto n = ::recv(fd, &byte, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

struct http_answer {
    int status = 0;  // 0: no answer
    std::string body;
    double seconds = 0;
};

// One request over a fresh connection from `source`, reading until the server closes; at most
// 5 s.
http_answer http_call(int port, const std::string& method, const std::string& path,
                      const std::string& key = {}, const std::string& body = {},
                      const char* source = "127.0.0.1") {
    http_answer answer;
    const auto start = steady::now();
    const int fd = connect_from(source, port);
    if (fd < 0) {
        answer.seconds = seconds_since(start);
        return answer;
    }
    std::string request =
        method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
    if (!key.empty()) {
        request += "Authorization: Bearer " + key + "\r\n";
    }
    if (!body.empty()) {
        request +=
            "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
            "\r\n";
    }
    request += "\r\n" + body;
    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    std::string data;
    char buffer[4096];
    while (seconds_since(start) < 5.0) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) {
            continue;
        }
        const auto n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) {
            break;
        }
        data.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    answer.seconds = seconds_since(start);
    if (data.rfind("HTTP/1.1 ", 0) == 0 && data.size() >= 12) {
        answer.status = std::stoi(data.substr(9, 3));
        if (const auto end = data.find("\r\n\r\n"); end != std::string::npos) {
            answer.body = data.substr(end + 4);
        }
    }
    return answer;
}

http_answer edge_http_get(int port, const std::string& path, const char* source = "127.0.0.1") {
    return http_call(port, "GET", path, {}, {}, source);
}

// A webhook receiver on a thread (plain POSIX sockets). `huge`: answers 200 with a 64 MiB body
// (Content-Length: 67108864, then zeros until the client goes away); otherwise 503 with an empty
// body. Keeps each request's headers (lower-case names) and body. Bounded: every read and write
// has a timeout, the body at most 64 MiB, and stop() ends the loop.
class receiver {
  public:
    struct request {
        std::map<std::string, std::string> headers;
        std::string body;
    };

    explicit receiver(bool huge) : huge_(huge) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(fd_, 16) != 0) {
            throw std::runtime_error("receiver: cannot listen");
        }
        socklen_t len = sizeof addr;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { run(); });
    }
    ~receiver() {
        stopping_ = true;
        thread_.join();
        ::close(fd_);
    }
    int port() const { return port_; }
    std::vector<request> requests() const {
        std::lock_guard lock(mutex_);
        return requests_;
    }
    long long body_bytes_sent() const { return sent_; }

  private:
    void run() {
        while (!stopping_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) {
                continue;
            }
            const int client = ::accept(fd_, nullptr, nullptr);
            if (client < 0) {
                continue;
            }
            timeval tv{2, 0};
            ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            ::setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            std::string data;
            char buffer[65536];
            std::size_t header_end = std::string::npos;
            std::size_t length = 0;
            for (int reads = 0; reads < 1000; ++reads) {
                if (header_end == std::string::npos) {
                    header_end = data.find("\r\n\r\n");
                    if (header_end != std::string::npos) {
                        auto lower = data.substr(0, header_end);
                        for (auto& c : lower) {
                            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                        }
                        const auto cl = lower.find("content-length:");
                        length = cl == std::string::npos ? 0 : std::stoul(lower.substr(cl + 15));
                    }
                }
                if (header_end != std::string::npos && data.size() >= header_end + 4 + length) {
                    break;
                }
                const auto n = ::recv(client, buffer, sizeof buffer, 0);
                if (n <= 0) {
                    break;
                }
                data.append(buffer, static_cast<std::size_t>(n));
            }
            if (header_end == std::string::npos) {
                ::close(client);
                continue;
            }
            request r;
            std::size_t pos = data.find("\r\n") + 2;
            while (pos < header_end) {
                const auto eol = data.find("\r\n", pos);
                const auto line = data.substr(pos, eol - pos);
                const auto colon = line.find(':');
                auto name = line.substr(0, colon);
                for (auto& c : name) {
                    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                }
                r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
                pos = eol + 2;
            }
            r.body = data.substr(header_end + 4, length);
            {
                std::lock_guard lock(mutex_);
                requests_.push_back(std::move(r));
            }
            if (huge_) {
                constexpr long long total = 64LL << 20;
                const std::string head =
                    "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(total) +
                    "\r\nConnection: close\r\n\r\n";
                ::send(client, head.data(), head.size(), MSG_NOSIGNAL);
                const std::string zeros(65536, '0');
                for (long long left = total; left > 0 && !stopping_;) {
                    const auto n = ::send(client, zeros.data(),
                                          static_cast<std::size_t>(std::min<long long>(
                                              left, static_cast<long long>(zeros.size()))),
                                          MSG_NOSIGNAL);
                    if (n <= 0) {
                        break;  // the client closed (or 2 s without progress)
                    }
                    left -= n;
                    sent_ += n;
                }
            } else {
                const std::string answer =
                    "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                ::send(client, answer.data(), answer.size(), MSG_NOSIGNAL);
            }
            ::close(client);
        }
    }

    bool huge_;
    int fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stopping_{false};
    std::atomic<long long> sent_{0};
    mutable std::mutex mutex_;
    std::vector<request> requests_;
    std::thread thread_;
};

// The signature checked with the openssl CLI, independently of the service's code.
bool edge_signature_valid(const temp_dir& tmp, const std::string& header, const std::string& body,
                          const std::string& secret) {
    const auto comma = header.find(",v1=");
    if (header.rfind("t=", 0) != 0 || comma == std::string::npos) {
        return false;
    }
    write_file(tmp / "signed.txt", header.substr(2, comma - 2) + "." + body);
    const auto result = run_process(
        {"openssl", "dgst", "-sha256", "-hmac", secret, (tmp / "signed.txt").string()}, 10s);
    const auto mac = result.out.substr(result.out.rfind(' ') + 1, 64);
    return result.exit_code == 0 && mac == header.substr(comma + 4);
}

// A service whose one job fails fast (nothing listens at its URL) and calls `callback_port`.
struct webhook_fixture {
    temp_dir tmp{"harvest-serve-edge-webhook"};
    int port = free_port();
    int dead_port = free_port();
    std::string job_id;

    explicit webhook_fixture(int callback_port) {
        write_file(tmp / "keys.txt", "key-alpha\n");
        write_file(tmp / "webhook.secret", "whsec-edge-0123\n");
        write_file(tmp / "serve.yaml",
                   base_config(port,
                               "webhook: {secret_file: webhook.secret, max_attempts: 3, "
                               "backoff: {base: 50ms, max: 100ms}, timeout: 5s}\n"
                               "egress: {deny_private: true, allow: [\"127.0.0.1:" +
                                   std::to_string(dead_port) +
                                   "\", \"127.0.0.1:" + std::to_string(callback_port) + "\"]}\n"));
    }

    void submit(int callback_port) {
        const auto answer =
            http_call(port, "POST", "/v1/jobs", "key-alpha",
                      R"({"profile":"p","urls":["http://127.0.0.1:)" + std::to_string(dead_port) +
                          R"(/item"],"callback_url":"http://127.0.0.1:)" +
                          std::to_string(callback_port) + R"(/hook?token=s3cret"})");
        INFO(answer.body);
        REQUIRE(answer.status == 202);
        job_id = std::string(json::parse(answer.body).at("job_id").as_string());
    }
};

}  // namespace

TEST_CASE(
    "serve edge: 1030 slow-header connections neither block /healthz nor outlive the header "
    "timeout; one address gets at most max_connections_per_ip",
    "[serve]") {
    temp_dir tmp("harvest-serve-edge");
    const int port = free_port();
    write_file(tmp / "keys.txt", "key-alpha\n");
    // The listener's documented defaults: header_timeout 10s, max_connections 1024,
    // max_connections_per_ip 64, reserved_connections 64.
    write_file(tmp / "serve.yaml", base_config(port, ""));
    serve_child service(tmp / "serve.yaml", tmp / "serve.log", port);
    constexpr auto header_timeout = 10s;

    // The red-team pass's attack: 1,030 connections that send part of a request's headers and
    // then nothing, from 20 source addresses (52 or fewer each, under the per-address cap).
    const std::string partial = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    std::vector<int> slow;
    const auto opened = steady::now();
    for (int i = 0; i < 1030; ++i) {
        const std::string source = "127.0.0." + std::to_string(2 + i % 20);
        const int fd = connect_from(source.c_str(), port);
        REQUIRE(fd >= 0);
        ::send(fd, partial.data(), partial.size(), MSG_NOSIGNAL);
        slow.push_back(fd);
    }
    INFO("opening 1,030 slow connections took " << seconds_since(opened) << " s");

    // /healthz still answers, at once, from an address of its own and from one of the
    // attackers' addresses.
    std::this_thread::sleep_for(200ms);  // the service has accepted what the backlog holds
    const auto health = edge_http_get(port, "/healthz");
    INFO("/healthz during the attack: status " << health.status << " in " << health.seconds
                                               << " s");
    CHECK(health.status == 200);
    CHECK(health.seconds < 1.0);
    const auto health_shared = edge_http_get(port, "/healthz", "127.0.0.2");
    INFO("/healthz from an attacking address: status " << health_shared.status << " in "
                                                       << health_shared.seconds << " s");
    CHECK(health_shared.status == 200);
    CHECK(health_shared.seconds < 1.0);

    // One address may hold at most 64: of 80 connections from 127.0.0.50, 16 are closed at once.
    std::vector<int> greedy;
    for (int i = 0; i < 80; ++i) {
        const int fd = connect_from("127.0.0.50", port);
        REQUIRE(fd >= 0);
        ::send(fd, partial.data(), partial.size(), MSG_NOSIGNAL);
        greedy.push_back(fd);
    }
    std::this_thread::sleep_for(300ms);
    int refused = 0;
    for (int fd : greedy) {
        refused += closed_by_server(fd, 0ms) ? 1 : 0;
    }
    CHECK(refused == 16);

    // Every slow connection is closed by the server once the header timeout has passed (a few
    // are closed earlier, to keep connections in reserve), none outlives it by much.
    std::vector<bool> closed(slow.size(), false);
    std::size_t open_count = slow.size();
    const auto limit = opened + header_timeout + 3s;
    while (open_count > 0 && steady::now() < limit) {
        for (std::size_t i = 0; i < slow.size(); ++i) {
            if (!closed[i] && closed_by_server(slow[i], 0ms)) {
                closed[i] = true;
                --open_count;
            }
        }
        std::this_thread::sleep_for(100ms);
    }
    const double all_closed_after = seconds_since(opened);
    INFO("slow connections still open " << all_closed_after << " s after opening: " << open_count);
    CHECK(open_count == 0);
    for (int fd : greedy) {
        ::close(fd);
    }
    for (int fd : slow) {
        ::close(fd);
    }
    const auto after = edge_http_get(port, "/healthz");
    CHECK(after.status == 200);
}

TEST_CASE("serve edge: a webhook receiver answering 200 with a 64 MiB body is delivered once",
          "[serve]") {
    receiver hook(true);
    webhook_fixture f(hook.port());
    serve_child service(f.tmp / "serve.yaml", f.tmp / "serve.log", f.port);
    f.submit(hook.port());

    const auto until = steady::now() + 20s;
    while (hook.requests().empty() && steady::now() < until) {
        std::this_thread::sleep_for(50ms);
    }
    REQUIRE(hook.requests().size() >= 1);
    // Retries would follow within 50-100 ms each: 2 s without another one is no retry.
    std::this_thread::sleep_for(2s);
    auto requests = hook.requests();
    const auto log = read_file(f.tmp / "serve.log");
    INFO("serve.log:\n" << log);
    INFO("body bytes the receiver got out before the client stopped reading: "
         << hook.body_bytes_sent());
    CHECK(requests.size() == 1);
    CHECK(log.find("webhook of job " + f.job_id +
                   " delivered to http://127.0.0.1:" + std::to_string(hook.port()) +
                   "/hook?... (attempt 1, HTTP 200)") != std::string::npos);
    CHECK(log.find("s3cret") == std::string::npos);  // the callback's query is not logged
    // The service read at most a small part of the 64 MiB (64 KiB plus socket buffers).
    CHECK(hook.body_bytes_sent() < (16LL << 20));
    REQUIRE(requests.size() >= 1);
    CHECK(edge_signature_valid(f.tmp, requests[0].headers["harvest-signature"], requests[0].body,
                               "whsec-edge-0123"));
}

TEST_CASE(
    "serve edge: a webhook receiver answering 503 gets max_attempts signed attempts, each "
    "failure logged with the job id and why",
    "[serve]") {
    receiver hook(false);
    webhook_fixture f(hook.port());
    serve_child service(f.tmp / "serve.yaml", f.tmp / "serve.log", f.port);
    f.submit(hook.port());

    const auto until = steady::now() + 20s;
    while (hook.requests().size() < 3 && steady::now() < until) {
        std::this_thread::sleep_for(50ms);
    }
    std::this_thread::sleep_for(1s);  // a fourth attempt would come within 100 ms
    auto requests = hook.requests();
    std::string log;
    const auto log_until = steady::now() + 5s;
    while (steady::now() < log_until) {  // the last attempt's line follows its answer
        log = read_file(f.tmp / "serve.log");
        if (log.find("giving up") != std::string::npos) {
            break;
        }
        std::this_thread::sleep_for(50ms);
    }
    INFO("serve.log:\n" << log);
    REQUIRE(requests.size() == 3);
    const std::string prefix = "webhook of job " + f.job_id +
                               " to http://127.0.0.1:" + std::to_string(hook.port()) +
                               "/hook?...: attempt ";
    CHECK(log.find(prefix + "1 of 3 failed, answered HTTP 503; retrying") != std::string::npos);
    CHECK(log.find(prefix + "3 of 3 failed, answered HTTP 503; giving up") != std::string::npos);
    // Same event on every attempt, each with a valid signature of its own time.
    for (auto r : requests) {
        CHECK(r.headers["idempotency-key"] == requests[0].headers["idempotency-key"]);
        CHECK(
            edge_signature_valid(f.tmp, r.headers["harvest-signature"], r.body, "whsec-edge-0123"));
    }
}

TEST_CASE(
    "serve edge: connections that send a request body slowly cannot take the reserved "
    "connections either",
    "[serve]") {
    temp_dir tmp("harvest-serve-edge-body");
    const int port = free_port();
    write_file(tmp / "keys.txt", "key-alpha\n");
    // A small listener, so that the test fills it with a handful of sockets.
    write_file(tmp / "serve.yaml",
               base_config(port,
                           "listener: {max_connections: 20, max_connections_per_ip: 20, "
                           "reserved_connections: 4}\n"));
    serve_child service(tmp / "serve.yaml", tmp / "serve.log", port);

    // Whole headers announcing a 1 MB body, then 10 bytes of it and nothing more: past the
    // header deadline, into the 30 s body read.
    const std::string partial =
        "POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000000\r\n\r\n{\"profile\"";
    std::vector<int> slow;
    for (int i = 0; i < 20; ++i) {
        const std::string source = "127.0.0." + std::to_string(2 + i % 5);
        const int fd = connect_from(source.c_str(), port);
        REQUIRE(fd >= 0);
        ::send(fd, partial.data(), partial.size(), MSG_NOSIGNAL);
        slow.push_back(fd);
        std::this_thread::sleep_for(5ms);  // distinct ages: the oldest goes first
    }
    std::this_thread::sleep_for(300ms);
    for (int attempt = 0; attempt < 3; ++attempt) {
        const auto health = edge_http_get(port, "/healthz");
        INFO("attempt " << attempt << ": /healthz status " << health.status << " in "
                        << health.seconds << " s");
        CHECK(health.status == 200);
        CHECK(health.seconds < 1.0);
    }
    // Room was made by closing the oldest slow senders, not the newest.
    CHECK(closed_by_server(slow.front(), 500ms));
    CHECK_FALSE(closed_by_server(slow.back(), 0ms));
    for (int fd : slow) {
        ::close(fd);
    }
}
