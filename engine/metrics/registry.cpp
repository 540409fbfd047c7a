#include "engine/metrics/registry.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace harvest::metrics {

namespace detail {

std::size_t next_thread_slot() noexcept {
    static std::atomic<std::size_t> next{0};
    return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace detail

// ---- cells ----------------------------------------------------------------------------------

double counter::value() const noexcept {
    std::uint64_t whole = 0;
    for (const shard& s : shards_) {
        whole += s.value.load(std::memory_order_relaxed);
    }
    return static_cast<double>(whole) +
           std::bit_cast<double>(fraction_bits_.load(std::memory_order_relaxed));
}

histogram::histogram(std::span<const double> bounds)
    : bounds_(bounds),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds.size() + 1)) {}

void histogram::observe(double v) noexcept {
    std::size_t index = bounds_.size();  // +Inf, also where NaN goes
    if (!std::isnan(v)) {
        // First bound >= v: `le` is inclusive.
        index = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) -
                                         bounds_.begin());
    }
    buckets_[index].fetch_add(1, std::memory_order_relaxed);
    detail::atomic_add_double(sum_bits_, v);
}

histogram::snapshot histogram::collect() const {
    snapshot s;
    s.cumulative.reserve(bounds_.size() + 1);
    std::uint64_t running = 0;
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
        running += buckets_[i].load(std::memory_order_relaxed);
        s.cumulative.push_back(running);
    }
    s.count = running;
    s.sum = std::bit_cast<double>(sum_bits_.load(std::memory_order_relaxed));
    return s;
}

