// Fuzzes the free-text price parser, with and without hints.

#include "pipelines/normalize/price.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::uint8_t flags = data[0];
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    (void)harvest::pipelines::parse_price(text);
    harvest::pipelines::price_hints hints;
    if ((flags & 3) == 1) {
        hints.decimal_separator = '.';
    } else if ((flags & 3) == 2) {
        hints.decimal_separator = ',';
    }
    hints.euro_sign_decimal = (flags & 4) != 0;
    hints.currency = (flags & 8) != 0 ? "Pris NOK" : "";
    const auto price = harvest::pipelines::parse_price(text, hints);
    if (price.amount && *price.amount < 0) {
        __builtin_trap();  // documented: prices are not negative
    }
    return 0;
}
