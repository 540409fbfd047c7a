// extract_html_fields: one item's fields from a page, converted by `as`.

#include "engine/core/text.hpp"
#include "pipelines/html/html.hpp"
#include "pipelines/normalize/availability.hpp"
#include "pipelines/normalize/currency_hint.hpp"
#include "pipelines/normalize/price.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

namespace harvest::pipelines {
namespace {

struct converted {
    boost::json::value value;  // null: missing or invalid
    bool invalid = false;
    std::string currency;  // as: price
};

converted convert(const field_rule& rule, const std::string& text, const reference_base* base) {
    converted result;
    const auto invalid = [&result] {
        result.value = nullptr;
        result.invalid = true;
        return result;
    };
    switch (effective_kind(rule)) {
        case value_kind::url: {
            // A srcset attribute names several images: the one fetched at the largest size.
            const bool srcset =
                rule.attribute.size() == 6 && core::iequals(rule.attribute, "srcset");
            const std::string reference = srcset ? best_srcset_candidate(text) : text;
            auto absolute = base != nullptr ? base->resolve(reference) : std::nullopt;
            if (!absolute) {
                return invalid();
            }
            result.value = boost::json::string(*absolute);
            return result;
        }
        case value_kind::raw:
        case value_kind::string:
            result.value = boost::json::string(text);
            return result;
        case value_kind::number: {
            // The text's number, else its first number ("4.5 out of 5", "12 in stock").
            auto number = core::parse_double(text);
            if (!number) {
                number = core::first_number(text);
            }
            if (!number) {
                return invalid();
            }
            result.value = *number;
            return result;
        }
        case value_kind::integer: {
            auto integer = core::parse_int64(text);
            if (!integer) {
                const auto number = core::first_number(text);
                integer = number ? core::integral_double(*number) : std::nullopt;
            }
            if (!integer) {
                return invalid();
            }
            result.value = *integer;
            return result;
        }
        case value_kind::boolean: {
            const std::string_view trimmed = core::trim(text);
            if (core::iequals(trimmed, "true")) {
                result.value = true;
            } else if (core::iequals(trimmed, "false")) {
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
            result.currency = currency_with_hint(std::move(price.currency), rule.currency);
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
    if (!needs_reference_base(rules)) {
        return convert_html_fields(firsts, rules, values_invalid);
    }
    const reference_base base(document.url(), first_base_href(document));
    return convert_html_fields(firsts, rules, values_invalid, &base);
}

boost::json::object convert_html_fields(const std::vector<std::optional<std::string>>& firsts,
                                        const std::vector<field_rule>& rules,
                                        std::uint64_t* values_invalid, const reference_base* base) {
    if (firsts.size() != rules.size()) {
        throw std::invalid_argument("convert_html_fields: one value per field_rule");
    }
    boost::json::object item;
    std::string price_currency;
    for (std::size_t i = 0; i < firsts.size(); ++i) {
        const std::optional<std::string>* selected = &firsts[i];
        std::optional<std::string> processed;
        if (rules[i].pattern || rules[i].default_value) {
            // Post-processing: the regex's part of the text, else the default.
            if (firsts[i] && rules[i].pattern) {
                processed = apply_field_pattern(*rules[i].pattern, *firsts[i]);
            } else {
                processed = firsts[i];
            }
            if (!processed) {
                processed = rules[i].default_value;
            }
            selected = &processed;
        }
        const std::optional<std::string>& text = *selected;
        if (!text) {
            item[rules[i].name] = nullptr;
            continue;
        }
        converted value = convert(rules[i], *text, base);
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
