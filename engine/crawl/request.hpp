#pragma once
// A request as the crawl carries it from the frontier to the fetcher and back.

#include "engine/net/http_client.hpp"

#include <chrono>
#include <cstdint>
#include <string>

namespace harvest::crawl {

struct crawl_request {
    net::http_request http;
    unsigned depth = 0;    // 0 for seeds, parent + 1 for followed links
    unsigned attempt = 0;  // attempts made so far
    std::chrono::steady_clock::duration previous_backoff{};  // for decorrelated jitter
    std::string idempotency_key;  // generated once per logical request, kept across retries
    std::uint64_t fingerprint = 0;
    bool sitemap = false;  // a sitemap (or sitemap index): its <loc> entries are admitted
    // Its host's breaker has counted one failure of this request already: later failures of
    // the same request are neutral (a URL that keeps failing is one bad URL, not a host
    // failing again and again). Kept by the journal (journaled again when set) and the spill.
    bool breaker_failure_counted = false;
    // The session (identity: cookie jar, User-Agent) the request belongs to, 0 .. sessions.count
    // - 1. Seeds are spread over the sessions, followed links keep their parent's. A proxy
    // chooser that keeps one exit per session (sticky_per_session) reads it here.
    std::uint32_t session = 0;
    // 1 + the index of the `follow` rule whose link this is (its meta goes into the page's
    // items); 0 for seeds, sitemap entries and rule-less links.
    std::uint32_t follow_rule = 0;
};

}  // namespace harvest::crawl
