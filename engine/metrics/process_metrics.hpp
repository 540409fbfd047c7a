#pragma once

// The standard process metrics of Prometheus client libraries, read from /proc at scrape time,
// and `harvest_build_info`. Linux only; where /proc is unreadable the series are left out of
// that scrape rather than reported as 0.

#include "engine/metrics/registry.hpp"

#include <optional>
#include <string_view>

#ifndef HARVEST_VERSION
#define HARVEST_VERSION "0.0.0"
#endif

namespace harvest::metrics {

struct process_stats {
    double cpu_seconds = 0.0;  // user + system
    double resident_bytes = 0.0;
    double virtual_bytes = 0.0;
    double start_time_seconds = 0.0;  // since the Unix epoch
};

// From /proc/self/stat (and /proc/stat's btime for the start time).
[[nodiscard]] std::optional<process_stats> read_process_stats();
// Entries of /proc/self/fd.
[[nodiscard]] std::optional<double> read_open_fds();
// The soft "Max open files" of /proc/self/limits; +Inf when unlimited.
[[nodiscard]] std::optional<double> read_max_fds();

// Adds process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds and process_start_time_seconds as callback series.
void register_process_metrics(registry& reg);

// Adds `harvest_build_info{version="..."} 1`.
void register_build_info(registry& reg, std::string_view version = HARVEST_VERSION);

}  // namespace harvest::metrics
