#pragma once
// schema.org Product objects normalized to the product fields of docs/items.md, keys in
// this order: id, name, brand, price, currency, availability, rating, review_count, image
// (missing -> null).
//
//   id            sku, else productID, else gtin13 / gtin12 / gtin14 / gtin8, else mpn; numbers
//                 are rendered as strings ("4006381333931"); empty strings count as missing
//   name          name
//   brand         a string, or the `name` of a Brand/Organization (any object with a name)
//   price         the offer's price, else its minPrice, else its lowPrice (AggregateOffer),
//                 else its priceSpecification's (the first that is not a ListPrice,
//                 StrikethroughPrice, MSRP, SRP or InvoicePrice, else the first), else, for an
//                 AggregateOffer without one, its own offers'; strings parsed with parse_price
//                 ("1,299.99" -> 1299.99). Several offers: the lowest price among the in-stock
//                 ones (in the first in-stock one's currency), else the first offer with a
//                 price, else the first offer
//   currency      the chosen offer's priceCurrency, else its price specification's, else the
//                 currency parse_price found in the price text
//   availability  the chosen offer's availability through normalize_availability
//   rating        aggregateRating.ratingValue (a string is parsed as a number)
//   review_count  aggregateRating.reviewCount, else aggregateRating.ratingCount (an integer)
//   image         image: the first of a list, the url (else contentUrl) of an ImageObject
//
// Wherever a single value is expected and a list is found, its first element is used (microdata
// gives lists). String values are trimmed.
//
// A value that is a node reference ({"@id": "#offer"}, nothing else but a type) stands for the
// node with that @id among all the values given (the page's graph: every block, @graph and
// nested nodes; the first such node in document order), followed through at most 4 references
// (a cycle ends there, unresolved).
//
// Products are found anywhere: in @graph, arrays and nested values (an Offer's itemOffered, an
// ItemList's elements); a Product's own nested values are not searched further (a related
// product is not a second product of the page). @type may be a string or a list, with or
// without the "schema:" / "http(s)://(www.)schema.org/" prefix; Product, IndividualProduct,
// ProductModel and SomeProducts count.

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <string_view>
#include <vector>

namespace harvest::pipelines {

// The products among JSON-LD values (as find_jsonld returns them), in document order.
std::vector<boost::json::object> products_from_jsonld(
    const std::vector<boost::json::value>& values);

// The products among microdata items (as find_microdata returns them, in any of its option
// shapes, or microdata_to_uniform's).
std::vector<boost::json::object> products_from_microdata(
    const std::vector<boost::json::value>& items);

// JSON-LD and microdata from pages nest arbitrarily: products are searched this deep and no
// deeper.
inline constexpr int product_search_depth = 64;

// True for the keys of a Product object that normalize_product reads (and the type keys): a
// Product holding only those gives the same normalized product (find_jsonld's products scope).
bool is_product_field(std::string_view key) noexcept;

// One Product object (JSON-LD shape) to the normalized fields.
boost::json::object normalize_product(const boost::json::value& product);

}  // namespace harvest::pipelines
