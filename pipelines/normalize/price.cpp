#include "pipelines/normalize/price.hpp"

#include "engine/core/text.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

// Hand-written scanning over UTF-8 bytes: no <regex> (slow, and a fuzz hazard), no locale
// (the separators must not depend on the process's locale). Every loop advances through the
// input, so the cost is linear in its length times the (fixed) size of the symbol table.

namespace harvest::pipelines {
namespace {

constexpr std::size_t npos = std::string_view::npos;
constexpr std::string_view euro_sign = "\xE2\x82\xAC";

using core::is_ascii_digit;
constexpr bool is_ascii_letter(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool is_ascii_upper(char c) {
    return c >= 'A' && c <= 'Z';
}
constexpr bool is_ascii_lower(char c) {
    return c >= 'a' && c <= 'z';
}
constexpr char to_ascii_upper(char c) {
    return (c >= 'a' && c <= 'z') ? char(c - 'a' + 'A') : c;
}
constexpr unsigned char byte_at(std::string_view s, std::size_t i) {
    return static_cast<unsigned char>(s[i]);
}
constexpr bool is_continuation(unsigned char b) {
    return (b & 0xC0U) == 0x80U;
}

bool digit_at(std::string_view s, std::size_t i) {
    return i < s.size() && is_ascii_digit(s[i]);
}

// Byte length of the space-like code point at i (ASCII white space, no-break, thin, narrow
// no-break, figure and ideographic spaces — all used to group thousands), 0 if none.
std::size_t space_len(std::string_view s, std::size_t i) {
    if (i >= s.size()) {
        return 0;
    }
    const unsigned char c = byte_at(s, i);
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
        return 1;
    }
    if (c == 0xC2 && i + 1 < s.size() && byte_at(s, i + 1) == 0xA0) {
        return 2;
    }
    if (i + 2 < s.size()) {
        const unsigned char c1 = byte_at(s, i + 1);
        const unsigned char c2 = byte_at(s, i + 2);
        if (c == 0xE2 && c1 == 0x80 && ((c2 >= 0x80 && c2 <= 0x8A) || c2 == 0xAF)) {
            return 3;
        }
        if (c == 0xE2 && c1 == 0x81 && c2 == 0x9F) {
            return 3;
        }
        if (c == 0xE3 && c1 == 0x80 && c2 == 0x80) {
            return 3;
        }
    }
    return 0;
}

std::size_t skip_spaces(std::string_view s, std::size_t i) {
    while (const std::size_t n = space_len(s, i)) {
        i += n;
    }
    return i;
}

// Swiss style "1'234.50": ASCII apostrophe, right single quote, modifier letter apostrophe.
std::size_t apostrophe_len(std::string_view s, std::size_t i) {
    if (i >= s.size()) {
        return 0;
    }
    if (s[i] == '\'') {
        return 1;
    }
    if (s.substr(i, 3) == "\xE2\x80\x99") {
        return 3;
    }
    if (s.substr(i, 2) == "\xCA\xBC") {
        return 2;
    }
    return 0;
}

bool exactly_three_digits(std::string_view s, std::size_t i) {
    return digit_at(s, i) && digit_at(s, i + 1) && digit_at(s, i + 2) && !digit_at(s, i + 3);
}

// ---------------------------------------------------------------------------------------------
// Amount

struct number_run {
    std::size_t begin = 0;
    std::size_t end = 0;  // one past the run's last digit
};

// The end of the number starting at `begin` (a digit, or a '.' right before a digit).
// Accepted inside: '.' and ',' between digits, a separator followed by spaces and digits
// ("559. 99", upstream glues them), and a space or apostrophe between a group of at most 3
// digits and a group of exactly 3 ("1 299,99", "1'049"). "12,-" stops before the comma.
std::size_t scan_number_end(std::string_view s, std::size_t begin) {
    std::size_t i = begin;
    if (s[i] == '.') {
        ++i;
    }
    std::size_t group_digits = 0;  // digits since the last separator, space or apostrophe
    while (i < s.size()) {
        const char c = s[i];
        if (is_ascii_digit(c)) {
            ++i;
            ++group_digits;
            continue;
        }
        if (c == '.' || c == ',') {
            if (digit_at(s, i + 1)) {
                ++i;
                group_digits = 0;
                continue;
            }
            const std::size_t j = skip_spaces(s, i + 1);
            if (j > i + 1 && digit_at(s, j)) {
                i = j;
                group_digits = 0;
                continue;
            }
            break;
        }
        if (group_digits <= 3) {
            std::size_t j = i;
            if (space_len(s, i) != 0) {
                j = skip_spaces(s, i);
            } else if (const std::size_t n = apostrophe_len(s, i)) {
                j = i + n;
            }
            if (j > i && exactly_three_digits(s, j)) {
                i = j;
                group_digits = 0;
                continue;
            }
        }
        break;
    }
    return i;
}

// The next number at or after `pos` that is not a percentage ("-30%", "20 %"); advances pos.
std::optional<number_run> next_number(std::string_view s, std::size_t& pos) {
    while (pos < s.size()) {
        if (is_ascii_digit(s[pos]) || (s[pos] == '.' && digit_at(s, pos + 1))) {
            const number_run run{pos, scan_number_end(s, pos)};
            pos = run.end;
            const std::size_t after = skip_spaces(s, run.end);
            if (after < s.size() && s[after] == '%') {
                continue;
            }
            return run;
        }
        ++pos;
    }
    return std::nullopt;
}

// Position of the decimal separator inside `run`, npos when the number is an integer.
std::size_t decimal_position(std::string_view run, const price_hints& hints) {
    if (hints.euro_sign_decimal) {
        return npos;
    }
    if (hints.decimal_separator == '.' || hints.decimal_separator == ',') {
        // The last hinted separator is the decimal one; the other kind and earlier ones group.
        return run.rfind(*hints.decimal_separator);
    }
    std::size_t last = npos;
    std::size_t digits_after_last = 0;
    for (std::size_t i = 0; i < run.size(); ++i) {
        if (run[i] == '.' || run[i] == ',') {
            last = i;
            digits_after_last = 0;
        } else if (is_ascii_digit(run[i])) {
            ++digits_after_last;
        }
    }
    if (last == npos) {
        return npos;
    }
    // Exactly 3 digits after the last separator read as thousands, whatever came before
    // ("1,299", "129.900", even "1,234.567" — as price-parser does; 3-decimal currencies need
    // the hint). Otherwise the last separator is the decimal one ("1.234,5", "34.992001").
    return digits_after_last == 3 ? npos : last;
}

struct decimals_range {
    std::size_t begin = 0;
    std::size_t end = 0;
};

// "35€99", "1250€ 60": the euro sign used as the decimal separator right after a number.
// Spaced decimals are 1-2 digits ("35€ 999" is 35 euros and something else); without a hint
// exactly 3 digits are not decimals either.
std::optional<decimals_range> euro_decimals(std::string_view s, std::size_t number_end,
                                            bool hinted) {
    std::size_t i = skip_spaces(s, number_end);
    if (s.substr(i, euro_sign.size()) != euro_sign) {
        return std::nullopt;
    }
    i += euro_sign.size();
    const std::size_t j = skip_spaces(s, i);
    std::size_t k = j;
    while (digit_at(s, k)) {
        ++k;
    }
    const std::size_t n = k - j;
    if (n == 0 || (j > i && n > 2) || (!hinted && n == 3)) {
        return std::nullopt;
    }
    return decimals_range{j, k};
}

std::size_t count_of(std::string_view s, std::string_view needle) {
    std::size_t n = 0;
    for (std::size_t at = s.find(needle); at != npos; at = s.find(needle, at + needle.size())) {
        ++n;
    }
    return n;
}

// Writes the plain decimal of `run` into out: digits before the decimal separator without
// leading zeros (at least "0"), then '.' and the fraction digits when there are any.
void write_decimal(std::string& out, std::string_view run, std::size_t decimal_pos,
                   std::string_view extra_fraction) {
    out.clear();
    const std::size_t int_end = decimal_pos == npos ? run.size() : decimal_pos;
    for (std::size_t i = 0; i < int_end; ++i) {
        if (is_ascii_digit(run[i]) && !(out.empty() && run[i] == '0')) {
            out.push_back(run[i]);
        }
    }
    if (out.empty()) {
        out.push_back('0');
    }
    const std::size_t int_size = out.size();
    out.push_back('.');
    if (decimal_pos != npos) {
        for (std::size_t i = decimal_pos + 1; i < run.size(); ++i) {
            if (is_ascii_digit(run[i])) {
                out.push_back(run[i]);
            }
        }
    }
    out.append(extra_fraction);
    if (out.size() == int_size + 1) {
        out.pop_back();
    }
}

bool contains_word_free(std::string_view s) {
    for (std::size_t i = 0; i + 4 <= s.size(); ++i) {
        if (to_ascii_upper(s[i]) == 'F' && to_ascii_upper(s[i + 1]) == 'R' &&
            to_ascii_upper(s[i + 2]) == 'E' && to_ascii_upper(s[i + 3]) == 'E' &&
            (i == 0 || !is_ascii_letter(s[i - 1])) &&
            (i + 4 == s.size() || !is_ascii_letter(s[i + 4]))) {
            return true;
        }
    }
    return false;
}

void parse_amount(std::string_view text, const price_hints& hints, parsed_price& result) {
    // The euro sign is a decimal separator only when hinted, or when there is no hint and the
    // text has one euro sign (several mean several prices: "99 € 79 €").
    const bool euro_possible =
        hints.euro_sign_decimal || (!hints.decimal_separator && count_of(text, euro_sign) == 1);
    std::optional<number_run> first;
    std::size_t pos = 0;
    while (const auto run = next_number(text, pos)) {
        if (!first) {
            first = run;
        }
        if (!euro_possible) {
            break;
        }
        const std::string_view digits = text.substr(run->begin, run->end - run->begin);
        if (!hints.euro_sign_decimal && decimal_position(digits, hints) != npos) {
            continue;  // "205,68 € 99" already has its decimals
        }
        if (const auto decimals = euro_decimals(text, run->end, hints.euro_sign_decimal)) {
            write_decimal(result.amount_decimal, digits, npos,
                          text.substr(decimals->begin, decimals->end - decimals->begin));
            first.reset();
            break;
        }
    }
    if (first) {
        const std::string_view digits = text.substr(first->begin, first->end - first->begin);
        write_decimal(result.amount_decimal, digits, decimal_position(digits, hints), {});
    } else if (result.amount_decimal.empty() && contains_word_free(text)) {
        result.amount_decimal.push_back('0');  // not = "0": GCC 12 -Wrestrict false positive at -O3
    }
    if (result.amount_decimal.empty()) {
        return;
    }
    double value = 0.0;
    const char* begin = result.amount_decimal.data();
    const char* end = begin + result.amount_decimal.size();
    const auto [ptr, ec] = std::from_chars(begin, end, value);
    if (ec == std::errc::result_out_of_range && result.amount_decimal.starts_with("0.")) {
        result.amount = 0.0;  // underflow: far below any currency's smallest unit
    } else if (ec != std::errc{} || ptr != end) {
        result.amount_decimal.clear();  // overflow: no double holds it
    } else {
        result.amount = value;
    }
}

// ---------------------------------------------------------------------------------------------
// Currency

// ISO 4217 alphabetic codes (current, funds and precious metals, plus the historic ones still
// seen on old pages such as DEM or PTE). XXX (no currency) is left out. Sorted: binary search.
constexpr std::string_view iso_codes[] = {
    "ADP", "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "ATS", "AUD", "AWG", "AZN", "BAM",
    "BBD", "BDT", "BEF", "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN",
    "BWP", "BYN", "BYR", "BZD", "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNH", "CNY",
    "COP", "COU", "CRC", "CUC", "CUP", "CVE", "CYP", "CZK", "DEM", "DJF", "DKK", "DOP", "DZD",
    "EEK", "EGP", "ERN", "ESP", "ETB", "EUR", "FIM", "FJD", "FKP", "FRF", "GBP", "GEL", "GHS",
    "GIP", "GMD", "GNF", "GRD", "GTQ", "GYD", "HKD", "HNL", "HRK", "HTG", "HUF", "IDR", "IEP",
    "ILS", "INR", "IQD", "IRR", "ISK", "ITL", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF",
    "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LTL", "LUF", "LVL",
    "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRO", "MRU", "MTL", "MUR", "MVR",
    "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NLG", "NOK", "NPR", "NZD", "OMR",
    "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PTE", "PYG", "QAR", "ROL", "RON", "RSD", "RUB",
    "RUR", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SIT", "SKK", "SLE", "SLL",
    "SOS", "SRD", "SSP", "STD", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP",
    "TRL", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS",
    "VEB", "VED", "VEF", "VES", "VND", "VUV", "WST", "XAF", "XAG", "XAU", "XCD", "XDR", "XOF",
    "XPD", "XPF", "XPT", "YER", "ZAR", "ZMK", "ZMW", "ZWD", "ZWL",
};
static_assert(std::is_sorted(std::begin(iso_codes), std::end(iso_codes)));

bool is_iso_code(std::string_view code) {
    return std::binary_search(std::begin(iso_codes), std::end(iso_codes), code);
}

// Safe symbols name one currency (or are taken as one wherever they appear, like price-parser's
// SAFE_CURRENCY_SYMBOLS); other symbols are abbreviations that could be words, so any safe
// symbol in the text wins over them.
enum class tier { safe, other };

struct currency_symbol {
    std::string_view text;  // as written, UTF-8, case-sensitive
    std::string_view iso;   // empty: ambiguous, reported as written
    tier rank;
    bool prefix_ok = false;  // may be followed by letters ("руб" in "рублей")
};

// Choices: ¥ is JPY (CN¥ and 元 are CNY), C$ is CAD (also the Nicaraguan córdoba), ₱ is PHP,
// ₩ and 원 are KRW (also the North Korean won), UM is MRU (MRO before 2018), Fr. is CHF;
// "$", "kr", "Rs", "₨", "руб." (Russian or Belarusian), "Р", "lei" in every spelling (RON or
// MDL), "CFA" and "FCFA" (XOF or XAF), "ƒ", "﷼", "Bs", "Br", "дин.", "din.", "динар" and "Dinara",
// "₣" (several francs), "جنيه" (several pounds) and the signs with no ISO code (₶, ₠, ₢, ₰, ₳, ₷,
// ℳ) stay as written.
//
// The rest of price-parser's table (its SAFE_CURRENCY_SYMBOLS, and the symbols and national
// symbols of its CURRENCIES), except: single letters (price-parser drops them too); the
// abbreviations of currencies the euro replaced (fl., fr., mk., DM, Pt, Pts, Lt, Ls, Lm, Sk, öS,
// kroon...), which today are units or words far more often than prices ("12 fl. oz", Swedish
// "fr." for "from"); and two-letter abbreviations that are common words or abbreviations in
// product text: Le (SLL, the French article), DA (DZD, Italian "da"), FR (RWF), FC and CF
// (KMF), YR (YER), IMP (Manx pound).
constexpr currency_symbol symbols[] = {
    // Dollars and pounds with a country prefix, before the bare sign (longest match wins).
    {"Bds$", "BBD", tier::safe},
    {"CUC$", "CUC", tier::safe},
    {"MOP$", "MOP", tier::safe},
    {"AR$", "ARS", tier::safe},
    {"AU$", "AUD", tier::safe},
    {"BN$", "BND", tier::safe},
    {"BZ$", "BZD", tier::safe},
    {"CA$", "CAD", tier::safe},
    {"CL$", "CLP", tier::safe},
    {"CO$", "COP", tier::safe},
    {"CV$", "CVE", tier::safe},
    {"HK$", "HKD", tier::safe},
    {"MX$", "MXN", tier::safe},
    {"NT$", "TWD", tier::safe},
    {"NZ$", "NZD", tier::safe},
    {"TT$", "TTD", tier::safe},
    {"RD$", "DOP", tier::safe},
    {"WS$", "WST", tier::safe},
    {"US$", "USD", tier::safe},
    {"EC$", "XCD", tier::safe},
    {"FJ$", "FJD", tier::safe},
    {"SI$", "SBD", tier::safe},
    {"GY$", "GYD", tier::safe},
    {"BD$", "BMD", tier::safe},
    {"SR$", "SRD", tier::safe},
    {"L$", "LRD", tier::safe},
    {"$U", "UYU", tier::safe},
    {"C$", "CAD", tier::safe},
    {"J$", "JMD", tier::safe},
    {"N$", "NAD", tier::safe},
    {"R$", "BRL", tier::safe},
    {"S$", "SGD", tier::safe},
    {"T$", "TOP", tier::safe},
    {"Z$", "ZWL", tier::safe},
    {"A$", "AUD", tier::safe},
    {"SY£", "SYP", tier::safe},
    {"LB£", "LBP", tier::safe},
    {"E£", "EGP", tier::safe},
    {"CN¥", "CNY", tier::safe},
    {"JP¥", "JPY", tier::safe},
    {"GH₵", "GHS", tier::safe},
    {"GH¢", "GHS", tier::safe},
    // Signs.
    {"$", "", tier::safe},
    {"€", "EUR", tier::safe},
    {"£", "GBP", tier::safe},
    {"¥", "JPY", tier::safe},
    {"￥", "JPY", tier::safe},
    {"円", "JPY", tier::safe},
    {"元", "CNY", tier::safe},
    {"₽", "RUB", tier::safe},
    {"₹", "INR", tier::safe},
    {"zł", "PLN", tier::safe},
    {"Zł", "PLN", tier::safe},
    {"ZŁ", "PLN", tier::safe},
    {"Kč", "CZK", tier::safe},
    {"฿", "THB", tier::safe},
    {"₦", "NGN", tier::safe},
    {"₴", "UAH", tier::safe},
    {"₱", "PHP", tier::safe},
    {"৳", "BDT", tier::safe},
    {"₭", "LAK", tier::safe},
    {"₪", "ILS", tier::safe},
    {"﷼", "", tier::safe},
    {"៛", "KHR", tier::safe},
    {"₩", "KRW", tier::safe},
    {"₫", "VND", tier::safe},
    {"₡", "CRC", tier::safe},
    {"ƒ", "", tier::safe},
    {"₲", "PYG", tier::safe},
    {"؋", "AFN", tier::safe},
    {"₮", "MNT", tier::safe},
    {"₨", "", tier::safe},
    {"₾", "GEL", tier::safe},
    {"֏", "AMD", tier::safe},
    {"₸", "KZT", tier::safe},
    {"₺", "TRY", tier::safe},
    {"₼", "AZN", tier::safe},
    {"₿", "", tier::safe},
    {"₤", "", tier::safe},
    {"₵", "GHS", tier::safe},
    {"원", "KRW", tier::safe},
    {"դր.", "AMD", tier::safe},
    {"դր", "AMD", tier::safe},
    {"টকা", "", tier::safe},
    {"नेरू", "NPR", tier::safe},
    {"₶", "", tier::safe},
    {"ރ", "MVR", tier::safe},
    {"৲", "", tier::safe},
    {"૱", "INR", tier::safe},
    {"௹", "INR", tier::safe},
    {"₠", "", tier::safe},
    {"₢", "", tier::safe},
    {"₣", "", tier::safe},
    {"₧", "ESP", tier::safe},
    {"₯", "GRD", tier::safe},
    {"₰", "", tier::safe},
    {"₳", "", tier::safe},
    {"₷", "", tier::safe},
    {"ℳ", "", tier::safe},
    // Arabic abbreviations ending in a right-to-left mark are safe; without it, other.
    {"ر.ق.\u200f", "QAR", tier::safe},
    {"د.ك.\u200f", "KWD", tier::safe},
    {"د.ع.\u200f", "IQD", tier::safe},
    {"ر.ع.\u200f", "OMR", tier::safe},
    {"ر.ي.\u200f", "YER", tier::safe},
    {"ر.س.\u200f", "SAR", tier::safe},
    {"د.ج.\u200f", "DZD", tier::safe},
    {"د.م.\u200f", "MAD", tier::safe},
    {"د.إ.\u200f", "AED", tier::safe},
    {"د.ت.\u200f", "TND", tier::safe},
    {"د.ل.\u200f", "LYD", tier::safe},
    {"ل.س.\u200f", "SYP", tier::safe},
    {"د.ب.\u200f", "BHD", tier::safe},
    {"د.أ.\u200f", "JOD", tier::safe},
    {"ج.م.\u200f", "EGP", tier::safe},
    {"ل.ل.\u200f", "LBP", tier::safe},
    // Words and abbreviations that are unambiguous enough.
    {"euro", "EUR", tier::safe},
    {"Euro", "EUR", tier::safe},
    {"EURO", "EUR", tier::safe},
    {"eur", "EUR", tier::safe},
    {"Rp", "IDR", tier::safe},
    {"lei", "", tier::safe},
    {"руб.", "", tier::safe},
    {"руб", "", tier::safe, true},
    {"грн.", "UAH", tier::safe},
    {"грн", "UAH", tier::safe},
    {"дин.", "", tier::safe},
    {"лв.", "BGN", tier::safe},
    {"лв", "BGN", tier::safe},
    {"р.", "", tier::safe},
    {"тңг.", "KZT", tier::safe},
    {"тңг", "KZT", tier::safe},
    {"Br", "", tier::safe},
    {"تومان", "", tier::safe},
    {"Dinara", "", tier::safe},
    {"динар", "", tier::safe},
    {"ман.", "", tier::safe},
    // Abbreviations that could be something else; only used when no safe symbol is present.
    {"Rs", "", tier::other},
    {"kr", "", tier::other},
    {"Kr", "", tier::other},
    {"TL", "TRY", tier::other},
    {"Ft", "HUF", tier::other},
    {"KD", "KWD", tier::other},
    {"BD", "BHD", tier::other},
    {"LD", "LYD", tier::other},
    {"Lek", "ALL", tier::other},
    {"KM", "BAM", tier::other},
    {"FBu", "BIF", tier::other},
    {"CFA", "", tier::other},
    {"kn", "HRK", tier::other},
    {"Fdj", "DJF", tier::other},
    {"MK", "MWK", tier::other},
    {"RM", "MYR", tier::other},
    {"Rf", "MVR", tier::other},
    {"Db", "STN", tier::other},
    {"TSh", "TZS", tier::other},
    {"USh", "UGX", tier::other},
    {"VT", "VUV", tier::other},
    {"Bs", "", tier::other},
    {"ZK", "ZMW", tier::other},
    {"FG", "GNF", tier::other},
    {"B/.", "PAB", tier::other},
    {"S/.", "PEN", tier::other},
    {"ден", "MKD", tier::other},
    {"रू", "", tier::other},
    {"र", "", tier::other},
    {"đ", "VND", tier::other},
    {"درهم", "", tier::other},
    {"ریال", "", tier::other},
    {"ريال", "", tier::other},
    {"RMB", "CNY", tier::other},
    {"NIS", "ILS", tier::other},
    {"KSh", "KES", tier::other},
    {"Ksh", "KES", tier::other},
    {"zl", "PLN", tier::other},
    {"р", "", tier::other},
    {"Р", "", tier::other},
    {"Kz", "AOA", tier::other},
    {"Gs", "PYG", tier::other},
    {"QR", "QAR", tier::other},
    {"DT", "TND", tier::other},
    {"MT", "MZN", tier::other},
    {"Nu.", "BTN", tier::other},
    {"сом", "KGS", tier::other},
    {"ман", "", tier::other},
    {"$b", "BOB", tier::safe},
    {"CAN$", "CAD", tier::safe},
    {"yen", "JPY", tier::other},
    {"yuan", "CNY", tier::other},
    // Spellings of lei and zloty price-parser lists besides "lei" and "zł".
    {"LEI", "", tier::other},
    {"Lei", "", tier::other},
    {"leu", "", tier::other},
    {"pln", "PLN", tier::other},
    {"Fr.", "CHF", tier::other},
    {"FCFA", "", tier::other},
    {"UM", "MRU", tier::other},
    {"Nfk", "ERN", tier::other},
    {"جنيه", "", tier::other},
    {"Af", "AFN", tier::other},
    {"Afl.", "AWG", tier::other},
    {"Tk", "BDT", tier::other},
    {"Bs.F.", "VEF", tier::other},
    {"FrCD", "CDF", tier::other},
    {"UF", "CLF", tier::other},
    {"JD", "JOD", tier::other},
    {"SR", "SAR", tier::other},
    {"Ssh", "SOS", tier::other},
    {"CFP", "XPF", tier::other},
    {"Dkr", "DKK", tier::other},
    {"Ekr", "EEK", tier::other},
    {"Ikr", "ISK", tier::other},
    {"Nkr", "NOK", tier::other},
    {"Skr", "SEK", tier::other},
    {"SLRs", "LKR", tier::other},
    {"SL Re", "LKR", tier::other},
    {"MURs", "MUR", tier::other},
    {"NPRs", "NPR", tier::other},
    {"PKRs", "PKR", tier::other},
    {"MRf", "MVR", tier::other},
    {"MTn", "MZN", tier::other},
    {"din.", "", tier::other},
    {"NTD", "TWD", tier::other},
    {"GGP", "", tier::other},
    {"JEP", "", tier::other},
    {"TVD", "", tier::other},
    {"د.إ.", "AED", tier::other},
    {"د.ب.", "BHD", tier::other},
    {"د.ج.", "DZD", tier::other},
    {"ج.م.", "EGP", tier::other},
    {"د.ع.", "IQD", tier::other},
    {"د.أ.", "JOD", tier::other},
    {"د.ك.", "KWD", tier::other},
    {"ل.ل.", "LBP", tier::other},
    {"د.ل.", "LYD", tier::other},
    {"د.م.", "MAD", tier::other},
    {"ر.ع.", "OMR", tier::other},
    {"ر.ق.", "QAR", tier::other},
    {"ر.س.", "SAR", tier::other},
    {"ل.س.", "SYP", tier::other},
    {"د.ت.", "TND", tier::other},
    {"ر.ي.", "YER", tier::other},
};

// The symbols grouped by first byte, longest first within a group: the search at a position
// only looks at the symbols that can start there, and the first that matches is the longest.
struct symbol_index {
    std::array<std::uint16_t, std::size(symbols)> order{};
    std::array<std::uint16_t, 257> group_begin{};  // by first byte; [256] is the end
};

constexpr symbol_index make_symbol_index() {
    symbol_index index;
    for (std::size_t k = 0; k < index.order.size(); ++k) {
        index.order[k] = static_cast<std::uint16_t>(k);
    }
    const auto first_byte = [](std::uint16_t k) {
        return static_cast<unsigned char>(symbols[k].text[0]);
    };
    std::sort(index.order.begin(), index.order.end(), [&](std::uint16_t a, std::uint16_t b) {
        if (first_byte(a) != first_byte(b)) {
            return first_byte(a) < first_byte(b);
        }
        if (symbols[a].text.size() != symbols[b].text.size()) {
            return symbols[a].text.size() > symbols[b].text.size();
        }
        return a < b;
    });
    std::size_t k = 0;
    for (std::size_t byte = 0; byte < 256; ++byte) {
        index.group_begin[byte] = static_cast<std::uint16_t>(k);
        while (k < index.order.size() && first_byte(index.order[k]) == byte) {
            ++k;
        }
    }
    index.group_begin[256] = static_cast<std::uint16_t>(k);
    return index;
}

constexpr symbol_index symbols_by_first_byte = make_symbol_index();

// ISO codes written out are "other" except the three price-parser trusts everywhere.
tier iso_code_tier(std::string_view code) {
    return (code == "EUR" || code == "CHF" || code == "DKK") ? tier::safe : tier::other;
}

// A letter for word boundaries: ASCII letters and the 2-byte scripts (Latin-1 letters through
// Arabic, lead bytes C3..DB). Keeps "RENAULT" from holding a code and "р" in "цена" a rouble.
bool is_letter_at(std::string_view s, std::size_t i) {
    if (i >= s.size()) {
        return false;
    }
    const unsigned char c = byte_at(s, i);
    return is_ascii_letter(static_cast<char>(c)) || (c >= 0xC3 && c <= 0xDB);
}

bool letter_before(std::string_view s, std::size_t i) {
    if (i == 0) {
        return false;
    }
    std::size_t j = i - 1;
    while (j > 0 && i - j < 4 && is_continuation(byte_at(s, j))) {
        --j;
    }
    return is_letter_at(s, j);
}

bool ends_with_letter(std::string_view symbol) {
    std::size_t j = symbol.size() - 1;
    while (j > 0 && is_continuation(byte_at(symbol, j))) {
        --j;
    }
    return is_letter_at(symbol, j);
}

bool symbol_matches_at(std::string_view s, std::size_t i, const currency_symbol& symbol) {
    if (s.substr(i, symbol.text.size()) != symbol.text) {
        return false;
    }
    if (is_letter_at(symbol.text, 0) && letter_before(s, i)) {
        return false;
    }
    return symbol.prefix_ok || !ends_with_letter(symbol.text) ||
           !is_letter_at(s, i + symbol.text.size());
}

// A code like "USD" standing as a word at i ("SGD4.90" counts: digits are not letters).
bool iso_code_at(std::string_view s, std::size_t i) {
    return i + 3 <= s.size() && is_ascii_upper(s[i]) && is_ascii_upper(s[i + 1]) &&
           is_ascii_upper(s[i + 2]) && !letter_before(s, i) && !is_letter_at(s, i + 3) &&
           is_iso_code(s.substr(i, 3));
}

// Codes that are also common words in lower case ("all", "top", "try", "pen", "mad", "kgs",
// German "dem", French "ils", Portuguese "fim", Tagalog "mga"...): only upper case counts for them.
// Sorted: binary search.
constexpr std::string_view word_like_codes[] = {
    "ALL", "AMD", "ANG", "ARS", "BAM", "BOB", "BOV", "BTN", "CAD", "CHE", "COP", "CRC",
    "CUP", "CVE", "DEM", "DOP", "EEK", "ESP", "FIM", "GEL", "ILS", "KES", "KGS", "LAK",
    "MAD", "MDL", "MGA", "MNT", "MOP", "MUR", "NAD", "PEN", "PHP", "ROL", "RON", "RUB",
    "SAR", "SIT", "SOS", "STD", "SVC", "TOP", "TRY", "VED", "VES", "YER", "ZAR",
};
static_assert(std::is_sorted(std::begin(word_like_codes), std::end(word_like_codes)));

// Only ASCII and no-break spaces: what separates a code from its amount ("12 usd", "usd\u00a012").
bool amount_before(std::string_view s, std::size_t i) {
    while (i > 0) {
        if (s[i - 1] == ' ' || s[i - 1] == '\t') {
            --i;
        } else if (i >= 2 && byte_at(s, i - 2) == 0xC2 && byte_at(s, i - 1) == 0xA0) {
            i -= 2;
        } else {
            return is_ascii_digit(s[i - 1]);
        }
    }
    return false;
}

bool amount_after(std::string_view s, std::size_t i) {
    const std::size_t j = skip_spaces(s, i);
    return digit_at(s, j) || (j < s.size() && s[j] == '.' && digit_at(s, j + 1));
}

// A code in lower case ("usd") standing as a word right next to the amount ("12 usd",
// "usd 12", "12usd"), and not one of the word-like codes. Away from a number, lower case is far
// more often a word than a currency. Mixed case is left alone: "GBp" is pence, "Ron" and "Bob"
// are names. Writes the code in upper case to `code`.
bool lower_case_code_at(std::string_view s, std::size_t i, char (&code)[3]) {
    if (i + 3 > s.size() || !is_ascii_lower(s[i]) || !is_ascii_lower(s[i + 1]) ||
        !is_ascii_lower(s[i + 2]) || letter_before(s, i) || is_letter_at(s, i + 3)) {
        return false;
    }
    code[0] = to_ascii_upper(s[i]);
    code[1] = to_ascii_upper(s[i + 1]);
    code[2] = to_ascii_upper(s[i + 2]);
    const std::string_view upper(code, 3);
    return is_iso_code(upper) &&
           !std::binary_search(std::begin(word_like_codes), std::end(word_like_codes), upper) &&
           (amount_before(s, i) || amount_after(s, i + 3));
}

// "SGD 4.90 $", "NZD $12": where a dollar sign is, a code ending in D names the dollar.
std::optional<std::string> find_dollar_code(std::string_view s) {
    if (s.find('$') == npos) {
        return std::nullopt;
    }
    for (std::size_t i = 0; i + 3 <= s.size(); ++i) {
        if (s[i + 2] == 'D' && iso_code_at(s, i)) {
            return std::string(s.substr(i, 3));
        }
    }
    return std::nullopt;
}

// The leftmost symbol of the tier (longest at that position): its ISO code or its text.
std::optional<std::string> find_symbol(std::string_view s, tier rank) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (is_continuation(byte_at(s, i))) {
            continue;
        }
        const currency_symbol* best = nullptr;
        const unsigned char first = byte_at(s, i);
        for (std::size_t k = symbols_by_first_byte.group_begin[first];
             k < symbols_by_first_byte.group_begin[first + 1U]; ++k) {
            const currency_symbol& symbol = symbols[symbols_by_first_byte.order[k]];
            if (symbol.rank == rank && symbol_matches_at(s, i, symbol)) {
                best = &symbol;
                break;
            }
        }
        if (best == nullptr && iso_code_at(s, i) && iso_code_tier(s.substr(i, 3)) == rank) {
            return std::string(s.substr(i, 3));
        }
        char code[3];
        if (best == nullptr && lower_case_code_at(s, i, code) &&
            iso_code_tier(std::string_view(code, 3)) == rank) {
            return std::string(code, 3);
        }
        if (best != nullptr) {
            return std::string(best->iso.empty() ? best->text : best->iso);
        }
    }
    return std::nullopt;
}

