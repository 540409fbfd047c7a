// Fuzzes the JSON-LD scanner over an HTML page and the schema.org Product normalization.

#include "pipelines/structured/jsonld.hpp"
#include "pipelines/structured/product.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view html(reinterpret_cast<const char*>(data), size);
    const auto values = harvest::pipelines::find_jsonld(html);
    (void)harvest::pipelines::products_from_jsonld(values);
    // The same bytes as one script's text: reaches the JSON repair paths directly.
    const auto block = harvest::pipelines::parse_jsonld_block(html);
    (void)harvest::pipelines::products_from_jsonld(block);
    return 0;
}
