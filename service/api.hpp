#pragma once
// The HTTP API of the bulk service (docs/bulk-api.md) as a plain function from request
// to response: no sockets here, so every status and message is unit-tested directly. The Beast
// server (api_server.hpp) only moves bytes.
//
// Not thread-safe: called from the service's one io_context thread (jobs_db is not shared
// across threads).

#include "config/service_config.hpp"
#include "engine/resilience/token_bucket.hpp"
#include "service/egress_guard.hpp"
#include "service/jobs_db.hpp"
#include "service/signing.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace harvest::service {

struct api_request {
    std::string method;
    std::string target;  // path and query
    std::string authorization;
    std::string idempotency_key;
    std::string body;
};

struct api_response {
    unsigned status = 200;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

// What the API tells the job runner.
struct api_events {
    std::function<void(const std::string& job_id)> job_submitted;
    std::function<void(const std::string& job_id)> job_cancelled;
    // What the runner tells the API: empty when it works, else what is wrong (/healthz 503).
    std::function<std::optional<std::string>()> runner_problem = {};
};

// {"error": {"code": CODE, "message": MESSAGE}} with `status`.
api_response error_response(unsigned status, std::string_view code, std::string_view message);

// Unix milliseconds -> RFC 3339 with milliseconds, UTC.
std::string format_time_ms(std::int64_t unix_ms);

// One NDJSON line (newline included) of GET .../results.
std::string result_line(const item_row& item);

class api {
  public:
    // Idempotency keys are kept 24 hours.
    static constexpr std::chrono::hours idempotency_ttl{24};
    // GET .../results is paged (docs/bulk-api.md "Paged results"): `limit` items per page
    // (default and maximum below), and a page also ends after the item whose stored text
    // reaches max_page_bytes, so one answer is bounded whatever the items hold. The default is
    // the default max_items_per_job: without a query, a job of small items comes whole, as
    // before pages existed.
    static constexpr std::size_t default_page_items = 5000;
    static constexpr std::size_t max_page_items = 5000;
    static constexpr std::size_t max_page_bytes = std::size_t{8} << 20;
    // Submission caps, in bytes: an item's URL (after a template's {id} is filled in) and the
    // callback_url. Longer ones are a 400.
    static constexpr std::size_t max_url_bytes = 8192;
    static constexpr std::size_t max_callback_url_bytes = 2048;

    api(const config::service_config& config, jobs_db& db, const api_keys& keys,
        const egress_guard& guard, api_events events);

    api_response handle(const api_request& request, std::chrono::steady_clock::time_point now =
                                                        std::chrono::steady_clock::now());

  private:
    api_response submit(const api_request& request, const std::string& owner,
                        std::chrono::steady_clock::time_point now);
    api_response job_status(const job_row& job);
    api_response list_results(const job_row& job, std::string_view query);

    const config::service_config& config_;
    jobs_db& db_;
    const api_keys& keys_;
    const egress_guard& guard_;
    api_events events_;
    std::map<std::string, resilience::token_bucket> submit_limits_;  // by owner
};

}  // namespace harvest::service
