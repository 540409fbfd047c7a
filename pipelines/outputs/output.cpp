#include "pipelines/outputs/output.hpp"

#include "pipelines/outputs/csv_output.hpp"
#include "pipelines/outputs/jsonl_output.hpp"
#include "pipelines/outputs/sqlite_output.hpp"
#include "pipelines/outputs/webhook_output.hpp"

#include <stdexcept>

namespace harvest::pipelines {

output::~output() = default;

void output::write_json_lines(std::string_view, std::size_t) {
    throw std::logic_error("output::write_json_lines: the output does not write JSON lines");
}

std::string_view to_string(output_type type) noexcept {
    switch (type) {
        case output_type::jsonl:
            return "jsonl";
        case output_type::csv:
            return "csv";
        case output_type::sqlite:
            return "sqlite";
        case output_type::webhook:
            return "webhook";
    }
    return "unknown";
}

std::string output_id(const output_spec& spec) {
    return std::string(to_string(spec.type)) + ":" +
           (spec.type == output_type::webhook ? spec.url : spec.path);
}

bool output_supported(output_type type) noexcept {
    return type == output_type::jsonl || type == output_type::csv || type == output_type::sqlite ||
           type == output_type::webhook;
}

void async_output::write(const item&) {
    throw std::logic_error("async_output::write: use write_async");
}

void async_output::flush() {
    throw std::logic_error("async_output::flush: use close_async");
}

void async_output::close() {
    throw std::logic_error("async_output::close: use close_async");
}

std::unique_ptr<output> make_output(const output_spec& spec) {
    switch (spec.type) {
        case output_type::jsonl:
            return std::make_unique<jsonl_output>(spec.path, spec.append);
        case output_type::csv:
            return std::make_unique<csv_output>(spec.path, spec.columns, spec.append);
        case output_type::sqlite:
            return std::make_unique<sqlite_output>(spec.path, spec.table, spec.key);
        case output_type::webhook:
            return std::make_unique<webhook_output>(spec);
    }
    throw std::invalid_argument("unknown output type");
}

}  // namespace harvest::pipelines
