// Process metrics from /proc, and harvest_build_info.

#include "engine/metrics/process_metrics.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <string>

using namespace harvest::metrics;

TEST_CASE("process stats are read from /proc and plausible", "[unit]") {
    const auto stats = read_process_stats();
    REQUIRE(stats);
    CHECK(stats->cpu_seconds >= 0.0);
    CHECK(stats->cpu_seconds < 1e6);
    CHECK(stats->resident_bytes > 1 << 20);  // a C++ test binary is well above 1 MiB
    CHECK(stats->virtual_bytes >= stats->resident_bytes);
    const double now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    CHECK(stats->start_time_seconds <= now + 2);
    CHECK(stats->start_time_seconds > now - 24 * 3600);

    const auto open = read_open_fds();
    REQUIRE(open);
    CHECK(*open >= 3);
    const int fd = ::open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    const auto open_after = read_open_fds();
    ::close(fd);
    REQUIRE(open_after);
    CHECK(*open_after == *open + 1);

    const auto max = read_max_fds();
    REQUIRE(max);
    CHECK(*max >= *open);
}

TEST_CASE("process metrics and build info are exposed with the constant labels", "[unit]") {
    registry reg({{"crawl", "catalog"}});
    register_process_metrics(reg);
    register_build_info(reg);
    const std::string text = reg.expose();
    for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                             "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                             "process_start_time_seconds"}) {
        INFO(name);
        CHECK(text.find(std::string("# TYPE ") + name) != std::string::npos);
        CHECK(text.find(std::string("\n") + name + "{crawl=\"catalog\"} ") != std::string::npos);
    }
    CHECK(text.find("# TYPE process_cpu_seconds_total counter\n") != std::string::npos);
    CHECK(text.find("harvest_build_info{crawl=\"catalog\",version=\"0.1.0\"} 1\n") !=
          std::string::npos);
    CHECK(std::string(HARVEST_VERSION) == "0.1.0");
}

TEST_CASE("process_cpu_seconds_total grows with work", "[unit]") {
    const auto before = read_process_stats();
    REQUIRE(before);
    // Burn a bounded amount of CPU: about 0.1 s of user time is enough for the tick counter.
    const auto start = std::chrono::steady_clock::now();
    volatile double sink = 0;
    while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(150)) {
        for (int i = 0; i < 10000; ++i) {
            sink = sink + i * 0.5;
        }
    }
    const auto after = read_process_stats();
    REQUIRE(after);
    CHECK(after->cpu_seconds > before->cpu_seconds);
}
