// Completion webhook: body and signed, retried delivery (webhook.hpp).

#include "service/webhook.hpp"

#include "engine/resilience/backoff.hpp"
#include "pipelines/item.hpp"
#include "service/signing.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <memory>

namespace harvest::service {

namespace asio = boost::asio;

std::string webhook_body(const std::string& event_id, const job_row& job,
                         const std::vector<std::string>& result_ids) {
    std::string body = "{\"event_id\":";
    pipelines::append_json_string(body, event_id);
    body += ",\"job_id\":";
    pipelines::append_json_string(body, job.job_id);
    body += ",\"status\":";
    pipelines::append_json_string(body, job.status);
    body += ",\"succeeded\":" + std::to_string(job.succeeded);
    body += ",\"failed\":" + std::to_string(job.failed);
    body += ",\"result_ids\":[";
    for (std::size_t i = 0; i < result_ids.size(); ++i) {
        if (i != 0) {
            body += ',';
        }
        pipelines::append_json_string(body, result_ids[i]);
    }
    body += "]}";
    return body;
}

asio::awaitable<delivery_outcome> deliver_webhook(net::http_client& client, webhook_event event,
                                                  config::webhook_settings settings,
                                                  std::mt19937_64& rng, attempt_observer observer) {
    crawl::backoff_options backoff_options;
    backoff_options.strategy = crawl::backoff_strategy::full_jitter;
    backoff_options.base = settings.backoff_base;
    backoff_options.max = settings.backoff_max;
    const resilience::backoff backoff(backoff_options);
    auto http = std::make_shared<crawl::http_options>();
    http->headers.clear();
    http->max_redirects = 0;  // a redirected webhook is a failed one: the receiver must answer
    http->timeouts.total = settings.timeout;
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer timer(executor);
    for (unsigned attempt = 1;; ++attempt) {
        const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
        net::http_request request;
        request.method = "POST";
        request.url = event.url;
        request.headers = {
            {"Content-Type", "application/json"},
            {"Idempotency-Key", event.event_id},
            {"Harvest-Signature", webhook_signature(settings.secret, seconds, event.body)}};
        request.body = event.body;
        const auto deadline = std::chrono::steady_clock::now() + settings.timeout;
        auto result = co_await client.fetch(std::move(request), http, deadline);
        const unsigned status = result ? result->status : 0;
        const bool ok = status >= 200 && status < 300;
        const bool retrying = !ok && attempt < settings.max_attempts;
        if (observer) {
            observer(attempt, status, retrying);
        }
        if (ok) {
            co_return delivery_outcome::delivered;
        }
        if (!retrying) {
            co_return delivery_outcome::failed;
        }
        timer.expires_after(backoff.delay(attempt, {}, rng));
        boost::system::error_code ec;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

}  // namespace harvest::service
