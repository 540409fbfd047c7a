#pragma once
// Free-text prices ("$1,299.99", "1.299,99 €", "EUR 12,-", "from £5") to an amount and a
// currency. Pure: no I/O, no locale, no allocation beyond the result.

#include <optional>
#include <string>
#include <string_view>

namespace harvest::pipelines {

struct price_hints {
    std::optional<char> decimal_separator;  // '.' or ',' when the source is known
    std::string currency;                   // ISO 4217 code to use when the text has none
};

struct parsed_price {
    std::optional<double> amount;  // absent when the text holds no number
    // ISO 4217 code where the text determines one ("€" -> "EUR", "£" -> "GBP", "A$" -> "AUD",
    // "USD"); else the symbol as written ("$"); else the hint; else empty.
    std::string currency;
};

parsed_price parse_price(std::string_view text, const price_hints& hints = {});

}  // namespace harvest::pipelines
