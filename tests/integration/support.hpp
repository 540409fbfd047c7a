#pragma once
// Shared helpers of the integration tests: temp folders, child processes, a real nginx serving a
// generated catalog, a throwaway TLS PKI and JSON Lines reading. POSIX only, no Asio: the
// integration binary links Boost::json and harvest_engine_core and drives `harvest` as a process.
//
// Everything here throws std::runtime_error when the test environment itself is broken (nginx
// will not start, the generator fails): that is a failed test, not a skipped one.

#include <boost/json.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace harvest::test {

namespace fs = std::filesystem;

// The repository root and the harvest executable, as compiled in by tests/CMakeLists.txt.
fs::path source_dir();
fs::path harvest_binary();

// A loopback TCP port that was free a moment ago, below the kernel's ephemeral range and never
// handed out twice by this process (support.cpp). Another test process may still take it before
// the caller binds: nginx_server retries with a new one.
int free_port();

// True when something accepts TCP connections on 127.0.0.1:port.
bool port_accepts(int port);

// A fresh folder under $TMPDIR (or /tmp), removed with everything in it on destruction unless
// the environment has HARVEST_KEEP_TMP=1 (then its path is printed to stderr).
class temp_dir {
  public:
    explicit temp_dir(std::string_view prefix = "harvest-test");
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    const fs::path& path() const { return path_; }
    fs::path operator/(std::string_view child) const { return path_ / child; }

  private:
    fs::path path_;
};

struct process_result {
    int exit_code = -1;  // the exit status, or 128 + signal number when killed by a signal
    std::string out;     // everything written to stdout
    std::string err;     // everything written to stderr
    bool timed_out = false;
};

struct process_options {
    std::chrono::milliseconds timeout{std::chrono::seconds(60)};
    std::vector<std::string> env;  // extra NAME=VALUE entries on top of the test's environment
    fs::path cwd;                  // empty: the test's working directory
};

// Runs argv[0] (looked up on PATH) with stdin from /dev/null, collecting stdout and stderr.
// Past the timeout the child's whole process group is killed and timed_out is set.
process_result run_process(const std::vector<std::string>& argv, const process_options& options);
process_result run_process(const std::vector<std::string>& argv,
                           std::chrono::milliseconds timeout = std::chrono::seconds(60));
// For INFO: the exit status, and the last 4,000 bytes of stdout (when there is any) and stderr.
std::string describe(const process_result& r);

// File helpers. read_lines drops the trailing '\n' of each line (and a '\r' before it).
std::string read_file(const fs::path& path);
void write_file(const fs::path& path, std::string_view content);
std::vector<std::string> read_lines(const fs::path& path);

// One JSON object per non-empty line; throws with the line number on anything else.
// A missing file reads as no objects (a run that emitted nothing may not create its output).
std::vector<boost::json::object> read_jsonl(const fs::path& path);

// `harvest run` writes failures to items.errors.jsonl beside items.jsonl.
fs::path errors_path_for(const fs::path& jsonl_path);

// Runs tests/fixtures/gen_catalog.py (python3) into `out`. See the script for the layout.
// `harvest ARGS...` in the background: stdin from /dev/null, stdout and stderr appended to
// `log`. Killed (SIGKILL) if still running when it goes out of scope.
class background_harvest {
  public:
    background_harvest(const std::vector<std::string>& args, const fs::path& log);
    ~background_harvest();
    background_harvest(const background_harvest&) = delete;
    background_harvest& operator=(const background_harvest&) = delete;

    void signal(int number) const;
    // Waits at most `limit` until the process has a handler for `number` (its SigCgt in
    // /proc/PID/status), so that a signal sent next is handled rather than killing it. False
    // when it never had one, or exited first.
    bool wait_until_catching(int number, std::chrono::milliseconds limit) const;
    // Exit status (or 128 + signal), waiting at most `limit`; -1 when still running.
    int wait(std::chrono::milliseconds limit);
    bool running() const;
    int pid() const { return pid_; }

  private:
    int pid_ = -1;
};

struct catalog_options {
    int products = 2000;
    int seed = 1;
    double gzip_fraction = 0.2;
};
void generate_catalog(const fs::path& out, const catalog_options& options = {});

// A CA and a server certificate it signed for IP:127.0.0.1 and DNS:localhost, made with the
// openssl CLI in `dir` (EC P-256 keys, valid two days).
struct test_pki {
    fs::path ca_cert;      // dir/ca.pem
    fs::path ca_key;       // dir/ca.key
    fs::path server_cert;  // dir/server.pem
    fs::path server_key;   // dir/server.key
};
test_pki make_test_pki(const fs::path& dir);

// One line of the fixture nginx's access log (tests/fixtures/nginx.conf.tmpl, format
// harvest_test).
struct access_entry {
    double time = 0;  // $msec: when nginx logged it, in seconds since the epoch
    int status = 0;
    std::string uri;               // $request_uri: path and query as requested
    long long bytes_sent = 0;      // headers + body
    long long body_bytes = 0;      // body only, as sent (compressed when gzip)
    std::string content_encoding;  // "-" when none
    long long connection = 0;      // connection serial number
};

struct nginx_options {
    fs::path site;                // document root
    fs::path run_dir;             // conf, pid, logs, temp files (created)
    std::optional<test_pki> tls;  // also serve HTTPS on tls_port() with server_cert/key
    int workers = 1;
};

// A standalone nginx started from tests/fixtures/nginx.conf.tmpl in the foreground as a child
// of the test (its own process group), ready when the constructor returns. Stopped by pid on
// destruction: SIGQUIT (graceful), SIGKILL to the group after 5 s.
class nginx_server {
  public:
    explicit nginx_server(nginx_options options);
    ~nginx_server();
    nginx_server(const nginx_server&) = delete;
    nginx_server& operator=(const nginx_server&) = delete;

    int port() const { return port_; }
    int tls_port() const { return tls_port_; }  // 0 without TLS
    std::string base_url() const;               // http://127.0.0.1:PORT
    std::string tls_base_url() const;           // https://127.0.0.1:TLS_PORT
    fs::path access_log() const { return options_.run_dir / "access.log"; }
    std::vector<access_entry> access_entries() const;
    // How many times each URI was requested, from the access log.
    std::map<std::string, int> request_counts() const;
    void stop();

  private:
    bool try_start();

    nginx_options options_;
    int port_ = 0;
    int tls_port_ = 0;
    int pid_ = -1;
};

// Numbers compare by value (12 == 12.0; doubles exactly, after both were parsed from text);
// everything else structurally. Boost.JSON's own == tells int64 12 from double 12.0.
bool json_equal(const boost::json::value& a, const boost::json::value& b);

// A JSON integer as int64 (throws when not an integer number).
long long json_int(const boost::json::value& v);

// Seconds since the epoch of an RFC 3339 UTC time "YYYY-MM-DDTHH:MM:SS(.fff)Z" (throws when
// it is not one).
double rfc3339_seconds(const boost::json::value& v);

}  // namespace harvest::test
