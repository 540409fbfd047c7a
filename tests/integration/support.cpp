#include "tests/integration/support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace harvest::test {

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error(what);
}

[[noreturn]] void fail_errno(const std::string& what) {
    fail(what + ": " + std::strerror(errno));
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
    for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
        s.replace(pos, from.size(), to);
    }
}

// fork + exec with the child in its own process group, so a timeout or a stop can kill
// everything it started (nginx workers included). Only async-signal-safe calls after fork.
int spawn(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env,
          const fs::path& cwd, int stdout_fd, int stderr_fd) {
    if (argv.empty()) {
        fail("spawn: empty argv");
    }
    // Everything the child needs is prepared before fork: no allocation in the child.
    std::vector<char*> args;
    for (const auto& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    std::vector<std::string> env_storage;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string_view entry(*e);
        bool overridden = false;
        for (const auto& x : extra_env) {
            auto name = x.substr(0, x.find('=') + 1);
            if (entry.substr(0, name.size()) == name) {
                overridden = true;
                break;
            }
        }
        if (!overridden) {
            env_storage.emplace_back(entry);
        }
    }
    env_storage.insert(env_storage.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> envp;
    for (auto& e : env_storage) {
        envp.push_back(e.data());
    }
    envp.push_back(nullptr);
    std::string cwd_str = cwd.string();
    int dev_null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (dev_null < 0) {
        fail_errno("open /dev/null");
    }

    pid_t pid = ::fork();
    if (pid < 0) {
        ::close(dev_null);
        fail_errno("fork");
    }
    if (pid == 0) {
        ::setpgid(0, 0);
        ::dup2(dev_null, STDIN_FILENO);
        ::dup2(stdout_fd, STDOUT_FILENO);
        ::dup2(stderr_fd, STDERR_FILENO);
        if (!cwd_str.empty() && ::chdir(cwd_str.c_str()) != 0) {
            ::_exit(126);
        }
        ::execvpe(args[0], args.data(), envp.data());
        ::_exit(127);
    }
    ::close(dev_null);
    ::setpgid(pid, pid);  // also from the parent: no race with an early kill(-pid)
    return pid;
}

int exit_code_of(int status) {
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    if (WIFSIGNALED(status)) {
        return 128 + WTERMSIG(status);
    }
    return -1;
}

// Waits for pid up to `limit`; returns the exit code, or nullopt when it is still running.
std::optional<int> wait_for(int pid, std::chrono::milliseconds limit) {
    auto deadline = steady::now() + limit;
    while (true) {
        int status = 0;
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            return exit_code_of(status);
        }
        if (r < 0 && errno != EINTR) {
            return -1;  // not our child any more: nothing to wait for
        }
        if (steady::now() >= deadline) {
            return std::nullopt;
        }
        std::this_thread::sleep_for(20ms);
    }
}

std::string support_tail(const std::string& s, std::size_t n) {
    return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

}  // namespace

fs::path source_dir() {
    return fs::path(HARVEST_SOURCE_DIR);
}
fs::path harvest_binary() {
    return fs::path(HARVEST_BINARY);
}

namespace {

// Binds a socket to 127.0.0.1:`port` (0: a port the kernel picks), closes it and returns the
// port it had; -1 when `port` could not be bound.
int bind_loopback(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail_errno("socket");
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    socklen_t len = sizeof addr;
    const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                       ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
    const int saved = errno;
    ::close(fd);
    errno = saved;
    return bound ? ntohs(addr.sin_port) : -1;
}

// The first port of the kernel's ephemeral range (bind to port 0, outgoing connections).
int ephemeral_low() {
    std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
    int low = 0;
    return range >> low && low > 0 ? low : 32768;
}

}  // namespace