std::optional<std::string> find_currency(std::string_view s) {
    if (auto code = find_dollar_code(s)) {
        return code;
    }
    if (auto safe = find_symbol(s, tier::safe)) {
        return safe;
    }
    return find_symbol(s, tier::other);
}

std::string_view trim_spaces(std::string_view s) {
    std::size_t begin = skip_spaces(s, 0);
    std::size_t end = s.size();
    while (end > begin &&
           (s[end - 1] == ' ' || s[end - 1] == '\t' || s[end - 1] == '\n' || s[end - 1] == '\r')) {
        --end;
    }
    return s.substr(begin, end - begin);
}

// The hint: an ISO code in any case ("usd"), else searched like the text; junk gives nothing.
std::string currency_from_hint(std::string_view hint) {
    const std::string_view trimmed = trim_spaces(hint);
    if (trimmed.size() == 3 && is_ascii_letter(trimmed[0]) && is_ascii_letter(trimmed[1]) &&
        is_ascii_letter(trimmed[2])) {
        std::string code{to_ascii_upper(trimmed[0]), to_ascii_upper(trimmed[1]),
                         to_ascii_upper(trimmed[2])};
        if (is_iso_code(code)) {
            return code;
        }
    }
    return find_currency(trimmed).value_or(std::string{});
}

}  // namespace

parsed_price parse_price(std::string_view text, const price_hints& hints) {
    parsed_price result;
    parse_amount(text, hints, result);
    if (auto currency = find_currency(text)) {
        result.currency = std::move(*currency);
    } else if (!hints.currency.empty()) {
        result.currency = currency_from_hint(hints.currency);
    }
    return result;
}

}  // namespace harvest::pipelines
