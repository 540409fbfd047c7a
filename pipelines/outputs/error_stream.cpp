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

namespace {

// The fields every line has (a failure_record's or an undelivered_batch's), `reserve` slots
// in all: {"url", "error", "attempts", "status"?, "final_at", "last_error"?}.
template <class Record>
item error_line(const Record& record, std::chrono::system_clock::time_point final_at,
                std::size_t reserve) {
    item line;
    line.reserve(reserve);
    line.emplace("url", record.url);
    line.emplace("error", core::to_string(record.error));
    line.emplace("attempts", static_cast<std::int64_t>(record.attempts));
    if (record.status) {
        line.emplace("status", static_cast<std::int64_t>(*record.status));
    }
    line.emplace("final_at", format_rfc3339_ms(final_at));
    if (record.last_error) {
        line.emplace("last_error", core::to_string(*record.last_error));
    }
    return line;
}

}  // namespace

item failure_item(const crawl::failure_record& failure) {
    return error_line(failure, failure.final_at, 6);
}

item undelivered_item(const undelivered_batch& batch, std::chrono::system_clock::time_point now) {
    item line = error_line(batch, now, 9);
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
