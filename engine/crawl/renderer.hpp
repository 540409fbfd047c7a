#pragma once
// What the crawl asks of a page renderer (`render:` rules, docs/config.md "Rendering"): the page
// it fetched, through its host's guard like any page, turned into the DOM a browser builds from
// it. The crawler knows only this interface; engine/render/browser_pool.hpp is the one that
// drives headless Chromium.

#include "engine/core/cookie_jar.hpp"
#include "engine/core/failure_kind.hpp"
#include "engine/core/proxy_url.hpp"
#include "engine/render/options.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace harvest::crawl {

// The page's host's guard, for what the page's own scripts ask of that same host (scheme, host
// and port of the page's URL): each such request waits for a permit of the host's token bucket
// and breaker, and its answer is told back, so a rendered page is as polite as the crawl. The
// renderer sees only this; the crawl's frontier stays the crawl's.
class subrequest_gate {
  public:
    using ticket = std::uint64_t;
    virtual ~subrequest_gate() = default;
    // A permit to send one request now, waited for until `deadline` at most; nullopt when there
    // is none by then (the breaker stays open past it, or the page ended). May be called from
    // any thread.
    virtual boost::asio::awaitable<std::optional<ticket>> admit(
        std::chrono::steady_clock::time_point deadline) = 0;
    // The request sent under `permit` was answered with `status`, or failed (no answer).
    virtual void record(ticket permit, std::optional<unsigned> status) = 0;
    // The request sent under `permit` will get no answer the page waits for (the page ended).
    virtual void cancel(ticket permit) = 0;
};

// The page as the crawl fetched it: the browser is handed these bytes for the document instead
// of fetching it a second time.
struct render_input {
    std::string url;  // the final URL (after redirects): the document's address in the browser
    unsigned status = 200;
    std::string content_type;
    std::string body;
    // The page's host's guard for the page's own requests to that host; null: they go
    // unchecked (only the egress filter, if any, applies).
    std::shared_ptr<subrequest_gate> gate;
    // The jar of the session the page was fetched for (null: `http.cookies` is off). Its
    // cookies are the browser's while the page renders (document.cookie, the page's own
    // requests); what the page adds, changes or deletes comes back to it once the page is done.
    std::shared_ptr<core::cookie_jar> cookies;
    // The User-Agent the page was fetched with (its session's, or the crawl's): the tab's
    // navigator.userAgent and the User-Agent of the page's own requests. Empty: the browser's.
    std::string user_agent;
    // The proxy the page was fetched through (null: directly). The page's own requests go
    // through it too, with its credentials: the site sees one address for the page and for
    // what its scripts fetch.
    std::shared_ptr<const core::proxy_url> proxy;
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
    virtual boost::asio::awaitable<render_outcome> render(
        render_input page, harvest::render::render_options options) = 0;
};

}  // namespace harvest::crawl
