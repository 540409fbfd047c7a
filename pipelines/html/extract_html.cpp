// extract_html_fields: one item's fields from a page, converted by `as`.

#include "engine/core/text.hpp"
#include "pipelines/field_value.hpp"
#include "pipelines/html/html.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

namespace harvest::pipelines {
namespace {

using converted = detail::converted_field;

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
            const auto flag = detail::boolean_of_text(text);
            if (!flag) {
                return invalid();
            }
            result.value = *flag;
            return result;
        }
        case value_kind::price:
            return detail::price_of_text(text, rule);
        case value_kind::availability:
            return detail::availability_of_text(text);
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
    std::vector<std::vector<std::string>> selected(fields.size());
    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (rules[i].all) {
            selected[i] = fields[i].all(document);
        } else if (auto first = fields[i].first(document)) {
            selected[i].push_back(std::move(*first));
        }
    }
    if (!needs_reference_base(rules)) {
        return convert_html_fields(std::move(selected), rules, values_invalid);
    }
    const reference_base base(document.url(), first_base_href(document));
    return convert_html_fields(std::move(selected), rules, values_invalid, &base);
}

namespace {

// A field's texts after `strip`, `regex` (those it does not match left out) and `join`;
// `default` when none is left.
std::vector<std::string> post_process(const field_rule& rule, std::vector<std::string> texts) {
    if (rule.strip) {
        for (auto& text : texts) {
            text = normalize_space(text);
        }
    }
    if (rule.pattern) {
        std::vector<std::string> kept;
        kept.reserve(texts.size());
        for (const auto& text : texts) {
            if (auto part = apply_field_pattern(*rule.pattern, text)) {
                kept.push_back(std::move(*part));
            }
        }
        texts = std::move(kept);
    }
    if (rule.join && !texts.empty()) {
        std::string joined = std::move(texts.front());
        for (std::size_t i = 1; i < texts.size(); ++i) {
            joined += *rule.join;
            joined += texts[i];
        }
        texts.assign(1, std::move(joined));
    }
    if (texts.empty() && rule.default_value) {
        texts.push_back(*rule.default_value);
    }
    return texts;
}

}  // namespace

boost::json::object convert_html_fields(std::vector<std::vector<std::string>> selected,
                                        const std::vector<field_rule>& rules,
                                        std::uint64_t* values_invalid, const reference_base* base) {
    if (selected.size() != rules.size()) {
        throw std::invalid_argument("convert_html_fields: one value list per field_rule");
    }
    boost::json::object item;
    std::string price_currency;
    const auto convert_one = [&](const field_rule& rule, const std::string& text) {
        converted value = convert(rule, text, base);
        if (value.invalid && values_invalid != nullptr) {
            ++*values_invalid;
        }
        if (price_currency.empty() && !value.currency.empty()) {
            price_currency = std::move(value.currency);
        }
        return std::move(value.value);
    };
    for (std::size_t i = 0; i < selected.size(); ++i) {
        const field_rule& rule = rules[i];
        if (!rule.all && selected[i].size() > 1) {
            selected[i].resize(1);  // the first value only
        }
        std::vector<std::string> texts =
            rule.pattern || rule.default_value || rule.join || rule.strip
                ? post_process(rule, std::move(selected[i]))
                : std::move(selected[i]);
        if (rule.all && !rule.join) {
            boost::json::array list;
            list.reserve(texts.size());
            for (const auto& text : texts) {
                auto value = convert_one(rule, text);
                if (!value.is_null()) {
                    list.push_back(std::move(value));
                }
            }
            item[rule.name] = std::move(list);
        } else if (texts.empty()) {
            item[rule.name] = nullptr;
        } else {
            item[rule.name] = convert_one(rule, texts.front());
        }
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
