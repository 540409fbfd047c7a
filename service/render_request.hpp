#pragma once
// A job's `render` field (docs/bulk-api.md, "Rendering"): every item of the job is rendered in
// headless Chromium before the profile's extractors read it. The same options as a crawl
// rule's `render:` (config.md, "Rendering"), in JSON: `true`, `false`, or
// {"wait_for": "load" | "network_idle" | CSS selector, "timeout": seconds, "block": [image, font,
// media, stylesheet], "scroll": bool}.

#include "engine/crawl/options.hpp"

#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <variant>

namespace harvest::service {

// What a submission's `render` asks for: nothing (false), options, or why it is not valid
// (a message naming the field, e.g. "render.timeout: ...").
struct render_field {
    std::optional<crawl::render_options> options;
    std::string error;  // non-empty: the submission is a 400
};

render_field parse_render_field(const boost::json::value& value);

// One entry of a job's `urls` (docs/bulk-api.md, "Rendering"): a URL string, or an object
// {"url": "...", "render": true | false | {options}} whose `render` overrides the job's for
// that item. `field` names the entry in errors ("urls[3]").
struct url_entry {
    std::string url;  // as submitted; the caller checks it is an allowed http(s) URL
    // The item's own `render` as stored with it (items.render): nullopt = the job's applies,
    // "" = not rendered (false), else the options as render_to_json writes them.
    std::optional<std::string> render;
    std::string error;  // non-empty: the submission is a 400, e.g. "urls[3].render.timeout: ..."
};

url_entry parse_url_entry(const boost::json::value& value, const std::string& field);

// What an item is rendered with: its own stored `render` when it has one (nullopt for "", i.e.
// false), else the job's.
std::optional<crawl::render_options> item_render(
    const std::optional<std::string>& item_stored,
    const std::optional<crawl::render_options>& job_render);

// The options as stored with the job (a JSON object parse_render_field reads back).
std::string render_to_json(const crawl::render_options& options);

// The stored text back; nullopt for "" (not rendered) or text that no longer parses.
std::optional<crawl::render_options> render_from_json(const std::string& text);

}  // namespace harvest::service
