#include "pipelines/outputs/csv_output.hpp"

#include "engine/core/text.hpp"
#include "pipelines/outputs/output_file.hpp"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace harvest::pipelines {

namespace {

bool needs_quotes(std::string_view text) {
    return text.empty() || text.find_first_of(",\"\r\n") != std::string_view::npos;
}

// One field for `value`; `scratch` holds the compact JSON of nested values.
void append_csv_value(std::string& out, const boost::json::value& value, std::string& scratch) {
    switch (value.kind()) {
        case boost::json::kind::null:
            break;
        case boost::json::kind::bool_:
            out += value.get_bool() ? "true" : "false";
            break;
        case boost::json::kind::int64:
            append_integer(out, value.get_int64());
            break;
        case boost::json::kind::uint64:
            append_integer(out, value.get_uint64());
            break;
        case boost::json::kind::double_:
            // NaN and infinities have no JSON text; the JSONL writer writes null, so: empty.
            if (std::isfinite(value.get_double())) {
                out += format_double(value.get_double());
            }
            break;
        case boost::json::kind::string:
            append_csv_field(out, value.get_string());
            break;
        case boost::json::kind::array:
        case boost::json::kind::object:
            scratch.clear();
            append_json(scratch, value);
            append_csv_field(out, scratch);
            break;
    }
}

}  // namespace

void append_csv_field(std::string& out, std::string_view text) {
    const bool quoted = needs_quotes(text);
    if (quoted) {
        out.push_back('"');
    }
    std::size_t i = 0;
    while (i < text.size()) {
        // Copy runs of plain ASCII at once: most text is nothing but that.
        std::size_t end = i;
        while (end < text.size() && static_cast<unsigned char>(text[end]) < 0x80 &&
               text[end] != '"') {
            ++end;
        }
        out.append(text.substr(i, end - i));
        i = end;
        if (i == text.size()) {
            break;
        }
        if (text[i] == '"') {
            out += "\"\"";
            ++i;
            continue;
        }
        i = core::append_utf8_at(out, text, i);
    }
    if (quoted) {
        out.push_back('"');
    }
}

namespace {

// The fields of the file's first line (RFC 4180 quoting).
std::vector<std::string> read_header(const std::string& path) {
    std::vector<std::string> fields(1);
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (file == nullptr) {
        return {};
    }
    bool quoted = false;
    for (int c = std::fgetc(file); c != EOF; c = std::fgetc(file)) {
        if (quoted) {
            if (c == '"') {
                const int next = std::fgetc(file);
                if (next == '"') {
                    fields.back().push_back('"');
                    continue;
                }
                quoted = false;
                if (next == EOF) {
                    break;
                }
                c = next;
            } else {
                fields.back().push_back(static_cast<char>(c));
                continue;
            }
        }
        if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            fields.emplace_back();
        } else if (c == '\r' || c == '\n') {
            break;
        } else {
            fields.back().push_back(static_cast<char>(c));
        }
    }
    std::fclose(file);
    return fields;
}

}  // namespace

csv_output::csv_output(std::string path, std::vector<std::string> columns, bool append)
    : name_("csv:" + path),
      file_(std::move(path), append, buffer_size),
      columns_(std::move(columns)) {
    if (file_.flushed_size() > 0) {
        // Resumed: the header is already in the file, and it names the columns when the
        // config did not.
        header_written_ = true;
        if (columns_.empty()) {
            columns_ = read_header(file_.path());
        }
        return;
    }
    if (!columns_.empty()) {
        write_header();
    }
}

void csv_output::write_header() {
    line_.clear();
    for (std::size_t i = 0; i < columns_.size(); ++i) {
        if (i > 0) {
            line_.push_back(',');
        }
        append_csv_field(line_, columns_[i]);
    }
    line_ += "\r\n";
    write_line();
    header_written_ = true;
}

void csv_output::write_line() {
    file_.write(line_);
}

void csv_output::write(const item& value) {
    if (!file_.is_open()) {
        throw std::logic_error("csv_output::write after close: " + file_.path());
    }
    if (!header_written_) {
        // No configured columns: the first item decides them (documented in the header).
        for (const auto& entry : value) {
            columns_.emplace_back(entry.key());
        }
        write_header();
    }
    line_.clear();
    for (std::size_t i = 0; i < columns_.size(); ++i) {
        if (i > 0) {
            line_.push_back(',');
        }
        const auto found = value.find(columns_[i]);
        if (found != value.end()) {
            append_csv_value(line_, found->value(), json_);
        }
    }
    line_ += "\r\n";
    write_line();
}

void csv_output::flush() {
    file_.flush();
}

void csv_output::close() {
    file_.close();
}

}  // namespace harvest::pipelines
