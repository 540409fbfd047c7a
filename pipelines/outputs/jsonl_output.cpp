#include "pipelines/outputs/jsonl_output.hpp"

#include <utility>

namespace harvest::pipelines {

jsonl_output::jsonl_output(std::string path, bool append)
    : name_("jsonl:" + path), file_(std::move(path), append, buffer_size) {}

void jsonl_output::write(const item& value) {
    line_.clear();
    append_json(line_, value);
    line_.push_back('\n');
    file_.write(line_);
}

void jsonl_output::write_json_lines(std::string_view lines, std::size_t count) {
    (void)count;  // the lines are the file's bytes as they are
    file_.write(lines);
}

void jsonl_output::flush() {
    file_.flush();
}

void jsonl_output::close() {
    file_.close();
}

}  // namespace harvest::pipelines
