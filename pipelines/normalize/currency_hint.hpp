#pragma once
// The currency of a price field (docs/items.md): what the text determines, unless it is only an
// ambiguous symbol ("$", "kr", "¥", "Fr") and the field has a `currency` hint, which then names
// it ("$1,299.00" with currency: USD -> USD). A hint never overrides a code the text determines
// ("£12" stays GBP whatever the hint).

#include <algorithm>
#include <string>
#include <string_view>

namespace harvest::pipelines {

// An ISO 4217 code as parse_price returns them: three ASCII capitals.
inline bool is_iso_currency_code(std::string_view code) noexcept {
    return code.size() == 3 &&
           std::all_of(code.begin(), code.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

// parse_price's currency for a field with the hint `hint` (an ISO code, or empty).
inline std::string currency_with_hint(std::string found, std::string_view hint) {
    if (!hint.empty() && !is_iso_currency_code(found)) {
        return std::string(hint);
    }
    return found;
}

}  // namespace harvest::pipelines