std::vector<double> default_latency_buckets() {
    return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

std::vector<double> default_backoff_buckets() {
    return {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
}

// ---- families -------------------------------------------------------------------------------

family::family(std::string name, std::string help, metric_type type,
               std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)) {}

void family::check_arity(std::size_t values) const {
    if (values != label_names_.size()) {
        throw std::invalid_argument("metric " + name_ + ": expected " +
                                    std::to_string(label_names_.size()) + " label values, got " +
                                    std::to_string(values));
    }
}

namespace {

// The key stored for `values`: copies, with invalid UTF-8 replaced (see sanitize_utf8).
detail::label_key make_key(std::span<const std::string_view> values) {
    detail::label_key key;
    key.reserve(values.size());
    for (std::string_view v : values) {
        key.push_back(sanitize_utf8(v));
    }
    return key;
}

// Const labels followed by the family's labels for one series.
std::vector<label_pair> series_labels(std::span<const label_pair> const_labels,
                                      const std::vector<std::string>& names,
                                      const detail::label_key& values) {
    std::vector<label_pair> labels(const_labels.begin(), const_labels.end());
    for (std::size_t i = 0; i < names.size(); ++i) {
        labels.push_back({names[i], values[i]});
    }
    return labels;
}

// Finds `values`, first as given (no allocation), then in their sanitized form.
template <class Map>
auto find_series(Map& map, std::span<const std::string_view> values, detail::label_key& key) {
    auto it = map.find(values);
    if (it == map.end() && !std::all_of(values.begin(), values.end(), is_valid_utf8)) {
        key = make_key(values);
        it = map.find(key);
    }
    return it;
}

}  // namespace

template <class Cell>
Cell& scalar_family<Cell>::with_values(std::span<const std::string_view> values) {
    check_arity(values.size());
    std::lock_guard lock(mutex_);
    detail::label_key key;
    auto it = find_series(series_, values, key);
    if (it != series_.end()) {
        if (!it->second.cell) {
            throw std::logic_error("metric " + name() + ": these labels are bound to a callback");
        }
        return *it->second.cell;
    }
    if (key.empty()) {
        key = make_key(values);
    }
    detail::series_slot<Cell> slot;
    slot.cell = std::make_unique<Cell>();
    Cell& cell = *slot.cell;
    series_.emplace(std::move(key), std::move(slot));
    return cell;
}

template <class Cell>
void scalar_family<Cell>::bind_values(std::span<const std::string_view> values,
                                      callback_type callback) {
    check_arity(values.size());
    if (!callback) {
        throw std::invalid_argument("metric " + name() + ": empty callback");
    }
    std::lock_guard lock(mutex_);
    detail::label_key key;
    if (find_series(series_, values, key) != series_.end()) {
        throw std::logic_error("metric " + name() + ": these labels already have a series");
    }
    if (key.empty()) {
        key = make_key(values);
    }
    detail::series_slot<Cell> slot;
    slot.callback = std::move(callback);
    series_.emplace(std::move(key), std::move(slot));
}

template <class Cell>
std::size_t scalar_family<Cell>::size() const {
    std::lock_guard lock(mutex_);
    return series_.size();
}

template <class Cell>
void scalar_family<Cell>::write(text_writer& out, std::span<const label_pair> const_labels) const {
    std::lock_guard lock(mutex_);
    bool header = false;
    for (const auto& [values, slot] : series_) {
        std::optional<double> value;
        if (slot.cell) {
            value = slot.cell->value();
        } else {
            value = slot.callback();
        }
        if (!value) {
            continue;
        }
        if (!header) {
            out.family(name(), help(), type());
            header = true;
        }
        const auto labels = series_labels(const_labels, label_names(), values);
        out.sample(name(), labels, *value);
    }
}

template class scalar_family<counter>;
template class scalar_family<gauge>;

histogram_family::histogram_family(std::string name, std::string help,
                                   std::vector<std::string> label_names, std::vector<double> bounds)
    : family(std::move(name), std::move(help), metric_type::histogram, std::move(label_names)),
      bounds_(std::move(bounds)) {
    if (!bounds_.empty() && bounds_.back() == std::numeric_limits<double>::infinity()) {
        bounds_.pop_back();
    }
    for (std::size_t i = 0; i < bounds_.size(); ++i) {
        if (!std::isfinite(bounds_[i]) || (i > 0 && !(bounds_[i - 1] < bounds_[i]))) {
            throw std::invalid_argument("histogram " + this->name() +
                                        ": bucket bounds must be finite and strictly increasing");
        }
        le_values_.push_back(format_double(bounds_[i]));
    }
    le_values_.emplace_back("+Inf");
}

histogram& histogram_family::with_values(std::span<const std::string_view> values) {
    check_arity(values.size());
    std::lock_guard lock(mutex_);
    detail::label_key key;
    auto it = find_series(series_, values, key);
    if (it != series_.end()) {
        return *it->second;
    }
    if (key.empty()) {
        key = make_key(values);
    }
    auto cell = std::make_unique<histogram>(bounds_);
    histogram& ref = *cell;
    series_.emplace(std::move(key), std::move(cell));
    return ref;
}

std::size_t histogram_family::size() const {
    std::lock_guard lock(mutex_);
    return series_.size();
}

void histogram_family::write(text_writer& out, std::span<const label_pair> const_labels) const {
    std::lock_guard lock(mutex_);
    if (series_.empty()) {
        return;
    }
    out.family(name(), help(), type());
    const std::string bucket_name = name() + "_bucket";
    const std::string sum_name = name() + "_sum";
    const std::string count_name = name() + "_count";
    for (const auto& [values, cell] : series_) {
        const auto labels = series_labels(const_labels, label_names(), values);
        const histogram::snapshot snap = cell->collect();
        for (std::size_t i = 0; i < snap.cumulative.size(); ++i) {
            const label_pair le{"le", le_values_[i]};
            out.sample(bucket_name, labels, snap.cumulative[i], std::span(&le, 1));
        }
        out.sample(sum_name, labels, snap.sum);
        out.sample(count_name, labels, snap.count);
    }
}

// ---- registry -------------------------------------------------------------------------------

registry::registry(const_labels_type const_labels) : const_labels_(std::move(const_labels)) {
    std::set<std::string_view> seen;
    for (const auto& [name, value] : const_labels_) {
        if (!is_valid_label_name(name) || !seen.insert(name).second) {
            throw std::invalid_argument("metrics: invalid or repeated constant label '" + name +
                                        "'");
        }
        if (!is_valid_utf8(value)) {
            throw std::invalid_argument("metrics: constant label '" + name +
                                        "' is not valid UTF-8");
        }
    }
}

void registry::reserve_names(const std::string& name, metric_type type,
                             const std::vector<std::string>& label_names) {
    if (!is_valid_metric_name(name)) {
        throw std::invalid_argument("metrics: invalid metric name '" + name + "'");
    }
    std::set<std::string_view> seen;
    for (const auto& [const_name, value] : const_labels_) {
        seen.insert(const_name);
    }
    for (const std::string& label : label_names) {
        if (!is_valid_label_name(label) || !seen.insert(label).second ||
            (type == metric_type::histogram && label == "le")) {
            throw std::invalid_argument("metric " + name +
                                        ": invalid, repeated or constant label '" + label + "'");
        }
    }
    std::vector<std::string> names{name};
    if (type == metric_type::histogram) {
        names.push_back(name + "_bucket");
        names.push_back(name + "_sum");
        names.push_back(name + "_count");
    }
    for (const std::string& n : names) {
        if (sample_names_.contains(n)) {
            throw std::invalid_argument("metrics: name '" + n + "' is already used");
        }
    }
    sample_names_.insert(names.begin(), names.end());
}

template <class Family, class... Args>
Family& registry::add(Args&&... args) {
    auto fam = std::make_unique<Family>(std::forward<Args>(args)...);
    std::lock_guard lock(mutex_);
    reserve_names(fam->name(), fam->type(), fam->label_names());
    Family& ref = *fam;
    families_.emplace(ref.name(), std::move(fam));
    return ref;
}

counter_family& registry::add_counter(std::string name, std::string help,
                                      std::vector<std::string> label_names) {
    return add<counter_family>(std::move(name), std::move(help), metric_type::counter,
                               std::move(label_names));
}

gauge_family& registry::add_gauge(std::string name, std::string help,
                                  std::vector<std::string> label_names) {
    return add<gauge_family>(std::move(name), std::move(help), metric_type::gauge,
                             std::move(label_names));
}

histogram_family& registry::add_histogram(std::string name, std::string help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> bounds) {
    return add<histogram_family>(std::move(name), std::move(help), std::move(label_names),
                                 std::move(bounds));
}

const family* registry::find(std::string_view name) const {
    std::lock_guard lock(mutex_);
    const auto it = families_.find(name);
    return it == families_.end() ? nullptr : it->second.get();
}

std::vector<const family*> registry::families() const {
    std::lock_guard lock(mutex_);
    std::vector<const family*> out;
    out.reserve(families_.size());
    for (const auto& [name, fam] : families_) {
        out.push_back(fam.get());
    }
    return out;
}

std::optional<std::string_view> registry::const_label(std::string_view name) const {
    for (const auto& [label, value] : const_labels_) {
        if (label == name) {
            return std::string_view(value);
        }
    }
    return std::nullopt;
}

std::string registry::expose() const {
    std::vector<label_pair> constants;
    constants.reserve(const_labels_.size());
    for (const auto& [name, value] : const_labels_) {
        constants.push_back({name, value});
    }
    std::string out;
    text_writer writer(out);
    // Families are never removed, so the pointers outlive the lock; holding only the family's
    // own lock while writing it lets other threads add families meanwhile.
    for (const family* fam : families()) {
        fam->write(writer, constants);
    }
    return out;
}

// ---- label_limiter --------------------------------------------------------------------------

std::string_view label_limiter::admit(std::string_view value) {
    std::lock_guard lock(mutex_);
    if (const auto it = admitted_.find(value); it != admitted_.end()) {
        return *it;
    }
    if (admitted_.size() >= limit_) {
        return overflow_value;
    }
    return *admitted_.emplace(value).first;
}

std::size_t label_limiter::admitted() const {
    std::lock_guard lock(mutex_);
    return admitted_.size();
}

}  // namespace harvest::metrics
