// price-parser's own test table (tests/data/price_parsing, see its README.md and SOURCES.md)
// run through parse_price. Amounts must match upstream in >= 95% of the rows, compared as exact
// decimals. Currencies are checked the items.md way: where the raw symbol upstream expects
// names one currency, we must give its ISO 4217 code instead; otherwise the symbol as written.

#include "pipelines/normalize/price.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <charconv>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using harvest::pipelines::parse_price;
using harvest::pipelines::parsed_price;
using harvest::pipelines::price_hints;

boost::json::value load_json(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in.good());
    std::stringstream buffer;
    buffer << in.rdbuf();
    return boost::json::parse(buffer.str());
}

// "89" == "89.0" == "089.000": compare decimals exactly, never through floats.
std::string canonical_decimal(std::string_view s) {
    const std::size_t dot = s.find('.');
    std::string_view int_part = s.substr(0, dot);
    std::string_view frac_part = dot == std::string_view::npos ? "" : s.substr(dot + 1);
    while (int_part.size() > 1 && int_part.front() == '0') {
        int_part.remove_prefix(1);
    }
    while (!frac_part.empty() && frac_part.back() == '0') {
        frac_part.remove_suffix(1);
    }
    std::string out(int_part.empty() ? "0" : int_part);
    if (!frac_part.empty()) {
        out += '.';
        out += frac_part;
    }
    return out;
}

