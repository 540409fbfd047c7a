#pragma once
// The product fields of docs/items.md, in item order: what a `type: jsonld` or
// `type: microdata` rule with `schema: Product` emits after url, fetched_at and status (see
// pipelines/structured/product.hpp). Header-only, so config validation can name them without
// linking the pipelines.

#include <array>
#include <string_view>

namespace harvest::pipelines {

inline constexpr std::array<std::string_view, 9> product_field_names = {
    "id", "name", "brand", "price", "currency", "availability", "rating", "review_count", "image"};

}  // namespace harvest::pipelines
