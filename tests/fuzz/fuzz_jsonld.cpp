// Fuzzes the JSON-LD scanner over an HTML page and the schema.org Product normalization, and
// holds jsonld_products (read in place) to products_from_jsonld over the whole values.

#include "pipelines/structured/jsonld.hpp"
#include "pipelines/structured/product.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view html(reinterpret_cast<const char*>(data), size);
    const auto values = harvest::pipelines::find_jsonld(html);
    const auto products = harvest::pipelines::products_from_jsonld(values);
    // The products read from simdjson's document in place (or by the fallback) are the same.
    if (harvest::pipelines::jsonld_products(html) != products) {
        __builtin_trap();
    }
    // The same bytes as one script's text: reaches the JSON repair paths directly.
    const auto block = harvest::pipelines::parse_jsonld_block(html);
    (void)harvest::pipelines::products_from_jsonld(block);
    return 0;
}
