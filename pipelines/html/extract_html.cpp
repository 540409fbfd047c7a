// extract_html_fields: one item's fields from a page, converted by `as`.

#include "pipelines/html/html.hpp"
#include "pipelines/normalize/availability.hpp"
#include "pipelines/normalize/price.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace harvest::pipelines {
namespace {

std::string_view trim(std::string_view text) {
    constexpr std::string_view space = " \t\r\n\f\v";
    const std::size_t first = text.find_first_not_of(space);
    if (first == std::string_view::npos) {
        return {};
    }
    return text.substr(first, text.find_last_not_of(space) - first + 1);
}

std::optional<double> parse_number(std::string_view text) {
    text = trim(text);
    double number = 0;
    const auto result = std::from_chars(text.data(), text.data() + text.size(), number);
    if (text.empty() || result.ec != std::errc{} || result.ptr != text.data() + text.size() ||
        !std::isfinite(number)) {
        return std::nullopt;
    }
    return number;
}

std::optional<std::int64_t> parse_integer(std::string_view text) {
    text = trim(text);
    std::int64_t integer = 0;
    const auto result = std::from_chars(text.data(), text.data() + text.size(), integer);
    if (!text.empty() && result.ec == std::errc{} && result.ptr == text.data() + text.size()) {
        return integer;
    }
    // "3.0" is 3, "3.5" is not an integer; 2^63 is exactly representable and out of range.
    const auto number = parse_number(text);
    constexpr double limit = 9223372036854775808.0;
    if (!number || std::trunc(*number) != *number || *number < -limit || *number >= limit) {
        return std::nullopt;
    }
    return static_cast<std::int64_t>(*number);
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               const auto lower = [](char c) {
                   return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
               };
               return lower(x) == lower(y);
           });
}

struct converted {
    boost::json::value value;  // null: missing or invalid
    bool invalid = false;
    std::string currency;  // as: price
};

converted convert(const field_rule& rule, const std::string& text) {
    converted result;
    const auto invalid = [&result] {
        result.value = nullptr;
        result.invalid = true;
        return result;
    };
    switch (rule.as) {
        case value_kind::raw:
        case value_kind::string:
            result.value = boost::json::string(text);
            return result;
        case value_kind::number: {
            const auto number = parse_number(text);
            if (!number) {
                return invalid();
            }
            result.value = *number;
            return result;
        }
        case value_kind::integer: {
            const auto integer = parse_integer(text);
            if (!integer) {
                return invalid();
            }
            result.value = *integer;
            return result;
        }
        case value_kind::boolean: {
            const std::string_view trimmed = trim(text);
            if (iequals(trimmed, "true")) {
                result.value = true;
            } else if (iequals(trimmed, "false")) {
                result.value = false;
            } else {
                return invalid();
            }
            return result;
        }
        case value_kind::price: {
            const price_hints hints{rule.decimal_separator, rule.currency};
            parsed_price price = parse_price(text, hints);
            if (!price.amount) {
                return invalid();
            }
            result.value = *price.amount;
            result.currency = std::move(price.currency);
            return result;
        }
        case value_kind::availability: {
            const auto normalized = normalize_availability(text);
            if (!normalized) {
                return invalid();
            }
            result.value = boost::json::string(*normalized);
            return result;
        }
    }
    return invalid();
}

}  // namespace

boost::json::object extract_html_fields(const html_document& document,
                                        const std::vector<html_field>& fields,
                                        const std::vector<field_rule>& rules,
                                        std::uint64_t* values_invalid) {
    if (fields.size() != rules.size()) {
        throw std::invalid_argument("extract_html_fields: one html_field per field_rule");
    }
    std::vector<std::optional<std::string>> firsts;
    firsts.reserve(fields.size());
    for (const auto& field : fields) {
        firsts.push_back(field.first(document));
    }
    return convert_html_fields(firsts, rules, values_invalid);
}

boost::json::object convert_html_fields(const std::vector<std::optional<std::string>>& firsts,
                                        const std::vector<field_rule>& rules,
                                        std::uint64_t* values_invalid) {
    if (firsts.size() != rules.size()) {
        throw std::invalid_argument("convert_html_fields: one value per field_rule");
    }
    boost::json::object item;
    std::string price_currency;
    for (std::size_t i = 0; i < firsts.size(); ++i) {
        const std::optional<std::string>& text = firsts[i];
        if (!text) {
            item[rules[i].name] = nullptr;
            continue;
        }
        converted value = convert(rules[i], *text);
        if (value.invalid && values_invalid != nullptr) {
            ++*values_invalid;
        }
        if (price_currency.empty() && !value.currency.empty()) {
            price_currency = std::move(value.currency);
        }
        item[rules[i].name] = std::move(value.value);
    }
    if (!price_currency.empty()) {
        const auto it = item.find("currency");
        if (it == item.end() || it->value().is_null()) {
            item["currency"] = price_currency;
        }
    }
    return item;
}

}  // namespace harvest::pipelines
