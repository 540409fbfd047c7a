// Fuzzes the CSS selector to XPath compiler. css_syntax_error is the documented failure; any
// other exception escaping is a bug and aborts here.

#include "pipelines/html/html.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view css(reinterpret_cast<const char*>(data), size);
    try {
        (void)harvest::pipelines::css_to_xpath(css);
    } catch (const harvest::pipelines::css_syntax_error& e) {
        if (e.offset() > css.size()) {
            __builtin_trap();  // documented: the offset is within the selector (or its end)
        }
    }
    return 0;
}
