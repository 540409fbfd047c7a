#pragma once
// schema.org availability URLs ("https://schema.org/InStock", "http://schema.org/OutOfStock",
// "InStock") and common shop phrases ("In stock", "Sold out", "Pre-order") to the values of
// docs/items.md: in_stock, out_of_stock, preorder, backorder, discontinued, limited,
// online_only, sold_out, in_store_only. Pure.

#include <optional>
#include <string_view>

namespace harvest::pipelines {

std::optional<std::string_view> normalize_availability(std::string_view text);

}  // namespace harvest::pipelines
