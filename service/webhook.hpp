#pragma once
// The completion webhook of a job (bulk-api.md): the event body and its delivery.
//
// deliver_webhook() is the one place that sends it: POST with Idempotency-Key: <event_id> and a
// fresh Harvest-Signature per attempt, through the engine's resilient_sender (the one retry
// loop: its backoff, deadline and per-target guard), retried on a non-2xx answer or no answer
// with full-jitter backoff (base, max from webhook settings) up to max_attempts. The receiver's
// answer body is read up to webhook_answer_limit and ignored: a 2xx is delivered whatever it
// holds. Each failed attempt is logged with the job id, the callback (without its query) and why.

#include "config/service_config.hpp"
#include "engine/net/http_client.hpp"
#include "service/jobs_db.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace harvest::service {

struct webhook_event {
    std::string url;
    std::string event_id;
    std::string body;
    std::string job_id;  // for logs; empty = read from the body
};

// How much of a receiver's answer body is read; the rest is dropped unread.
inline constexpr std::uint64_t webhook_answer_limit = 64 * 1024;

// {"event_id", "job_id", "status", "succeeded", "failed", "result_ids": [...]}
std::string webhook_body(const std::string& event_id, const job_row& job,
                         const std::vector<std::string>& result_ids);

enum class delivery_outcome { delivered, failed };

// Called after each attempt: its number (1-based), the status (0 = no answer) and whether
// another attempt follows. For metrics (deliver_webhook logs each attempt itself).
using attempt_observer = std::function<void(unsigned attempt, unsigned status, bool retrying)>;

boost::asio::awaitable<delivery_outcome> deliver_webhook(net::http_client& client,
                                                         webhook_event event,
                                                         config::webhook_settings settings,
                                                         std::mt19937_64& rng,
                                                         attempt_observer observer);

}  // namespace harvest::service
