#include "pipelines/normalize/availability.hpp"

#include "engine/core/text.hpp"

#include <cstddef>
#include <optional>
#include <string_view>

// Three passes, most specific first: the items.md value itself (idempotent), a schema.org
// ItemAvailability name (bare or as an http/https URL, any case), then shop phrases found as
// whole words anywhere in the text. Hand-written, ASCII case folding only: no locale.

namespace harvest::pipelines {
namespace {

constexpr bool is_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           static_cast<unsigned char>(c) >= 0x80;  // bytes of non-ASCII letters are word bytes
}
using core::ascii_lower;
using core::iequals;
using core::is_ascii_digit;
using core::istarts_with;

struct mapping {
    std::string_view from;
    std::string_view to;
};

constexpr mapping item_values[] = {
    {"in_stock", "in_stock"},           {"out_of_stock", "out_of_stock"},
    {"preorder", "preorder"},           {"backorder", "backorder"},
    {"discontinued", "discontinued"},   {"limited", "limited"},
    {"online_only", "online_only"},     {"sold_out", "sold_out"},
    {"in_store_only", "in_store_only"},
};

// https://schema.org/ItemAvailability. MadeToOrder has no value of its own: like a backorder,
// it can be ordered now and ships later. Reserved cannot be bought now: out_of_stock.
constexpr mapping schema_values[] = {
    {"InStock", "in_stock"},
    {"OutOfStock", "out_of_stock"},
    {"PreOrder", "preorder"},
    {"PreSale", "preorder"},
    {"BackOrder", "backorder"},
    {"Discontinued", "discontinued"},
    {"LimitedAvailability", "limited"},
    {"OnlineOnly", "online_only"},
    {"SoldOut", "sold_out"},
    {"InStoreOnly", "in_store_only"},
    {"MadeToOrder", "backorder"},
    {"Reserved", "out_of_stock"},
};

// Phrases in priority order: negations and the specific before the general ("not available"
// before "available", "only 3 left in stock" before "in stock"). A space matches any run of
// non-word bytes ("pre-order", "in_store_only"); '#' matches a run of digits.
constexpr mapping phrases[] = {
    {"discontinued", "discontinued"},
    {"no longer available", "discontinued"},
    {"no longer sold", "discontinued"},
    {"pre order", "preorder"},
    {"preorder", "preorder"},
    {"pre sale", "preorder"},
    {"presale", "preorder"},
    {"backorder", "backorder"},
    {"backordered", "backorder"},
    {"back order", "backorder"},
    {"back ordered", "backorder"},
    {"made to order", "backorder"},
    {"sold out", "sold_out"},
    {"soldout", "sold_out"},
    {"out of stock", "out_of_stock"},
    {"outofstock", "out_of_stock"},
    {"not in stock", "out_of_stock"},
    {"not available", "out_of_stock"},
    {"unavailable", "out_of_stock"},
    {"no stock", "out_of_stock"},
    {"only # left", "limited"},
    {"only # in stock", "limited"},
    {"only # available", "limited"},
    {"# left in stock", "limited"},
    {"limited availability", "limited"},
    {"limited stock", "limited"},
    {"low stock", "limited"},
    {"few left", "limited"},
    {"last items", "limited"},
    {"online only", "online_only"},
    {"onlineonly", "online_only"},
    {"in store only", "in_store_only"},
    {"instore only", "in_store_only"},
    {"instoreonly", "in_store_only"},
    // The same in the languages shops most often write in (French, German, Spanish, Italian,
    // Portuguese, Dutch, Scandinavian): negations first, as above.
    {"rupture de stock", "out_of_stock"},
    {"en rupture", "out_of_stock"},
    {"indisponible", "out_of_stock"},
    {"épuisé", "sold_out"},
    {"épuisée", "sold_out"},
    {"nicht verfügbar", "out_of_stock"},
    {"nicht auf lager", "out_of_stock"},
    {"nicht lieferbar", "out_of_stock"},
    {"ausverkauft", "sold_out"},
    {"agotado", "sold_out"},
    {"sin stock", "out_of_stock"},
    {"no disponible", "out_of_stock"},
    {"esaurito", "sold_out"},
    {"non disponibile", "out_of_stock"},
    {"esgotado", "sold_out"},
    {"fora de estoque", "out_of_stock"},
    {"indisponível", "out_of_stock"},
    {"niet op voorraad", "out_of_stock"},
    {"uitverkocht", "sold_out"},
    {"ikke på lager", "out_of_stock"},
    {"slutsåld", "sold_out"},
    {"précommande", "preorder"},
    {"vorbestellbar", "preorder"},
    {"en stock", "in_stock"},
    {"auf lager", "in_stock"},
    {"lieferbar", "in_stock"},
    {"en existencia", "in_stock"},
    {"disponible", "in_stock"},
    {"disponibile", "in_stock"},
    {"em estoque", "in_stock"},
    {"disponível", "in_stock"},
    {"op voorraad", "in_stock"},
    {"på lager", "in_stock"},
    {"in stock", "in_stock"},
    {"instock", "in_stock"},
    {"available", "in_stock"},
};

// Does `phrase` match `text` at i, ending on a word boundary?
bool phrase_at(std::string_view text, std::size_t i, std::string_view phrase) {
    for (const char p : phrase) {
        if (p == ' ') {
            const std::size_t start = i;
            while (i < text.size() && !is_alnum(text[i])) {
                ++i;
            }
            if (i == start) {
                return false;
            }
        } else if (p == '#') {
            const std::size_t start = i;
            while (i < text.size() && is_ascii_digit(text[i])) {
                ++i;
            }
            if (i == start) {
                return false;
            }
        } else if (i >= text.size() || ascii_lower(text[i]) != p) {
            return false;
        } else {
            ++i;
        }
    }
    return i == text.size() || !is_alnum(text[i]);
}

bool contains_phrase(std::string_view text, std::string_view phrase) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        if ((i == 0 || !is_alnum(text[i - 1])) && phrase_at(text, i, phrase)) {
            return true;
        }
    }
    return false;
}

// "https://schema.org/InStock", "http://www.schema.org/InStock/", "schema:InStock" -> "InStock".
std::string_view strip_schema_prefix(std::string_view s) {
    for (const std::string_view scheme : {"https://", "http://"}) {
        if (istarts_with(s, scheme)) {
            s.remove_prefix(scheme.size());
            break;
        }
    }
    if (istarts_with(s, "www.")) {
        s.remove_prefix(4);
    }
    for (const std::string_view prefix : {"schema.org/", "schema:"}) {
        if (istarts_with(s, prefix)) {
            s.remove_prefix(prefix.size());
            break;
        }
    }
    while (!s.empty() && s.back() == '/') {
        s.remove_suffix(1);
    }
    return s;
}

}  // namespace

std::optional<std::string_view> normalize_availability(std::string_view text) {
    const std::string_view trimmed = core::trim(text, " \t\r\n\f\v\"'");
    if (trimmed.empty()) {
        return std::nullopt;
    }
    for (const mapping& value : item_values) {
        if (iequals(trimmed, value.from)) {
            return value.to;
        }
    }
    const std::string_view name = strip_schema_prefix(trimmed);
    for (const mapping& value : schema_values) {
        if (iequals(name, value.from)) {
            return value.to;
        }
    }
    for (const mapping& phrase : phrases) {
        if (contains_phrase(trimmed, phrase.from)) {
            return phrase.to;
        }
    }
    return std::nullopt;
}

}  // namespace harvest::pipelines
