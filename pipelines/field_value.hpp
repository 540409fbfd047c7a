#pragma once
// A field's value after its `as:` (docs/items.md), and the readings of text that JSON strings
// and HTML text share: one place for json_extractor.cpp and html/extract_html.cpp, so that
// `as: boolean`, `as: price` and `as: availability` read a text alike in both.

#include "engine/core/text.hpp"
#include "pipelines/normalize/availability.hpp"
#include "pipelines/normalize/currency_hint.hpp"
#include "pipelines/normalize/price.hpp"
#include "pipelines/rules.hpp"

#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace harvest::pipelines::detail {

struct converted_field {
    boost::json::value value;  // null when missing, null or invalid
    bool invalid = false;
    std::string currency;  // as: price only
};

inline converted_field invalid_field() {
    converted_field result;
    result.invalid = true;
    return result;
}

// as: boolean of a text: "true" or "false" in any case, blanks around them ignored.
inline std::optional<bool> boolean_of_text(std::string_view text) {
    const std::string_view trimmed = core::trim(text);
    if (core::iequals(trimmed, "true")) {
        return true;
    }
    if (core::iequals(trimmed, "false")) {
        return false;
    }
    return std::nullopt;
}

// as: price of a text: its amount, and its currency (else the rule's `currency`).
inline converted_field price_of_text(std::string_view text, const field_rule& rule) {
    const price_hints hints{rule.decimal_separator, rule.currency};
    parsed_price price = parse_price(text, hints);
    if (!price.amount) {
        return invalid_field();
    }
    converted_field result;
    result.value = *price.amount;
    result.currency = currency_with_hint(std::move(price.currency), rule.currency);
    return result;
}

// as: availability of a text: its schema.org name.
inline converted_field availability_of_text(std::string_view text) {
    const auto normalized = normalize_availability(text);
    if (!normalized) {
        return invalid_field();
    }
    converted_field result;
    result.value = boost::json::string(*normalized);
    return result;
}

}  // namespace harvest::pipelines::detail
