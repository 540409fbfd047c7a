#pragma once
// Where the crawl hands what it fetched. The engine knows nothing of extraction or outputs:
// the pipelines module implements a sink (extract items, write outputs, report links).

#include "engine/core/failure_kind.hpp"
#include "engine/crawl/request.hpp"
#include "engine/net/http_client.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace harvest::crawl {

struct fetched_page {
    crawl_request request;
    net::http_response response;
    std::chrono::system_clock::time_point fetched_at;
    // Redirects: the response's final URL is a request the crawl already has (a seed, a link,
    // an earlier redirect's target). The page completes its request and emits nothing: the
    // target's own request emits it, exactly once.
    bool duplicate = false;
    // Redirects: the fingerprint of the final URL, claimed by this page (nothing else will
    // fetch it); completed together with the request, so a resume does not fetch it again.
    // 0 when there was no redirect.
    std::uint64_t redirect_target = 0;
    // http.cache mode conditional: the server answered 304 Not Modified and `response` is the
    // stored one. Its items carry "unchanged": true, or are not emitted at all when
    // `emit_unchanged` is false (http.cache.unchanged: skip); its links are followed either way.
    bool unchanged = false;
    bool emit_unchanged = true;
    // render: `response.body` is the DOM headless Chromium built from the fetched page.
    bool rendered = false;
};

// A request given up for good: one line of the error stream.
struct failure_record {
    std::string url;
    core::failure_kind error = core::failure_kind::internal;  // status_4xx, retries_exhausted, ...
    unsigned attempts = 0;
    std::optional<unsigned> status;                // last HTTP status, when there was a response
    std::optional<core::failure_kind> last_error;  // last transport error, when there was one
    std::chrono::system_clock::time_point final_at;
    std::uint64_t fingerprint = 0;  // the request's, so the journal can mark it completed
    // The last response's decoded body, when the failure had one (a 404's page): `harvest fetch
    // --body` prints it. Moved out of a response that is dropped anyway; the error stream
    // ignores it.
    std::string body = {};
};

struct sink_result {
    std::vector<std::string> links;  // absolute URLs discovered on the page, to follow
    // Empty, or one per link: 1 + the index of the `follow` rule that found it (its headers go
    // with the link's request, its meta into the items of the link's page); 0 = no rule.
    std::vector<std::uint32_t> link_rules;
};

class sink {
  public:
    virtual ~sink() = default;
    // Called on the fetching thread, once per successful response (2xx/3xx after redirects).
    // May suspend: a slow output slows the fetching (backpressure), it never grows memory.
    virtual boost::asio::awaitable<sink_result> on_success(fetched_page page) = 0;
    // A request that failed for good (after its retries).
    virtual boost::asio::awaitable<void> on_failure(failure_record failure) = 0;
    // No more calls will come: flush and close every output.
    virtual boost::asio::awaitable<void> close() = 0;
};

}  // namespace harvest::crawl
