#include "engine/crawl/stats.hpp"

namespace harvest::crawl {

void crawl_stats::count_failure(core::failure_kind kind) {
    failed_total.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(mutex_);
    ++failures_[std::string(core::to_string(kind))];
}

void crawl_stats::count_transport_error(core::failure_kind kind) {
    std::lock_guard lock(mutex_);
    ++transport_errors_[std::string(core::to_string(kind))];
}

std::map<unsigned, std::uint64_t> crawl_stats::responses() const {
    std::map<unsigned, std::uint64_t> out;
    for (unsigned code = 0; code < responses_.size(); ++code) {
        if (auto n = responses_[code].load(std::memory_order_relaxed); n != 0) {
            out[code] = n;
        }
    }
    return out;
}

std::map<std::string, std::uint64_t> crawl_stats::failures() const {
    std::lock_guard lock(mutex_);
    return failures_;
}

std::map<std::string, std::uint64_t> crawl_stats::transport_errors() const {
    std::lock_guard lock(mutex_);
    return transport_errors_;
}

}  // namespace harvest::crawl
