// Hand-written price cases: the examples of items.md and the brief, hints, edge cases, and a
// bounded random-bytes loop that must never crash or break the result's invariants.

#include "pipelines/normalize/price.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

namespace {

using harvest::pipelines::parse_price;
using harvest::pipelines::parsed_price;
using harvest::pipelines::price_hints;

struct price_case {
    std::string_view text;
    std::string_view amount;  // plain decimal, "" = absent
    std::string_view currency;
};

void check_case(const price_case& c, const price_hints& hints = {}) {
    INFO("text: '" << c.text << "'");
    const parsed_price got = parse_price(c.text, hints);
    CHECK(got.amount_decimal == c.amount);
    CHECK(got.amount.has_value() == !c.amount.empty());
    if (got.amount && !c.amount.empty()) {
        CHECK(*got.amount == Approx(std::stod(std::string(c.amount))));
    }
    CHECK(got.currency == c.currency);
}

}  // namespace

TEST_CASE("price: common shapes", "[unit][normalize][price]") {
    const price_case cases[] = {
        {"$1,299.99", "1299.99", "$"},
        {"1.299,99 €", "1299.99", "EUR"},
        {"EUR 12,-", "12", "EUR"},
        {"12,-- EUR", "12", "EUR"},
        {"12,– €", "12", "EUR"},
        {"from £5", "5", "GBP"},
        {"1 299,99 zł", "1299.99", "PLN"},
        {"1\u00a0299,99 zł", "1299.99", "PLN"},  // no-break space
        {"1\u202f299,99 €", "1299.99", "EUR"},   // narrow no-break space
        {"12.50", "12.50", ""},
        {"¥1,200", "1200", "JPY"},
        {"3 500 円", "3500", "JPY"},
        {"CN¥ 88", "88", "CNY"},
        {"Rs. 1,234.50", "1234.50", "Rs"},
        {"CHF 1'234.50", "1234.50", "CHF"},
        {"CHF 1\u2019234.50", "1234.50", "CHF"},  // typographic apostrophe
        {"A$ 5", "5", "AUD"},
        {"AU$5", "5", "AUD"},
        {"C$10.00", "10.00", "CAD"},
        {"US$ 3.49", "3.49", "USD"},
        {"₹ 499", "499", "INR"},
        {"1 200 ₽", "1200", "RUB"},
        {"99 kr", "99", "kr"},
        {"USD 5", "5", "USD"},
        {"5 GBP", "5", "GBP"},
        {"SGD 4.90 $", "4.90", "SGD"},
        {"£94.50 GBP", "94.50", "GBP"},
        {"1.234.567,89 €", "1234567.89", "EUR"},
        {"1,234,567.89", "1234567.89", ""},
        {"1,234.567 KD", "1234567", "KWD"},  // 3 digits: thousands, even after a comma
        {"129.900", "129900", ""},           // exactly 3 digits: thousands
        {"34.992001", "34.992001", ""},
        {"0.99", "0.99", ""},
        {"$.75", "0.75", "$"},
        {"007", "7", ""},
        {"Price: 20% off, now $9.99", "9.99", "$"},
        {"35€99", "35.99", "EUR"},
        {"35€ 999", "35", "EUR"},
        {"99 € 79 €", "99", "EUR"},
        {"1.899,-", "1899", ""},
        {"36. 24", "36.24", ""},
        {"naše cena 4 370 Kč", "4370", "CZK"},
        {"2 285,81 грн.", "2285.81", "UAH"},
        {"1128240 рублей", "1128240", "руб"},
        {"R$ 528,00", "528.00", "BRL"},
        {"$1,190.00 AUD", "1190.00", "AUD"},
        {"12 x 3.99", "12", ""},  // the first number, like price-parser
    };
    for (const price_case& c : cases) {
        check_case(c);
    }
}

