#pragma once
// Headless Chromium driven over the Chrome DevTools Protocol (docs/config.md, "Rendering").
//
// Harvest starts Debian's `chromium` itself with --remote-debugging-pipe: the browser reads
// NUL-terminated JSON commands on its fd 3 and writes replies and events on its fd 4, which are
// Asio stream descriptors here (no Node.js, no WebSocket). Each browser serves up to
// `tabs_per_browser` pages at once, one page per tab (a flattened CDP session); a tab is closed
// and opened anew after `pages_per_tab` pages.
//
// The document itself is never fetched by the browser: the crawl fetched it through its host's
// guard, and the Fetch domain fulfills the browser's request for it with those bytes. Every
// other request of the page is paused in the Fetch domain too: resource types in the rule's
// `block` fail at once (they never leave the browser), requests to addresses the egress guard
// refuses fail, the rest continue. A request to the page's own host (scheme, host and port) of
// a page that came with a crawl::subrequest_gate waits for a permit of that host's guard first
// (its answer goes back to the guard: continued with interceptResponse, it is paused again at
// the response stage), or fails when none comes before the page's deadline.
//
// Each tab is a browser context of its own, its cookies emptied before every page: the page's
// session's cookies (render_input::cookies) are put in before it is opened and what the page
// did to them goes back to that jar once it is ready (cookie_jar::merge), so pages rendered at
// once, or one after another in a tab, for different sessions never see each other's cookies.
//
// A browser that dies (its pipe closes), hangs (a browser command unanswered for
// `command_timeout`) or grows past `max_rss` (its processes together, from /proc) is killed
// with its process group and started again; the pages it was rendering are tried again, up to
// `max_attempts` in all, then fail as render_crash. A page not ready within its rule's timeout
// fails as render_timeout, and its tab is closed.
//
// Executor model: everything (pipes, tabs, waits) runs on one strand of the given executor;
// render() may be called from any thread.

#include "engine/crawl/renderer.hpp"
#include "engine/render/options.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/address.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace harvest::metrics {
struct crawl_metrics;
}

namespace harvest::render {

// The egress guard's question (net::client_options::allow_endpoint): may a request go there?
using endpoint_filter = std::function<bool(const boost::asio::ip::address&, unsigned short port)>;

class browser_pool final : public crawl::page_renderer {
  public:
    // `metrics` may be null; it must outlive the pool. No browser starts before the first render.
    browser_pool(boost::asio::any_io_executor executor, render_pool_options options,
                 metrics::crawl_metrics* metrics = nullptr);
    // Kills every browser still running and removes its profile folder. Call it when nothing
    // runs on the executor any more (or after close()).
    ~browser_pool() override;
    browser_pool(const browser_pool&) = delete;
    browser_pool& operator=(const browser_pool&) = delete;

    // Before the first render: sub-requests to refused addresses fail in the browser (a host
    // name is resolved first, and refused when any of its addresses is).
    void set_endpoint_filter(endpoint_filter allow);

    boost::asio::awaitable<crawl::render_outcome> render(crawl::render_input page,
                                                         render_options options) override;

    // Kills the browsers; renders waiting or started after it fail as render_crash.
    boost::asio::awaitable<void> close();

    // Thread-safe snapshots, for tests and stats.
    std::vector<int> browser_pids() const;
    std::uint64_t restarts() const noexcept;
    std::uint64_t blocked_requests() const noexcept;  // render.block
    std::uint64_t refused_requests() const noexcept;  // the endpoint filter
    // The page's own requests to its host that got no permit of the host's guard in time.
    std::uint64_t held_back_requests() const noexcept;

  private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

// Whether `path` is an executable file (harvest check asks before a crawl that renders).
bool chromium_available(const std::string& path);

}  // namespace harvest::render
