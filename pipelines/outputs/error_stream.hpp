#pragma once
// The error stream: requests given up for good, one JSON line each (shared/spec/items.md):
//   {"url", "error", "attempts", "status"?, "final_at", "last_error"?}
// `status` only when there was a response; `last_error` (an extension) only when there was a
// transport error kind. Written next to the first JSONL output: out/items.jsonl ->
// out/items.errors.jsonl. Truncated by a new run, like the JSONL output.
//
// Thread-safety: none; the pipeline sink's writer coroutine is its only caller.

#include "engine/crawl/sink.hpp"
#include "pipelines/item.hpp"
#include "pipelines/outputs/jsonl_output.hpp"

#include <string>
#include <string_view>

namespace harvest::pipelines {

// "<path without its .jsonl extension>.errors.jsonl"; a path not ending in ".jsonl" keeps its
// whole name: "out/items" -> "out/items.errors.jsonl".
std::string error_stream_path(std::string_view jsonl_path);

// The line written for `failure`.
item failure_item(const crawl::failure_record& failure);

class error_stream {
public:
    // Throws std::runtime_error naming the path when the file cannot be created.
    explicit error_stream(std::string path);

    void write(const crawl::failure_record& failure);  // throws std::system_error
    void flush();
    void close();

    const std::string& path() const noexcept { return file_.path(); }

private:
    jsonl_output file_;
};

}  // namespace harvest::pipelines