TEST_CASE("price: price-parser's other symbols and words", "[unit][normalize][price]") {
    const price_case cases[] = {
        // Case variants price-parser lists. "lei" names the Romanian and the Moldovan leu alike,
        // so every spelling of it stays as written, as "lei" always has.
        {"99 LEI", "99", "LEI"},
        {"21,00 Lei", "21.00", "Lei"},
        {"145,00 lei", "145.00", "lei"},
        {"10 leu", "10", "leu"},
        {"140,00 pln", "140.00", "PLN"},
        // Signs and abbreviations that name one currency.
        {"1 000 원", "1000", "KRW"},
        {"1 Nfk", "1", "ERN"},
        {"1 UM", "1", "MRU"},  // the ouguiya's current code (MRO before 2018)
        {"199.90 Fr.", "199.90", "CHF"},
        {"1 դր.", "1", "AMD"},
        {"1 ₧", "1", "ESP"},
        {"1 ₯", "1", "GRD"},
        {"Tk 500", "500", "BDT"},
        {"1 Dkr", "1", "DKK"},
        {"1 JD", "1", "JOD"},
        {"UF 3.500", "3500", "CLF"},
        {"1 CFP", "1", "XPF"},
        {"1 د.إ.", "1", "AED"},
        {"1 ر.س.\u200f", "1", "SAR"},
        {"45 ج.م.", "45", "EGP"},
        {"1 NTD", "1", "TWD"},
        // Several currencies, or none with a code: as written.
        {"1 FCFA", "1", "FCFA"},  // the franc CFA of both zones (XAF and XOF)
        {"1 CFA", "1", "CFA"},
        {"6790 Dinara", "6790", "Dinara"},  // like "дин."
        {"1 динар", "1", "динар"},
        {"13800 ₶", "13800", "₶"},  // livre tournois
        {"1 ₣", "1", "₣"},          // the franc sign, of several francs
        {"1 جنيه", "1", "جنيه"},    // pound: Egyptian, Sudanese, sterling
        // A safe sign still wins over the new abbreviations anywhere in the text.
        {"UM 5 €", "5", "EUR"},
    };
    for (const price_case& c : cases) {
        check_case(c);
    }
}

TEST_CASE("price: ISO codes in lower case next to the amount", "[unit][normalize][price]") {
    const price_case cases[] = {
        {"usd 12", "12", "USD"},
        {"12 usd", "12", "USD"},
        {"12usd", "12", "USD"},
        {"1 nzd", "1", "NZD"},
        {"99,90 chf", "99.90", "CHF"},
        {"1\u00a0sek", "1", "SEK"},
        // Not a code, or a code only as an ordinary word: no currency.
        {"Pro 12", "12", ""},
        {"all 12 items", "12", ""},
        {"top 10 deals", "10", ""},
        {"try 2 for 9.99", "2", ""},
        {"5 kgs", "5", ""},
        {"12 pen refills", "12", ""},
        {"1 GBp", "1", ""},         // mixed case: pence, not pounds
        {"Ron 12", "12", ""},       // and names
        {"usdollar 12", "12", ""},  // not a whole word
        {"12 usdt", "12", ""},
        // Lowercase codes away from the amount are words, not currencies.
        {"cad drawings from 12", "12", ""},
        {"pay in usd later: 12", "12", ""},
        // Upper case stays a code anywhere, as before.
        {"Price in USD: 12", "12", "USD"},
    };
    for (const price_case& c : cases) {
        check_case(c);
    }
}

TEST_CASE("price: decimal separator hint overrides the guess", "[unit][normalize][price]") {
    price_hints comma;
    comma.decimal_separator = ',';
    price_hints dot;
    dot.decimal_separator = '.';
    check_case({"1.234", "1234", ""});
    check_case({"1.234", "1234", ""}, comma);
    check_case({"1.234", "1.234", ""}, dot);
    check_case({"1,234", "1.234", ""}, comma);
    check_case({"12,50", "1250", ""}, dot);
    check_case({"1,234.567", "1234.567", ""}, dot);  // what 3-decimal currencies need
    check_case({"140.000", "140.000", ""}, dot);
    check_case({"1.234.567,5", "1234567.5", ""}, comma);
    check_case({"$.750.30", "750.30", "$"}, dot);
    price_hints euro;
    euro.euro_sign_decimal = true;
    check_case({"1250€600", "1250.600", "EUR"}, euro);
    check_case({"140.000€33", "140000.33", "EUR"}, euro);
}

TEST_CASE("price: currency hint is used only when the text has none", "[unit][normalize][price]") {
    price_hints eur;
    eur.currency = "EUR";
    check_case({"12.50", "12.50", "EUR"}, eur);
    check_case({"£5", "5", "GBP"}, eur);
    check_case({"$5", "5", "$"}, eur);  // items.md: the symbol as written before the hint
    price_hints lower;
    lower.currency = "usd";
    check_case({"5", "5", "USD"}, lower);
    price_hints sign;
    sign.currency = "€";
    check_case({"19,59", "19.59", "EUR"}, sign);
    price_hints text;
    text.currency = "Pris NOK 899,00";
    check_case({"899,00", "899.00", "NOK"}, text);
    price_hints junk;
    junk.currency = "Price";
    check_case({"89.99", "89.99", ""}, junk);
    price_hints not_iso;
    not_iso.currency = "REI";
    check_case({"", "", ""}, not_iso);
}

