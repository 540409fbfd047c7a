#pragma once
// Fetching one origin's robots.txt and reading the answer as RFC 9309 §2.3.1 does: 2xx → its
// rules; 4xx → everything allowed; 5xx or no answer → unavailable (the scheduler asks again
// with the host's retry backoff and, once retry.max_attempts fetches failed, refuses the host's
// requests as `robots_unavailable`, which disallows everything but says why).

#include "engine/core/robots.hpp"
#include "engine/crawl/frontier.hpp"
#include "engine/crawl/stats.hpp"
#include "engine/net/http_client.hpp"

#include <boost/asio/awaitable.hpp>

namespace harvest::crawl {

class proxy_set;

struct robots_answer {
    core::robots_rules rules = core::robots_rules::disallow_all();  // in force if this is final
    bool unavailable = false;        // 5xx or no answer: ask again, or give up on the host
    host_state::robots_failure why;  // the status or the transport error, for the record
};

class http_cache;

// Counts the attempt, its response or transport error and its bytes in `stats`.
// `replay_cache` (http.cache mode replay, else null): a stored robots.txt answers without a
// request; a fetched one that answered 2xx or 4xx is stored.
// With `proxies` (null = direct), robots.txt goes through the crawl's proxies like any page.
boost::asio::awaitable<robots_answer> fetch_robots_txt(net::http_client& client,
                                                       const host_state& host, crawl_stats& stats,
                                                       http_cache* replay_cache,
                                                       proxy_set* proxies);

}  // namespace harvest::crawl
