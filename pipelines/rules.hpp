#pragma once
// Typed `extract`, `follow` and `outputs` sections of a crawl config (docs/config.md).
// Plain values filled by the config module; the pipelines compile them into extractors and
// outputs.

#include "engine/crawl/options.hpp"
#include "engine/net/sender_options.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace harvest::pipelines {

// url: html only, the value resolved against the page's URL and its <base href> (absolute).
enum class value_kind { raw, string, number, integer, boolean, price, availability, url };

// A field's `regex`, compiled once (pipelines/html/html.hpp: make_field_pattern).
struct field_pattern;

struct field_rule {
    std::string name;
    // type json: a JSON Pointer (RFC 6901). type html: css or xpath selects the node.
    std::string pointer;
    std::string css;
    std::string xpath;
    bool text = false;      // html: the node's normalized text
    std::string attribute;  // html: an attribute's value
    // html: keep a URL attribute's value as written (href, src, srcset, ... are resolved to
    // absolute URLs by default: as: url).
    bool raw = false;
    value_kind as = value_kind::raw;
    std::optional<char> decimal_separator;  // price hint
    std::string currency;                   // price hint (ISO 4217)
    // html: post-processing of the selected text, before `as`. `pattern`: its first match (the
    // first group's text, when the regex has groups); no match is no value. `default_value`:
    // the text when nothing is selected or the regex does not match.
    std::shared_ptr<const field_pattern> pattern;
    std::optional<std::string> default_value;
    // html: every selected value, as a list (each post-processed and converted); with `join`,
    // the values' texts joined with it into one text before `as`.
    bool all = false;
    std::optional<std::string> join;
    // html: whitespace of each value collapsed and trimmed (normalize_space), first of all.
    bool strip = false;
};

// product: one item per page, the product fields (docs/items.md) merged from its sources.
enum class extract_type { json, jsonld, microdata, html, product };

struct extract_rule {
    std::string match;  // ECMAScript regex searched in the URL
    extract_type type = extract_type::json;
    std::vector<field_rule> fields;  // json, html; product: its html source (may be empty)
    std::vector<std::string> required;
    std::string schema;  // jsonld/microdata: e.g. "Product"; empty = raw
    // product: the merge order, first non-null value per field (jsonld, microdata, html).
    std::vector<extract_type> sources{extract_type::jsonld, extract_type::microdata,
                                      extract_type::html};
    // render: the pages it matches are rendered in headless Chromium first (the crawl's
    // render_rules are made of these; the extractor reads the rendered DOM like any page).
    std::optional<crawl::render_options> render;
};

struct follow_rule {
    std::string css;
    std::string xpath;
    std::vector<std::string> allow;  // regexes on the URL path
    std::vector<std::string> deny;
    unsigned max_depth = 0;  // 0 = no limit of its own
    // render: every page's links are read from its rendered DOM (follow rules read every page).
    std::optional<crawl::render_options> render;
    // Sent with the requests of the links this rule finds (after the crawl's http.headers).
    std::vector<std::pair<std::string, std::string>> headers;
    // Copied into the items of the pages those links lead to, under "meta" (docs/items.md).
    std::vector<std::pair<std::string, std::string>> meta;
};

enum class output_type { jsonl, csv, sqlite, webhook };

struct output_spec {
    output_type type = output_type::jsonl;
    std::string path;                  // jsonl, csv, sqlite (resolved against the config dir)
    std::vector<std::string> columns;  // csv
    std::string table;                 // sqlite
    std::string key;                   // sqlite upsert key
    std::string url;                   // webhook
    std::size_t batch = 100;           // webhook: items per POST
    std::chrono::milliseconds batch_wait{1000};  // webhook: a partial batch is sent after this
    std::size_t in_flight = 4;                   // webhook: batches being delivered at once
    // webhook: how its POSTs are delivered. The config loader fills this from the crawl's own
    // http, retry, circuit_breaker and rate_limit.per_host sections, or from the `hosts:` entry
    // of the webhook's host; default-constructed values when built by hand.
    net::sender_options delivery;
    // Resume: append to the file (already cut back to its committed length) instead of
    // truncating it. Set by the CLI, not by the config.
    bool append = false;
};

}  // namespace harvest::pipelines