// Written for this test from the raw symbols the table expects and the others price-parser
// knows: the ISO code items.md wants when the symbol names one currency. Symbols missing here
// are ambiguous ("$", "kr", "руб.", "lei", "LEI", "FCFA", "Dinara") and stay as written;
// three-letter codes are already ISO.
const std::map<std::string, std::string, std::less<>>& iso_for_symbol() {
    static const std::map<std::string, std::string, std::less<>> table = {
        {"€", "EUR"},
        {"£", "GBP"},
        {"US$", "USD"},
        {"zł", "PLN"},
        {"Zł", "PLN"},
        {"円", "JPY"},
        {"¥", "JPY"},
        {"₹", "INR"},
        {"₽", "RUB"},
        {"Kč", "CZK"},
        {"₪", "ILS"},
        {"грн", "UAH"},
        {"грн.", "UAH"},
        {"R$", "BRL"},
        {"Ft", "HUF"},
        {"TL", "TRY"},
        {"Rp", "IDR"},
        {"₫", "VND"},
        {"đ", "VND"},
        {"MX$", "MXN"},
        {"NT$", "TWD"},
        {"лв", "BGN"},
        {"лв.", "BGN"},
        {"؋", "AFN"},
        {"Lek", "ALL"},
        {"֏", "AMD"},
        {"₼", "AZN"},
        {"৳", "BDT"},
        {"BZ$", "BZD"},
        {"KM", "BAM"},
        {"FBu", "BIF"},
        {"BD", "BHD"},
        {"៛", "KHR"},
        {"₡", "CRC"},
        {"kn", "HRK"},
        {"CUC$", "CUC"},
        {"₱", "PHP"},
        {"Fdj", "DJF"},
        {"RD$", "DOP"},
        {"GH₵", "GHS"},
        {"KD", "KWD"},
        {"₭", "LAK"},
        {"LD", "LYD"},
        {"MOP$", "MOP"},
        {"MK", "MWK"},
        {"RM", "MYR"},
        {"Rf", "MVR"},
        {"₮", "MNT"},
        {"C$", "CAD"},
        {"B/.", "PAB"},
        {"S/.", "PEN"},
        {"Db", "STN"},
        {"TSh", "TZS"},
        {"T$", "TOP"},
        {"USh", "UGX"},
        {"VT", "VUV"},
        {"ZK", "ZMW"},
        {"FG", "GNF"},
        {"euro", "EUR"},
        // Not in the shared rows: the other symbols of price-parser's table that name one
        // currency (its dollar prefixes, signs, abbreviations and the Arabic abbreviations, which
        // it returns with their right-to-left mark), so that rows holding them compare by code.
        {"Bds$", "BBD"},
        {"AR$", "ARS"},
        {"AU$", "AUD"},
        {"BN$", "BND"},
        {"CA$", "CAD"},
        {"CL$", "CLP"},
        {"CO$", "COP"},
        {"CV$", "CVE"},
        {"HK$", "HKD"},
        {"NZ$", "NZD"},
        {"TT$", "TTD"},
        {"WS$", "WST"},
        {"EC$", "XCD"},
        {"FJ$", "FJD"},
        {"SI$", "SBD"},
        {"GY$", "GYD"},
        {"BD$", "BMD"},
        {"SR$", "SRD"},
        {"L$", "LRD"},
        {"$U", "UYU"},
        {"J$", "JMD"},
        {"N$", "NAD"},
        {"S$", "SGD"},
        {"Z$", "ZWL"},
        {"A$", "AUD"},
        {"SY£", "SYP"},
        {"LB£", "LBP"},
        {"E£", "EGP"},
        {"CN¥", "CNY"},
        {"JP¥", "JPY"},
        {"GH¢", "GHS"},
        {"￥", "JPY"},
        {"元", "CNY"},
        {"ZŁ", "PLN"},
        {"฿", "THB"},
        {"₦", "NGN"},
        {"₴", "UAH"},
        {"₩", "KRW"},
        {"₲", "PYG"},
        {"₾", "GEL"},
        {"₸", "KZT"},
        {"₺", "TRY"},
        {"₵", "GHS"},
        {"원", "KRW"},
        {"դր.", "AMD"},
        {"դր", "AMD"},
        {"नेरू", "NPR"},
        {"ރ", "MVR"},
        {"૱", "INR"},
        {"௹", "INR"},
        {"₧", "ESP"},
        {"₯", "GRD"},
        {"ر.ق.\u200f", "QAR"},
        {"د.ك.\u200f", "KWD"},
        {"د.ع.\u200f", "IQD"},
        {"ر.ع.\u200f", "OMR"},
        {"ر.ي.\u200f", "YER"},
        {"ر.س.\u200f", "SAR"},
        {"د.ج.\u200f", "DZD"},
        {"د.م.\u200f", "MAD"},
        {"د.إ.\u200f", "AED"},
        {"د.ت.\u200f", "TND"},
        {"د.ل.\u200f", "LYD"},
        {"ل.س.\u200f", "SYP"},
        {"د.ب.\u200f", "BHD"},
        {"د.أ.\u200f", "JOD"},
        {"ج.م.\u200f", "EGP"},
        {"ل.ل.\u200f", "LBP"},
        {"Euro", "EUR"},
        {"EURO", "EUR"},
        {"eur", "EUR"},
        {"тңг.", "KZT"},
        {"тңг", "KZT"},
        {"ден", "MKD"},
        {"RMB", "CNY"},
        {"NIS", "ILS"},
        {"KSh", "KES"},
        {"Ksh", "KES"},
        {"zl", "PLN"},
        {"Kz", "AOA"},
        {"Gs", "PYG"},
        {"QR", "QAR"},
        {"DT", "TND"},
        {"MT", "MZN"},
        {"Nu.", "BTN"},
        {"сом", "KGS"},
        {"$b", "BOB"},
        {"CAN$", "CAD"},
        {"yen", "JPY"},
        {"yuan", "CNY"},
        {"pln", "PLN"},
        {"Fr.", "CHF"},
        {"UM", "MRU"},
        {"Nfk", "ERN"},
        {"Af", "AFN"},
        {"Afl.", "AWG"},
        {"Tk", "BDT"},
        {"Bs.F.", "VEF"},
        {"FrCD", "CDF"},
        {"UF", "CLF"},
        {"JD", "JOD"},
        {"SR", "SAR"},
        {"Ssh", "SOS"},
        {"CFP", "XPF"},
        {"Dkr", "DKK"},
        {"Ekr", "EEK"},
        {"Ikr", "ISK"},
        {"Nkr", "NOK"},
        {"Skr", "SEK"},
        {"SLRs", "LKR"},
        {"SL Re", "LKR"},
        {"MURs", "MUR"},
        {"NPRs", "NPR"},
        {"PKRs", "PKR"},
        {"MRf", "MVR"},
        {"MTn", "MZN"},
        {"NTD", "TWD"},
        {"د.إ.", "AED"},
        {"د.ب.", "BHD"},
        {"د.ج.", "DZD"},
        {"ج.م.", "EGP"},
        {"د.ع.", "IQD"},
        {"د.أ.", "JOD"},
        {"د.ك.", "KWD"},
        {"ل.ل.", "LBP"},
        {"د.ل.", "LYD"},
        {"د.م.", "MAD"},
        {"ر.ع.", "OMR"},
        {"ر.ق.", "QAR"},
        {"ر.س.", "SAR"},
        {"ل.س.", "SYP"},
        {"د.ت.", "TND"},
        {"ر.ي.", "YER"},
    };
    return table;
}

std::string_view string_or_empty(const boost::json::value& v) {
    return v.is_string() ? std::string_view(v.get_string()) : std::string_view{};
}

struct corpus_counts {
    std::size_t rows = 0;
    std::size_t amount_ok = 0;
    std::size_t currency_rows = 0;
    std::size_t currency_ok = 0;
    std::size_t same_as_upstream_rows = 0;  // expected symbol is null or already what we give
    std::size_t same_as_upstream_ok = 0;
    std::size_t iso_rule_rows = 0;  // items.md maps upstream's raw symbol to an ISO code
    std::size_t iso_rule_ok = 0;
    std::vector<std::string> failures;
};