// Below the kernel's ephemeral range, so that between this call and the listener's bind no
// bind(0) and no outgoing connection of any process is handed the port (an nginx started in
// between once took the port a test had picked for harvest serve, and the test's requests went
// to nginx). Never the same port twice in one process; another test process picks at random in
// the same range, so a clash needs the same pick within the same seconds.
int free_port() {
    constexpr int first = 20000;
    const int last = ephemeral_low() - 1;
    static std::mutex mutex;
    static std::set<int> given;
    static std::mt19937 pick(std::random_device{}() ^ static_cast<unsigned>(::getpid()));
    std::lock_guard lock(mutex);
    if (last - first >= 1000) {
        std::uniform_int_distribution<int> ports(first, last);
        for (int tries = 0; tries < 1000; ++tries) {
            const int port = ports(pick);
            if (!given.contains(port) && bind_loopback(port) == port) {
                given.insert(port);
                return port;
            }
        }
    }
    // A machine whose ephemeral range starts low: the kernel's choice.
    const int port = bind_loopback(0);
    if (port < 0) {
        fail_errno("bind 127.0.0.1:0");
    }
    return port;
}

bool port_accepts(int port) {
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

temp_dir::temp_dir(std::string_view prefix) {
    const char* base = std::getenv("TMPDIR");
    fs::path dir = (base != nullptr && *base != '\0') ? fs::path(base) : fs::path("/tmp");
    std::string templ = (dir / (std::string(prefix) + "-XXXXXX")).string();
    if (::mkdtemp(templ.data()) == nullptr) {
        fail_errno("mkdtemp " + templ);
    }
    path_ = templ;
}

temp_dir::~temp_dir() {
    const char* keep = std::getenv("HARVEST_KEEP_TMP");
    if (keep != nullptr && std::string_view(keep) == "1") {
        std::cerr << "HARVEST_KEEP_TMP=1: keeping " << path_ << '\n';
        return;
    }
    std::error_code ec;
    fs::remove_all(path_, ec);
}

process_result run_process(const std::vector<std::string>& argv,
                           std::chrono::milliseconds timeout) {
    process_options options;
    options.timeout = timeout;
    return run_process(argv, options);
}

std::string describe(const process_result& r) {
    constexpr std::size_t keep = 4000;
    const auto last = [](const std::string& text) {
        return text.size() > keep ? "..." + text.substr(text.size() - keep) : text;
    };
    std::string text = "exit " + std::to_string(r.exit_code) + (r.timed_out ? " (timed out)" : "");
    if (!r.out.empty()) {
        text += "\nstdout:\n" + last(r.out);
    }
    return text + "\nstderr:\n" + last(r.err);
}

process_result run_process(const std::vector<std::string>& argv, const process_options& options) {
    int out_pipe[2];
    int err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
        fail_errno("pipe");
    }
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
        ::close(out_pipe[0]);
        ::close(out_pipe[1]);
        fail_errno("pipe");
    }
    int pid = -1;
    try {
        pid = spawn(argv, options.env, options.cwd, out_pipe[1], err_pipe[1]);
    } catch (...) {
        for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) {
            ::close(fd);
        }
        throw;
    }
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);

    process_result result;
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    std::string* sinks[2] = {&result.out, &result.err};
    int open_fds = 2;
    auto deadline = steady::now() + options.timeout;
    char buffer[65536];
    while (open_fds > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
        if (left <= 0ms) {
            result.timed_out = true;
            ::kill(-pid, SIGKILL);
            break;
        }
        int n = ::poll(fds, 2, static_cast<int>(std::min<long long>(left.count(), 1000)));
        if (n < 0 && errno != EINTR) {
            ::kill(-pid, SIGKILL);
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
                continue;
            }
            ssize_t got = ::read(fds[i].fd, buffer, sizeof buffer);
            if (got > 0) {
                sinks[i]->append(buffer, static_cast<std::size_t>(got));
            } else if (got == 0 || errno != EINTR) {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open_fds;
            }
        }
    }
    for (auto& f : fds) {
        if (f.fd >= 0) {
            ::close(f.fd);
        }
    }
    // The pipes are closed; a child still running past the deadline is killed.
    auto code = wait_for(pid, result.timed_out ? 5000ms : options.timeout + 5000ms);
    if (!code) {
        ::kill(-pid, SIGKILL);
        code = wait_for(pid, 5000ms);
        result.timed_out = true;
    }
    result.exit_code = code.value_or(-1);
    return result;
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        fail("cannot read " + path.string());
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file(const fs::path& path, std::string_view content) {
    if (path.has_parent_path()) {
        fs::create_directories(path.parent_path());
    }
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!out) {
        fail("cannot write " + path.string());
    }
}

