#pragma once
// What the crawl asks of a page renderer (`render:` rules, docs/config.md "Rendering"): the page
// it fetched, through its host's guard like any page, turned into the DOM a browser builds from
// it. The crawler knows only this interface; engine/render/browser_pool.hpp is the one that
// drives headless Chromium.

#include "engine/core/failure_kind.hpp"
#include "engine/crawl/options.hpp"

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>

namespace harvest::crawl {

// The page as the crawl fetched it: the browser is handed these bytes for the document instead
// of fetching it a second time.
struct render_input {
    std::string url;  // the final URL (after redirects): the document's address in the browser
    unsigned status = 200;
    std::string content_type;
    std::string body;
};

struct render_outcome {
    std::string html;  // document.documentElement.outerHTML once the page was ready
    std::optional<core::failure_kind> failure;  // render_timeout or render_crash; html is empty
};

class page_renderer {
  public:
    virtual ~page_renderer() = default;
    // Thread-safe; may be called from any executor. Never throws for what a page or the browser
    // does: a failure comes back in the outcome.
    virtual boost::asio::awaitable<render_outcome> render(render_input page,
                                                          render_options options) = 0;
};

}  // namespace harvest::crawl
