#pragma once
// The error stream: requests given up for good, one JSON line each (docs/items.md):
//   {"url", "error", "attempts", "status"?, "final_at", "last_error"?}
// `status` only when there was a response; `last_error` (an extension) only when there was a
// transport error kind. Written next to the first JSONL output: out/items.jsonl ->
// out/items.errors.jsonl. Truncated by a new run, like the JSONL output.
// A batch an asynchronous output (webhook) gave up on is one line too, with the same fields
// plus "output", "idempotency_key" and "items" (the batch's items).
//
// Thread-safety: none; the pipeline sink's writer coroutine is its only caller.

#include "engine/crawl/sink.hpp"
#include "pipelines/item.hpp"
#include "pipelines/outputs/jsonl_output.hpp"
#include "pipelines/outputs/output.hpp"

#include <string>
#include <string_view>

namespace harvest::pipelines {

// "<path without its .jsonl extension>.errors.jsonl"; a path not ending in ".jsonl" keeps its
// whole name: "out/items" -> "out/items.errors.jsonl".
std::string error_stream_path(std::string_view jsonl_path);

// The error stream's key in the state journal: "errors:<path>".
std::string error_stream_id(std::string_view path);

// The line written for `failure`.
item failure_item(const crawl::failure_record& failure);
// The line written for a batch an output gave up on; `final_at` is `now`.
item undelivered_item(const undelivered_batch& batch, std::chrono::system_clock::time_point now);

class error_stream {
  public:
    // Throws std::runtime_error naming the path when the file cannot be created.
    // append: keep what the file holds (resume).
    explicit error_stream(std::string path, bool append = false);

    void write(const crawl::failure_record& failure);  // throws std::system_error
    void write(const undelivered_batch& batch);        // throws std::system_error
    void flush();
    void close();

    const std::string& path() const noexcept { return file_.path(); }
    std::optional<std::uint64_t> flushed_size() const { return file_.flushed_size(); }

  private:
    jsonl_output file_;
};

}  // namespace harvest::pipelines
