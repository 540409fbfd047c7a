#pragma once
// Typed settings of the render module: a rule's `render:` and the top-level `render:` section
// (the browser pool; docs/config.md, "Rendering"), with the spec's defaults. Plain values: no
// I/O, no Asio. crawl::crawl_options composes them.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace harvest::render {

using std::chrono::milliseconds;

// A rule's `render:` (docs/config.md, "Rendering"): how a page is rendered in headless Chromium
// before its items and links are read.
struct render_options {
    enum class wait { load, network_idle, selector };
    wait wait_for = wait::load;
    std::string selector;         // wait::selector: a CSS selector that must match an element
    milliseconds timeout{15000};  // navigation to serialized DOM; past it: render_timeout
    // Resource types that never leave the browser (Fetch.failRequest): image, font, media,
    // stylesheet, as CDP's Network.ResourceType names them.
    std::vector<std::string> block{"image", "font", "media"};
    bool scroll = false;  // scroll to the bottom until the page stops growing (lazy lists)
};

// `render:` at the top level: the browser pool (engine/render/browser_pool.hpp).
struct render_pool_options {
    std::string chromium = "/usr/bin/chromium";
    unsigned browsers = 1;
    unsigned tabs_per_browser = 4;
    unsigned pages_per_tab = 100;           // a tab is closed and opened anew after this many
    std::uint64_t max_rss = 2048ull << 20;  // a browser's processes together; restarted past it
    milliseconds start_timeout{20000};      // a browser that does not answer by then is killed
    // A browser command (not a page's script) unanswered this long: the browser is hung.
    milliseconds command_timeout{10000};
    unsigned max_attempts = 3;  // a page whose browser crashed is tried this often in all
};

}  // namespace harvest::render
