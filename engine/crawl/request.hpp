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
};

}  // namespace harvest::crawl
