#pragma once

// Prometheus text exposition format 0.0.4: the writer the registry uses, and the small
// formatting pieces (floats, escaping, name checks) kept public so they can be tested against
// the Go client's own vectors (tests/data/prometheus_text).
//
// No I/O and no Asio: this builds into harvest_engine_core.

#include "engine/core/text.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace harvest::metrics {

// The Content-Type a /metrics endpoint must send with registry::expose()'s text.
inline constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

enum class metric_type { counter, gauge, histogram };

// "counter", "gauge", "histogram": the word used on `# TYPE` lines.
[[nodiscard]] std::string_view to_string(metric_type type) noexcept;

// One label of one series; views, valid for the duration of the call that takes them.
struct label_pair {
    std::string_view name;
    std::string_view value;
};

// Appends `value` exactly as the Go client (expfmt.writeFloat) does, so that scrapes of Harvest
// read like scrapes of any Prometheus exporter: "NaN", "+Inf", "-Inf", "0" for ±0, otherwise
// the shortest representation that round-trips (strconv 'g', -1): fixed notation when the
// decimal exponent is in [-4, 6), scientific with at least two exponent digits otherwise
// ("1.7560473e+06", "1e-05").
void append_double(std::string& out, double value);
[[nodiscard]] std::string format_double(double value);

// Label values escape \ " and newline; HELP text escapes \ and newline only (format 0.0.4).
void append_escaped_label_value(std::string& out, std::string_view value);
void append_escaped_help(std::string& out, std::string_view help);

// Legacy (pre-UTF-8) name rules, which every Prometheus version accepts:
// metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* and not "__"-prefixed
// (reserved for Prometheus' own labels).
[[nodiscard]] bool is_valid_metric_name(std::string_view name) noexcept;
[[nodiscard]] bool is_valid_label_name(std::string_view name) noexcept;

// Returns `value` with every invalid UTF-8 sequence replaced by U+FFFD. Label values come from
// the network (host names); the Prometheus parser rejects a whole scrape on invalid UTF-8.
[[nodiscard]] std::string sanitize_utf8(std::string_view value);
using core::is_valid_utf8;

// Appends lines of the text format to a string. It does not check names or ordering: the
// registry does that once, when a family is created; this only formats.
class text_writer {
  public:
    explicit text_writer(std::string& out) noexcept : out_(out) {}

    // `# HELP name help` and `# TYPE name type`.
    void family(std::string_view name, std::string_view help, metric_type type);

    // `name{a="x",b="y"} value` (no braces when there are no labels). `extra` (may be empty)
    // is written after `labels`: the histogram's `le`.
    void sample(std::string_view name, std::span<const label_pair> labels, double value,
                std::span<const label_pair> extra = {});
    void sample(std::string_view name, std::span<const label_pair> labels, std::uint64_t value,
                std::span<const label_pair> extra = {});

  private:
    void series_name(std::string_view name, std::span<const label_pair> labels,
                     std::span<const label_pair> extra);

    std::string& out_;
};

}  // namespace harvest::metrics
