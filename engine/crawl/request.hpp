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
};

}  // namespace harvest::crawl
