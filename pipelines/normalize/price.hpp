#pragma once
// Free-text prices ("$1,299.99", "1.299,99 €", "EUR 12,-", "from £5") to an amount and a
// currency. Pure: no I/O, no locale, no allocation beyond the result.
//
// Amount (the first number in the text that is not a percentage, like price-parser): spaces,
// no-break spaces and apostrophes group thousands ("1 299,99", "CHF 1'234.50"); the last '.' or
// ',' is the decimal separator unless exactly 3 digits follow it ("1,299" and "1,234.567" are
// integers, "12,99" is 12.99, "34.992001" is 34.992001), as price-parser does; ",-" and ",--"
// end an integer ("12,-"). A hinted decimal separator overrides the guess. "35€99" reads the euro
// sign as the decimal separator. The sign is ignored ("- $44.99" is 44.99): prices are not
// negative. No number but the word "free" gives 0.
//
// Currency: ISO 4217 code where the text determines one ("€" -> EUR, "zł" -> PLN, "A$" -> AUD,
// "¥" and "円" -> JPY, "원" -> KRW, "Fr." -> CHF, "USD" written as such); else the symbol as
// written when it is ambiguous ("$", "kr", "Rs", "руб.", "lei"/"LEI"/"Lei", "FCFA", "₶"); else
// the same search over hints.currency; else empty. The symbols are price-parser's table (see
// price.cpp for what is left out and why), matched case-sensitively as written there, and as
// whole words where they begin or end with a letter ("RENAULT" holds no code). ISO codes count
// in upper case anywhere, and in lower case only as a word right next to the amount ("12 usd",
// "140,00 pln") and when not also a common word ("all", "top", "try", "kgs"...); mixed case
// ("GBp", pence) never. A code next to a dollar sign wins over the sign ("SGD 4.90 $" -> SGD);
// unique signs win over abbreviations anywhere in the text ("£94.50 GBP" -> GBP either way).

#include <optional>
#include <string>
#include <string_view>

namespace harvest::pipelines {

struct price_hints {
    std::optional<char> decimal_separator;  // '.' or ',' when the source is known
    // ISO 4217 code to use when the text has none. Also accepts a symbol or a text holding one
    // ("€", "Pris NOK") — it is searched like the price text; text without a currency is ignored.
    std::string currency;
    // The euro sign is the decimal separator ("1250€60" -> 1250.60); '.' and ',' then only group
    // thousands. Added for price-parser's decimal_separator="€".
    bool euro_sign_decimal = false;
};

struct parsed_price {
    std::optional<double> amount;  // absent when the text holds no number (or it overflows)
    // ISO 4217 code where the text determines one ("€" -> "EUR", "£" -> "GBP", "A$" -> "AUD",
    // "USD"); else the symbol as written ("$"); else the hint; else empty.
    std::string currency;
    // The amount as an exact plain decimal ("1299.99", "0.75", "120000000"): integer digits
    // without leading zeros, then '.' and the fraction digits as written. Empty when amount is
    // absent. Use it where a double would round (money columns, comparisons).
    std::string amount_decimal;
};

parsed_price parse_price(std::string_view text, const price_hints& hints = {});

}  // namespace harvest::pipelines