corpus_counts run_corpus(const boost::json::array& rows) {
    corpus_counts counts;
    for (const boost::json::value& row_value : rows) {
        const boost::json::object& row = row_value.as_object();
        const std::string id(string_or_empty(row.at("id")));
        const std::string_view text = string_or_empty(row.at("price_text"));
        price_hints hints;
        hints.currency = std::string(string_or_empty(row.at("currency_hint")));
        const std::string_view separator = string_or_empty(row.at("decimal_separator"));
        if (separator == "€") {
            hints.euro_sign_decimal = true;
        } else if (separator.size() == 1) {
            hints.decimal_separator = separator[0];
        }
        const parsed_price got = parse_price(text, hints);
        ++counts.rows;

        // Amount.
        const boost::json::value& expected_amount = row.at("expected_amount");
        bool amount_ok = false;
        if (expected_amount.is_null()) {
            amount_ok = !got.amount && got.amount_decimal.empty();
        } else {
            const std::string_view want = expected_amount.get_string();
            double want_double = 0;
            std::from_chars(want.data(), want.data() + want.size(), want_double);
            amount_ok = got.amount && !got.amount_decimal.empty() &&
                        canonical_decimal(got.amount_decimal) == canonical_decimal(want) &&
                        std::fabs(*got.amount - want_double) <= 1e-9 * std::fabs(want_double);
        }
        if (amount_ok) {
            ++counts.amount_ok;
        } else {
            counts.failures.push_back(id + " amount: '" + std::string(text) + "' hint '" +
                                      hints.currency + "' sep '" + std::string(separator) +
                                      "' -> '" + got.amount_decimal + "', want " +
                                      boost::json::serialize(expected_amount));
        }

        // Currency (not asserted upstream for amount_only rows).
        const auto amount_only = row.if_contains("amount_only");
        if (amount_only != nullptr && amount_only->is_bool() && amount_only->get_bool()) {
            continue;
        }
        ++counts.currency_rows;
        const boost::json::value& expected_currency = row.at("expected_currency");
        std::string want;
        bool iso_rule = false;
        if (expected_currency.is_string()) {
            want = std::string(expected_currency.get_string());
            const auto& table = iso_for_symbol();
            if (const auto it = table.find(want); it != table.end()) {
                want = it->second;
                iso_rule = true;
            }
        }
        const bool currency_ok = got.currency == want;
        (iso_rule ? counts.iso_rule_rows : counts.same_as_upstream_rows) += 1;
        if (currency_ok) {
            ++counts.currency_ok;
            (iso_rule ? counts.iso_rule_ok : counts.same_as_upstream_ok) += 1;
        } else {
            counts.failures.push_back(id + " currency: '" + std::string(text) + "' hint '" +
                                      hints.currency + "' -> '" + got.currency + "', want '" +
                                      want + "' (upstream " +
                                      boost::json::serialize(expected_currency) + ")");
        }
    }
    return counts;
}

}  // namespace

TEST_CASE("price corpus: price-parser's table", "[unit][normalize][price][corpus]") {
    const boost::json::value corpus =
        load_json(std::string(HARVEST_TEST_DATA_DIR) + "/price_parsing/price_parsing.json");
    const corpus_counts counts = run_corpus(corpus.as_array());
    for (const std::string& failure : counts.failures) {
        std::cout << "  FAIL " << failure << '\n';
    }
    std::cout << "price corpus: amounts " << counts.amount_ok << "/" << counts.rows
              << "; currencies " << counts.currency_ok << "/" << counts.currency_rows
              << " (same as upstream " << counts.same_as_upstream_ok << "/"
              << counts.same_as_upstream_rows << ", items.md ISO rule " << counts.iso_rule_ok << "/"
              << counts.iso_rule_rows << ")\n";
    REQUIRE(counts.rows > 700);
    CHECK(counts.amount_ok * 100 >= counts.rows * 95);
    CHECK(counts.currency_ok * 100 >= counts.currency_rows * 95);
}

TEST_CASE("price corpus: upstream's own expected failures, informative",
          "[unit][normalize][price][corpus]") {
    const boost::json::value corpus = load_json(std::string(HARVEST_TEST_DATA_DIR) +
                                                "/price_parsing/price_parsing_upstream_xfail.json");
    const corpus_counts counts = run_corpus(corpus.as_array());
    std::cout << "price xfail rows (upstream fails all of them): amounts " << counts.amount_ok
              << "/" << counts.rows << "; currencies " << counts.currency_ok << "/"
              << counts.currency_rows << "\n";
    // Not gated: these are rows the reference parser itself gets wrong. Only sanity.
    REQUIRE(counts.rows > 100);
}
