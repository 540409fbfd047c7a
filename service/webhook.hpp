#pragma once
// The completion webhook of a job (bulk-api.md): the event body and its delivery.
//
// deliver_webhook() is the one place that sends it: POST with Idempotency-Key: <event_id> and a
// fresh Harvest-Signature per attempt, retried on a non-2xx answer or no answer with full-jitter
// backoff (base, max from webhook settings) up to max_attempts. It is a plain function over the
// engine's http_client so that it can later be pointed at the engine's generic resilient sender.

#include "config/service_config.hpp"
#include "engine/net/http_client.hpp"
#include "service/jobs_db.hpp"

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <random>
#include <string>
#include <vector>

namespace harvest::service {

struct webhook_event {
    std::string url;
    std::string event_id;
    std::string body;
};

// {"event_id", "job_id", "status", "succeeded", "failed", "result_ids": [...]}
std::string webhook_body(const std::string& event_id, const job_row& job,
                         const std::vector<std::string>& result_ids);

enum class delivery_outcome { delivered, failed };

// Called after each attempt: its number (1-based), the status (0 = no answer) and whether
// another attempt follows. For metrics and logs.
using attempt_observer = std::function<void(unsigned attempt, unsigned status, bool retrying)>;

boost::asio::awaitable<delivery_outcome> deliver_webhook(net::http_client& client,
                                                         webhook_event event,
                                                         config::webhook_settings settings,
                                                         std::mt19937_64& rng,
                                                         attempt_observer observer);

}  // namespace harvest::service