TEST_CASE("price: edge cases", "[unit][normalize][price]") {
    check_case({"", "", ""});
    check_case({"   ", "", ""});
    check_case({"AQUAFINESSE", "", ""});  // a word holding no code
    check_case({"Sold out", "", ""});
    check_case({"Free!", "0", ""});
    check_case({"FREE shipping", "0", ""});
    check_case({"freedom", "", ""});
    check_case({"50%", "", ""});
    check_case({"-30 %", "", ""});
    check_case({"- $44.99", "44.99", "$"});  // the sign is ignored: prices are not negative
    check_case({"-5.00 €", "5.00", "EUR"});
    check_case({"99999999999999999999", "99999999999999999999", ""});

    // Hundreds of digits still fit a double; beyond its range the amount is absent.
    const std::string big = "1" + std::string(300, '0');
    const parsed_price got_big = parse_price(big);
    REQUIRE(got_big.amount);
    CHECK(*got_big.amount == Approx(1e300));
    CHECK(got_big.amount_decimal == big);
    const parsed_price too_big = parse_price("$1" + std::string(400, '0'));
    CHECK_FALSE(too_big.amount);
    CHECK(too_big.amount_decimal.empty());
    CHECK(too_big.currency == "$");
    const parsed_price tiny = parse_price("0." + std::string(400, '0') + "1");
    REQUIRE(tiny.amount);
    CHECK(*tiny.amount == 0.0);
}

TEST_CASE("price: 10 KB of garbage", "[unit][normalize][price]") {
    std::string noise;
    const std::string_view pieces[] = {"abc", " ", "%", "\xE2\x82\xAC", ",", ".", "\xFF", "-"};
    for (std::size_t i = 0; noise.size() < 10240; ++i) {
        noise += pieces[(i * 7 + i / 3) % std::size(pieces)];
    }
    const parsed_price no_number = parse_price(noise);
    CHECK_FALSE(no_number.amount);
    CHECK(no_number.currency == "EUR");

    const parsed_price at_end = parse_price(std::string(10240, 'x') + " $5.25");
    CHECK(at_end.amount_decimal == "5.25");
    CHECK(at_end.currency == "$");

    const parsed_price digits = parse_price(std::string(10240, '7'));
    CHECK_FALSE(digits.amount);  // far beyond a double

    std::string grouped = "1";
    while (grouped.size() < 10240) {
        grouped += ",000";
    }
    const parsed_price long_grouped = parse_price(grouped);
    CHECK_FALSE(long_grouped.amount);
    const parsed_price separators = parse_price(std::string(10240, ','));
    CHECK_FALSE(separators.amount);
}

TEST_CASE("price: random bytes never crash, results stay well-formed",
          "[unit][normalize][price][fuzz]") {
    // Deterministic and bounded: 20000 inputs of at most 64 bytes drawn mostly from the bytes
    // the scanner cares about, so the interesting paths get hit.
    std::mt19937 rng(20261129U);
    const std::string_view alphabet[] = {
        "0",
        "1",
        "9",
        ".",
        ",",
        " ",
        "'",
        "%",
        "-",
        "$",
        "\xE2\x82\xAC",
        "\xC2\xA0",
        "\xE2\x80",
        "\xC2",
        "\xE2",
        "\x80",
        "\xFF",
        "\0",
        "US",
        "D",
        "EUR",
        "z\xC5\x82",
        "\xD1\x80",
        ".",
        "free",
        "R$",
        "\xE5\x86\x86",
        "A",
    };
    std::uniform_int_distribution<std::size_t> pick(0, std::size(alphabet) - 1);
    std::uniform_int_distribution<int> length(0, 64);
    std::uniform_int_distribution<int> any_byte(0, 255);
    std::uniform_int_distribution<int> hint_kind(0, 4);
    std::size_t with_amount = 0;
    for (int iteration = 0; iteration < 20000; ++iteration) {
        std::string input;
        const int n = length(rng);
        for (int i = 0; i < n; ++i) {
            if (any_byte(rng) < 32) {
                input.push_back(static_cast<char>(any_byte(rng)));
            } else {
                input += alphabet[pick(rng)];
            }
        }
        price_hints hints;
        switch (hint_kind(rng)) {
            case 1:
                hints.decimal_separator = '.';
                break;
            case 2:
                hints.decimal_separator = ',';
                break;
            case 3:
                hints.euro_sign_decimal = true;
                break;
            case 4:
                hints.currency = input.substr(0, 5);
                break;
            default:
                break;
        }
        const parsed_price got = parse_price(input, hints);
        // Checked only on failure, so 20000 iterations do not flood the report.
        const bool well_formed =
            got.amount.has_value() == !got.amount_decimal.empty() &&
            (!got.amount || (*got.amount >= 0 && std::isfinite(*got.amount))) &&
            got.amount_decimal.find_first_not_of("0123456789.") == std::string::npos &&
            got.amount_decimal.find('.') == got.amount_decimal.rfind('.') &&
            got.currency.size() <= 12;
        if (!well_formed) {
            FAIL("ill-formed result for input of " << input.size() << " bytes: amount '"
                                                   << got.amount_decimal << "' currency '"
                                                   << got.currency << "'");
        }
        with_amount += got.amount ? 1 : 0;
    }
    CHECK(with_amount > 1000);  // the loop really exercised the number paths
}