std::vector<std::string> read_lines(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        fail("cannot read " + path.string());
    }
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        lines.push_back(std::move(line));
    }
    return lines;
}

std::vector<boost::json::object> read_jsonl(const fs::path& path) {
    std::vector<boost::json::object> objects;
    if (!fs::exists(path)) {
        return objects;
    }
    auto lines = read_lines(path);
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (lines[i].empty()) {
            continue;
        }
        boost::system::error_code ec;
        auto v = boost::json::parse(lines[i], ec);
        if (ec || !v.is_object()) {
            fail(path.string() + ":" + std::to_string(i + 1) +
                 ": not a JSON object: " + support_tail(lines[i], 200));
        }
        objects.push_back(std::move(v.as_object()));
    }
    return objects;
}

fs::path errors_path_for(const fs::path& jsonl_path) {
    fs::path p = jsonl_path;
    if (p.extension() == ".jsonl") {
        p.replace_extension();
    }
    p += ".errors.jsonl";
    return p;
}

void generate_catalog(const fs::path& out, const catalog_options& options) {
    std::ostringstream fraction;
    fraction << options.gzip_fraction;
    auto r = run_process({"python3", (source_dir() / "tests/fixtures/gen_catalog.py").string(),
                          out.string(), "-n", std::to_string(options.products), "--seed",
                          std::to_string(options.seed), "--gzip-fraction", fraction.str()},
                         std::chrono::seconds(120));
    if (r.exit_code != 0) {
        fail("gen_catalog.py failed (exit " + std::to_string(r.exit_code) +
             "): " + support_tail(r.err, 2000));
    }
}

test_pki make_test_pki(const fs::path& dir) {
    fs::create_directories(dir);
    test_pki pki{dir / "ca.pem", dir / "ca.key", dir / "server.pem", dir / "server.key"};
    write_file(dir / "server.ext",
               "basicConstraints = critical, CA:FALSE\n"
               "keyUsage = critical, digitalSignature, keyEncipherment\n"
               "extendedKeyUsage = serverAuth\n"
               "subjectAltName = IP:127.0.0.1, DNS:localhost\n");
    const std::vector<std::vector<std::string>> steps = {
        {"openssl",
         "req",
         "-x509",
         "-newkey",
         "ec",
         "-pkeyopt",
         "ec_paramgen_curve:prime256v1",
         "-nodes",
         "-keyout",
         pki.ca_key.string(),
         "-out",
         pki.ca_cert.string(),
         "-days",
         "2",
         "-subj",
         "/CN=Harvest Test CA",
         "-addext",
         "basicConstraints=critical,CA:TRUE",
         "-addext",
         "keyUsage=critical,keyCertSign,cRLSign"},
        {"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", pki.server_key.string(), "-out", (dir / "server.csr").string(),
         "-subj", "/CN=localhost"},
        {"openssl", "x509", "-req", "-in", (dir / "server.csr").string(), "-CA",
         pki.ca_cert.string(), "-CAkey", pki.ca_key.string(), "-CAcreateserial", "-out",
         pki.server_cert.string(), "-days", "2", "-sha256", "-extfile",
         (dir / "server.ext").string()},
    };
    for (const auto& argv : steps) {
        auto r = run_process(argv, std::chrono::seconds(30));
        if (r.exit_code != 0) {
            fail("openssl " + argv[1] + " failed: " + support_tail(r.err, 2000));
        }
    }
    return pki;
}

