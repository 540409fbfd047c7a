#include "pipelines/outputs/output.hpp"

#include "pipelines/outputs/csv_output.hpp"
#include "pipelines/outputs/jsonl_output.hpp"
#include "pipelines/outputs/sqlite_output.hpp"

#include <stdexcept>

namespace harvest::pipelines {

output::~output() = default;

std::string_view to_string(output_type type) noexcept {
    switch (type) {
        case output_type::jsonl: return "jsonl";
        case output_type::csv: return "csv";
        case output_type::sqlite: return "sqlite";
        case output_type::webhook: return "webhook";
    }
    return "unknown";
}

std::string output_id(const output_spec& spec) {
    return std::string(to_string(spec.type)) + ":" + spec.path;
}

bool output_supported(output_type type) noexcept { return type != output_type::webhook; }

std::unique_ptr<output> make_output(const output_spec& spec) {
    switch (spec.type) {
        case output_type::jsonl: return std::make_unique<jsonl_output>(spec.path, spec.append);
        case output_type::csv:
            return std::make_unique<csv_output>(spec.path, spec.columns, spec.append);
        case output_type::sqlite:
            return std::make_unique<sqlite_output>(spec.path, spec.table, spec.key);
        case output_type::webhook:
            throw std::invalid_argument("output type webhook is not supported yet");
    }
    throw std::invalid_argument("unknown output type");
}

}  // namespace harvest::pipelines
