#pragma once
// One attempt at one taken request (DESIGN.md's fetcher and classifier hop): the request as
// sent (headers, the session's cookies and User-Agent, the cache's validators, the proxy), its
// answer read by `net::outcome_of` and classified by the host's retry policy, a rendered page
// when a render rule says so, and the page through the sink (or the failure to the error
// stream). What the scheduler must do about it comes back as a `completion`.
//
// Threading: runs on a strand of its own, not the scheduler's, and touches no scheduler state:
// the host's guard hears of a success (before the sink takes the page) and of a rendered page's
// own requests by posts to the scheduler strand; everything else is the completion's, which the
// caller hands to the scheduler strand (scheduler.hpp).

#include "engine/core/cookie_jar.hpp"
#include "engine/crawl/crawl_context.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace harvest::crawl {

// What a fetch reports back to the scheduler strand.
struct completion {
    taken_request taken;
    resilience::decision decision;
    std::vector<std::string> links;
    std::optional<unsigned> status;
    std::optional<net::fetch_error> error;
    std::uint64_t wire_bytes = 0;
    clock::duration elapsed{};
    std::vector<std::string> sitemap_locations;  // a sitemap's <loc> entries
    bool sitemap_is_index = false;
    // A success that was redirected to another URL: held back from the sink until the
    // scheduler strand has claimed the final URL's fingerprint (claim_redirect).
    std::optional<fetched_page> redirected;
    std::uint64_t redirect_target = 0;
    resilience::attempt_outcome outcome;    // status or error, for the host's guard
    bool breaker_recorded = false;          // a success: told to the guard before the sink took it
    std::vector<std::uint32_t> link_rules;  // per link: 1 + its follow rule (sink_result)
    std::string page_url;                   // the page's final URL: its links' Referer
    std::shared_ptr<core::cookie_jar> jar;  // the session jar the attempt used (retirement)
};

// The attempt: `taken` counts one more attempt; the completion holds it back. Its `redirected`
// is set for a success whose final URL must be claimed first (the page is not in the sink yet).
// It comes back on the heap: moved along as one pointer, not field by field. The attempt's
// frame owns `taken` (the scheduler spawns this coroutine itself, with no frame around it).
boost::asio::awaitable<std::unique_ptr<completion>> fetch_attempt(
    std::shared_ptr<crawl_context> self, taken_request taken);

}  // namespace harvest::crawl