nginx_server::nginx_server(nginx_options options) : options_(std::move(options)) {
    fs::create_directories(options_.run_dir / "tmp");
    options_.site = fs::absolute(options_.site);
    options_.run_dir = fs::absolute(options_.run_dir);
    // A free port can be taken between free_port() and nginx's bind: retry with new ones.
    for (int attempt = 0; attempt < 5; ++attempt) {
        if (try_start()) {
            return;
        }
    }
    fail("nginx did not start; error.log: " +
         support_tail(fs::exists(options_.run_dir / "error.log")
                          ? read_file(options_.run_dir / "error.log")
                          : std::string("(none)"),
                      2000));
}

nginx_server::~nginx_server() {
    stop();
}

bool nginx_server::try_start() {
    port_ = free_port();
    tls_port_ = options_.tls ? free_port() : 0;
    if (tls_port_ == port_) {
        return false;
    }
    std::string conf = read_file(source_dir() / "tests/fixtures/nginx.conf.tmpl");
    std::string tls;
    if (options_.tls) {
        tls = "listen 127.0.0.1:" + std::to_string(tls_port_) + " ssl; ssl_certificate " +
              fs::absolute(options_.tls->server_cert).string() + "; ssl_certificate_key " +
              fs::absolute(options_.tls->server_key).string() + ";";
    }
    // As root, nginx workers would switch to nobody, who cannot read a 0700 temp folder.
    replace_all(conf, "@USER_DIRECTIVE@", ::geteuid() == 0 ? "user root;" : "");
    replace_all(conf, "@WORKERS@", std::to_string(options_.workers));
    replace_all(conf, "@RUN@", options_.run_dir.string());
    replace_all(conf, "@ROOT@", options_.site.string());
    replace_all(conf, "@PORT@", std::to_string(port_));
    replace_all(conf, "@TLS_LISTEN@", tls);
    auto conf_path = options_.run_dir / "nginx.conf";
    write_file(conf_path, conf);

    auto log_path = options_.run_dir / "nginx.stderr";
    int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        fail_errno("open " + log_path.string());
    }
    try {
        pid_ = spawn({"/usr/sbin/nginx", "-p", options_.run_dir.string(), "-c", conf_path.string(),
                      "-e", (options_.run_dir / "error.log").string(), "-g", "daemon off;"},
                     {}, {}, log_fd, log_fd);
    } catch (...) {
        ::close(log_fd);
        throw;
    }
    ::close(log_fd);

    auto deadline = steady::now() + 10s;
    while (steady::now() < deadline) {
        if (wait_for(pid_, 0ms)) {  // exited: most likely a port taken in the meantime
            pid_ = -1;
            return false;
        }
        if (port_accepts(port_) && (tls_port_ == 0 || port_accepts(tls_port_))) {
            return true;
        }
        std::this_thread::sleep_for(20ms);
    }
    stop();
    fail("nginx did not accept on 127.0.0.1:" + std::to_string(port_) + " within 10 s");
}

void nginx_server::stop() {
    if (pid_ <= 0) {
        return;
    }
    ::kill(pid_, SIGQUIT);  // graceful: finishes in-flight requests, flushes the log
    if (!wait_for(pid_, 5000ms)) {
        ::kill(-pid_, SIGKILL);
        wait_for(pid_, 5000ms);
    }
    ::kill(-pid_, SIGKILL);  // workers left behind by a master that did not exit cleanly
    pid_ = -1;
}

std::string nginx_server::base_url() const {
    return "http://127.0.0.1:" + std::to_string(port_);
}

std::string nginx_server::tls_base_url() const {
    return "https://127.0.0.1:" + std::to_string(tls_port_);
}

