#include "pipelines/outputs/error_stream.hpp"

#include <utility>

namespace harvest::pipelines {

std::string error_stream_path(std::string_view jsonl_path) {
    constexpr std::string_view extension = ".jsonl";
    std::string_view stem = jsonl_path;
    if (stem.size() >= extension.size() &&
        stem.substr(stem.size() - extension.size()) == extension) {
        stem.remove_suffix(extension.size());
    }
    return std::string(stem) + ".errors.jsonl";
}

item failure_item(const crawl::failure_record& failure) {
    item line;
    line.reserve(6);
    line.emplace("url", failure.url);
    line.emplace("error", core::to_string(failure.error));
    line.emplace("attempts", static_cast<std::int64_t>(failure.attempts));
    if (failure.status) {
        line.emplace("status", static_cast<std::int64_t>(*failure.status));
    }
    line.emplace("final_at", format_rfc3339_ms(failure.final_at));
    if (failure.last_error) {
        line.emplace("last_error", core::to_string(*failure.last_error));
    }
    return line;
}

item undelivered_item(const undelivered_batch& batch, std::chrono::system_clock::time_point now) {
    item line;
    line.reserve(9);
    line.emplace("url", batch.url);
    line.emplace("error", core::to_string(batch.error));
    line.emplace("attempts", static_cast<std::int64_t>(batch.attempts));
    if (batch.status) {
        line.emplace("status", static_cast<std::int64_t>(*batch.status));
    }
    line.emplace("final_at", format_rfc3339_ms(now));
    if (batch.last_error) {
        line.emplace("last_error", core::to_string(*batch.last_error));
    }
    line.emplace("output", batch.output);
    line.emplace("idempotency_key", batch.idempotency_key);
    line.emplace("items", batch.items);
    return line;
}

std::string error_stream_id(std::string_view path) {
    return "errors:" + std::string(path);
}

error_stream::error_stream(std::string path, bool append) : file_(std::move(path), append) {}

void error_stream::write(const crawl::failure_record& failure) {
    file_.write(failure_item(failure));
}

void error_stream::write(const undelivered_batch& batch) {
    file_.write(undelivered_item(batch, std::chrono::system_clock::now()));
}

void error_stream::flush() {
    file_.flush();
}

void error_stream::close() {
    file_.close();
}

}  // namespace harvest::pipelines
