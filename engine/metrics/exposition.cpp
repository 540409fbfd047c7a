#include "engine/metrics/exposition.hpp"

#include "engine/core/text.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <system_error>

namespace harvest::metrics {

std::string_view to_string(metric_type type) noexcept {
    switch (type) {
        case metric_type::counter:
            return "counter";
        case metric_type::gauge:
            return "gauge";
        case metric_type::histogram:
            return "histogram";
    }
    return "untyped";
}

void append_double(std::string& out, double value) {
    if (std::isnan(value)) {
        out += "NaN";
        return;
    }
    if (std::isinf(value)) {
        out += value > 0 ? "+Inf" : "-Inf";
        return;
    }
    if (value == 0.0) {
        // Go's writeFloat special-cases 0 (and -0 compares equal to it).
        out += '0';
        return;
    }
    // 32 chars hold any shortest double in either notation (at most 17 significant digits,
    // sign, point, "e-308"); fixed notation is only used for exponents in [-4, 6).
    std::array<char, 64> buf{};
    auto sci =
        std::to_chars(buf.data(), buf.data() + buf.size(), value, std::chars_format::scientific);
    const std::string_view sci_text(buf.data(), static_cast<std::size_t>(sci.ptr - buf.data()));
    const auto e = sci_text.find('e');
    const int exponent = std::atoi(sci_text.data() + e + 1);  // "+06" / "-05": atoi reads the sign
    if (exponent < -4 || exponent >= 6) {
        // to_chars' scientific form already matches Go's: "d.ddde±XX", two exponent digits min.
        out += sci_text;
        return;
    }
    auto fixed =
        std::to_chars(buf.data(), buf.data() + buf.size(), value, std::chars_format::fixed);
    out.append(buf.data(), fixed.ptr);
}

std::string format_double(double value) {
    std::string out;
    append_double(out, value);
    return out;
}

namespace {

// The text format's escapes: backslash and newline always, the double quote when `quote`.
void append_escaped(std::string& out, std::string_view text, bool quote) {
    for (const char c : text) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '"' && quote) {
            out += "\\\"";
        } else {
            out += c;
        }
    }
}

}  // namespace

void append_escaped_label_value(std::string& out, std::string_view value) {
    append_escaped(out, value, /*quote=*/true);
}

void append_escaped_help(std::string& out, std::string_view help) {
    append_escaped(out, help, /*quote=*/false);
}

namespace {

bool is_name_start(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

}  // namespace

bool is_valid_metric_name(std::string_view name) noexcept {
    if (name.empty()) {
        return false;
    }
    for (std::size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        const bool ok = is_name_start(c) || c == ':' || (i > 0 && core::is_ascii_digit(c));
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool is_valid_label_name(std::string_view name) noexcept {
    if (name.empty() || name.starts_with("__")) {
        return false;
    }
    for (std::size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        if (!(is_name_start(c) || (i > 0 && core::is_ascii_digit(c)))) {
            return false;
        }
    }
    return true;
}
std::string sanitize_utf8(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    core::append_valid_utf8(out, value);
    return out;
}

void text_writer::family(std::string_view name, std::string_view help, metric_type type) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    append_escaped_help(out_, help);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += to_string(type);
    out_ += '\n';
}

void text_writer::series_name(std::string_view name, std::span<const label_pair> labels,
                              std::span<const label_pair> extra) {
    out_ += name;
    if (labels.empty() && extra.empty()) {
        return;
    }
    out_ += '{';
    bool first = true;
    for (const auto& group : {labels, extra}) {
        for (const label_pair& label : group) {
            if (!first) {
                out_ += ',';
            }
            first = false;
            out_ += label.name;
            out_ += "=\"";
            append_escaped_label_value(out_, label.value);
            out_ += '"';
        }
    }
    out_ += '}';
}

void text_writer::sample(std::string_view name, std::span<const label_pair> labels, double value,
                         std::span<const label_pair> extra) {
    series_name(name, labels, extra);
    out_ += ' ';
    append_double(out_, value);
    out_ += '\n';
}

void text_writer::sample(std::string_view name, std::span<const label_pair> labels,
                         std::uint64_t value, std::span<const label_pair> extra) {
    series_name(name, labels, extra);
    out_ += ' ';
    std::array<char, 24> buf{};
    auto res = std::to_chars(buf.data(), buf.data() + buf.size(), value);
    out_.append(buf.data(), res.ptr);
    out_ += '\n';
}

}  // namespace harvest::metrics