std::vector<access_entry> nginx_server::access_entries() const {
    std::vector<access_entry> entries;
    if (!fs::exists(access_log())) {
        return entries;
    }
    for (const auto& line : read_lines(access_log())) {
        std::istringstream in(line);
        std::string request_time;
        access_entry e;
        if (in >> e.time >> e.status >> e.uri >> request_time >> e.bytes_sent >> e.body_bytes >>
            e.content_encoding >> e.connection) {
            entries.push_back(std::move(e));
        }
    }
    return entries;
}

std::map<std::string, int> nginx_server::request_counts() const {
    std::map<std::string, int> counts;
    for (const auto& e : access_entries()) {
        ++counts[e.uri];
    }
    return counts;
}

bool json_equal(const boost::json::value& a, const boost::json::value& b) {
    if (a.is_number() && b.is_number()) {
        if (a.is_double() || b.is_double()) {
            return a.to_number<double>() == b.to_number<double>();
        }
        if (a.is_int64() && b.is_int64()) {
            return a.as_int64() == b.as_int64();
        }
        return a.to_number<double>() == b.to_number<double>() &&
               !(a.is_int64() && a.as_int64() < 0) && !(b.is_int64() && b.as_int64() < 0);
    }
    if (a.kind() != b.kind()) {
        return false;
    }
    if (a.is_array()) {
        const auto& x = a.as_array();
        const auto& y = b.as_array();
        if (x.size() != y.size()) {
            return false;
        }
        for (std::size_t i = 0; i < x.size(); ++i) {
            if (!json_equal(x[i], y[i])) {
                return false;
            }
        }
        return true;
    }
    if (a.is_object()) {
        const auto& x = a.as_object();
        const auto& y = b.as_object();
        if (x.size() != y.size()) {
            return false;
        }
        for (const auto& kv : x) {
            const auto* other = y.if_contains(kv.key());
            if (other == nullptr || !json_equal(kv.value(), *other)) {
                return false;
            }
        }
        return true;
    }
    return a == b;
}

long long json_int(const boost::json::value& v) {
    if (v.is_int64()) {
        return v.as_int64();
    }
    if (v.is_uint64()) {
        return static_cast<long long>(v.as_uint64());
    }
    if (v.is_double() && std::floor(v.as_double()) == v.as_double()) {
        return static_cast<long long>(v.as_double());
    }
    fail("not an integer: " + boost::json::serialize(v));
}

double rfc3339_seconds(const boost::json::value& v) {
    const std::string text(v.as_string());
    std::tm tm{};
    double seconds = 0;
    if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%lfZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                    &tm.tm_hour, &tm.tm_min, &seconds) != 6) {
        throw std::runtime_error("not an RFC 3339 UTC time: " + text);
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return static_cast<double>(timegm(&tm)) + seconds;
}

background_harvest::background_harvest(const std::vector<std::string>& args, const fs::path& log) {
    std::vector<std::string> argv{harvest_binary().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> raw;
    for (auto& a : argv) {
        raw.push_back(a.data());
    }
    raw.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, raw[0], &actions, nullptr, raw.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
    }
    pid_ = pid;
}

background_harvest::~background_harvest() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
}

void background_harvest::signal(int number) const {
    ::kill(pid_, number);
}

bool background_harvest::wait_until_catching(int number, std::chrono::milliseconds limit) const {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    const std::string status_path = "/proc/" + std::to_string(pid_) + "/status";
    const std::uint64_t bit = std::uint64_t{1} << (number - 1);
    // Not running(): its waitpid would reap an exited child that wait() must still see.
    while (std::chrono::steady_clock::now() < deadline) {
        std::ifstream status(status_path);
        if (!status) {
            return false;
        }
        std::string line;
        while (std::getline(status, line)) {
            if (line.rfind("State:", 0) == 0 && line.find('Z') != std::string::npos) {
                return false;  // exited, not yet reaped
            }
            if (line.rfind("SigCgt:", 0) == 0 &&
                (std::stoull(line.substr(7), nullptr, 16) & bit) != 0) {
                return true;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
}

int background_harvest::wait(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
}

bool background_harvest::running() const {
    return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0;
}

}  // namespace harvest::test
