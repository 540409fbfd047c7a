#include "engine/metrics/process_metrics.hpp"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

namespace harvest::metrics {

namespace {

// Reads a small /proc file whole; /proc files report size 0, so read until EOF (bounded).
std::optional<std::string> read_small_file(const char* path) {
    std::FILE* f = std::fopen(path, "re");
    if (f == nullptr) {
        return std::nullopt;
    }
    std::string text;
    char buf[4096];
    constexpr std::size_t max_size = 1 << 20;
    while (text.size() < max_size) {
        const std::size_t n = std::fread(buf, 1, sizeof buf, f);
        text.append(buf, n);
        if (n < sizeof buf) {
            break;
        }
    }
    const bool failed = std::ferror(f) != 0;
    std::fclose(f);
    if (failed) {
        return std::nullopt;
    }
    return text;
}

// What follows the first `key` in the small /proc file `path`; nullopt when the file cannot be
// read or holds no `key`.
std::optional<std::string> text_after(const char* path, std::string_view key) {
    const auto text = read_small_file(path);
    if (!text) {
        return std::nullopt;
    }
    const auto pos = text->find(key);
    if (pos == std::string::npos) {
        return std::nullopt;
    }
    return text->substr(pos + key.size());
}

std::optional<double> boot_time_seconds() {
    const auto btime = text_after("/proc/stat", "\nbtime ");
    if (!btime) {
        return std::nullopt;
    }
    return std::strtod(btime->c_str(), nullptr);
}

}  // namespace

std::optional<process_stats> read_process_stats() {
    const auto stat = read_small_file("/proc/self/stat");
    if (!stat) {
        return std::nullopt;
    }
    // The command name (field 2) is in parentheses and may contain spaces or ')': the fields we
    // want are counted from the last ')'.
    const auto close = stat->rfind(')');
    if (close == std::string::npos) {
        return std::nullopt;
    }
    // After ") ": field 3 (state) is index 0; utime is field 14, stime 15, starttime 22,
    // vsize 23, rss 24 (pages).
    std::vector<std::string_view> fields;
    std::string_view rest(*stat);
    rest.remove_prefix(close + 1);
    while (!rest.empty() && fields.size() < 23) {
        const auto start = rest.find_first_not_of(' ');
        if (start == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(start);
        const auto end = rest.find_first_of(" \n");
        fields.push_back(rest.substr(0, end));
        rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
    }
    if (fields.size() < 22) {
        return std::nullopt;
    }
    const auto number = [&](std::size_t field) {
        return std::strtod(std::string(fields[field - 3]).c_str(), nullptr);
    };
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    if (ticks <= 0 || page <= 0) {
        return std::nullopt;
    }
    process_stats s;
    s.cpu_seconds = (number(14) + number(15)) / ticks;
    s.virtual_bytes = number(23);
    s.resident_bytes = number(24) * page;
    const auto boot = boot_time_seconds();
    if (!boot) {
        return std::nullopt;
    }
    s.start_time_seconds = *boot + number(22) / ticks;
    return s;
}

std::optional<double> read_open_fds() {
    DIR* dir = opendir("/proc/self/fd");
    if (dir == nullptr) {
        return std::nullopt;
    }
    double count = 0;
    // Bounded by the process' own fd limit; counts the directory's own fd, as client_golang.
    while (const dirent* entry = readdir(dir)) {
        if (entry->d_name[0] != '.') {
            ++count;
        }
    }
    closedir(dir);
    return count;
}

std::optional<double> read_max_fds() {
    // "Max open files            1024                 4096                 files"
    const auto after = text_after("/proc/self/limits", "Max open files");
    if (!after) {
        return std::nullopt;
    }
    std::string_view rest(*after);
    const auto start = rest.find_first_not_of(' ');
    if (start == std::string_view::npos) {
        return std::nullopt;
    }
    rest.remove_prefix(start);
    if (rest.starts_with("unlimited")) {
        return std::numeric_limits<double>::infinity();
    }
    char* end = nullptr;
    const std::string soft(rest.substr(0, rest.find(' ')));
    const double value = std::strtod(soft.c_str(), &end);
    if (end == soft.c_str()) {
        return std::nullopt;
    }
    return value;
}

void register_process_metrics(registry& reg) {
    const auto field = [](double process_stats::*member) {
        return [member]() -> std::optional<double> {
            if (const auto s = read_process_stats()) {
                return (*s).*member;
            }
            return std::nullopt;
        };
    };
    reg.add_counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.")
        .bind({}, field(&process_stats::cpu_seconds));
    reg.add_gauge("process_resident_memory_bytes", "Resident memory size in bytes.")
        .bind({}, field(&process_stats::resident_bytes));
    reg.add_gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.")
        .bind({}, field(&process_stats::virtual_bytes));
    reg.add_gauge("process_start_time_seconds",
                  "Start time of the process since unix epoch in seconds.")
        .bind({}, field(&process_stats::start_time_seconds));
    reg.add_gauge("process_open_fds", "Number of open file descriptors.").bind({}, read_open_fds);
    reg.add_gauge("process_max_fds", "Maximum number of open file descriptors.")
        .bind({}, read_max_fds);
}

void register_build_info(registry& reg, std::string_view version) {
    reg.add_gauge("harvest_build_info",
                  "A metric with a constant '1' value labeled by the Harvest version.", {"version"})
        .with({version})
        .set(1.0);
}

}  // namespace harvest::metrics
