#pragma once
// A real redis-server for tests: started on a free loopback port with its files in a fresh
// temporary folder (no persistence), ready when the constructor returns, stopped by pid (and its
// folder removed) on destruction. POSIX only, no Asio, so both the unit and the integration test
// binaries can use it.
//
// Throws std::runtime_error when redis-server cannot be started: a broken test environment is a
// failed test, not a skipped one.

#include <filesystem>
#include <string>

namespace harvest::test {

class redis_server {
  public:
    redis_server();
    ~redis_server();
    redis_server(const redis_server&) = delete;
    redis_server& operator=(const redis_server&) = delete;

    int port() const { return port_; }
    std::string url() const;  // redis://127.0.0.1:PORT/0
    const std::filesystem::path& dir() const { return dir_; }
    // Runs redis-cli against this server and returns its stdout (for test setup and checks).
    std::string cli(const std::string& arguments) const;
    void stop();

  private:
    bool try_start();

    std::filesystem::path dir_;
    int port_ = 0;
    int pid_ = -1;
};

}  // namespace harvest::test
