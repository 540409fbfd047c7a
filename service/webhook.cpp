// Completion webhook: body and signed, retried delivery (webhook.hpp).

#include "service/webhook.hpp"

#include "engine/net/resilient_sender.hpp"
#include "pipelines/item.hpp"
#include "service/signing.hpp"

#include <spdlog/spdlog.h>
#include <boost/json/parse.hpp>

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

namespace {

std::int64_t unix_seconds_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The callback for logs: scheme, host, port and path; a query may carry the receiver's token.
std::string loggable_url(std::string_view url) {
    const auto cut = url.find_first_of("?#");
    return std::string(url.substr(0, cut)) + (cut == std::string_view::npos ? "" : "?...");
}

std::string job_id_of(const webhook_event& event) {
    if (!event.job_id.empty()) {
        return event.job_id;
    }
    boost::system::error_code ec;
    const auto body = boost::json::parse(event.body, ec);
    if (!ec && body.is_object()) {
        if (const auto* id = body.as_object().if_contains("job_id"); id && id->is_string()) {
            return std::string(id->as_string());
        }
    }
    return "?";
}

}  // namespace

asio::awaitable<delivery_outcome> deliver_webhook(net::http_client& client, webhook_event event,
                                                  config::webhook_settings settings,
                                                  std::mt19937_64& rng, attempt_observer observer) {
    const std::string job_id = job_id_of(event);
    const std::string where = loggable_url(event.url);
    if (settings.secret.empty()) {
        // The API refuses a callback_url without a secret; a job stored before the secret was
        // removed from the config is not sent unsigned either.
        spdlog::error(
            "webhook of job {} to {} not sent: the service has no webhook secret "
            "(webhook.secret_file) and an unsigned callback could be forged",
            job_id, where);
        co_return delivery_outcome::failed;
    }
    auto http = std::make_shared<crawl::http_options>();
    http->headers.clear();
    http->max_redirects = 0;  // a redirected webhook is a failed one: the receiver must answer
    http->timeouts.total = settings.timeout;
    http->max_body = webhook_answer_limit;
    http->discard_oversized_body = true;  // a 2xx with a huge body is still a 2xx

    net::sender_options options;
    options.http = http;
    options.retry_every_failure = true;  // the documented contract: any non-2xx is retried
    options.retry.max_attempts = settings.max_attempts;
    options.retry.backoff.strategy = crawl::backoff_strategy::full_jitter;
    options.retry.backoff.base = settings.backoff_base;
    options.retry.backoff.max = settings.backoff_max;
    // A receiver's Retry-After is honoured up to the backoff's cap, never a reason to give up.
    options.retry.retry_after_max = settings.backoff_max;
    options.retry.retry_after_clamp = true;
    // One delivery is one request: neither the retry budget nor the breaker may stop it before
    // max_attempts (the budget's floor allows 5 retries a second; the breaker never sees enough
    // calls to judge).
    options.breaker.min_calls = settings.max_attempts + 1;
    options.breaker.window = settings.max_attempts + 1;
    options.retry.budget_min_per_second = 1000;
    // Never cut short what max_attempts attempts and their waits take.
    options.deadline = std::chrono::duration_cast<std::chrono::milliseconds>(
        (settings.timeout + settings.backoff_max) * (settings.max_attempts + 1) +
        std::chrono::minutes(1));
    net::resilient_sender sender(client, options, rng());

    net::http_request request;
    request.method = "POST";
    request.url = event.url;
    request.headers = {{"Content-Type", "application/json"}, {"Idempotency-Key", event.event_id}};
    request.body = event.body;

    net::send_hooks hooks;
    // A fresh signature per attempt: receivers check its timestamp against their clock.
    hooks.before_attempt = [&settings, &event](net::http_request& attempt, unsigned) {
        attempt.headers.emplace_back(
            "Harvest-Signature",
            webhook_signature(settings.secret, unix_seconds_now(), event.body));
    };
    hooks.after_attempt = [&](const net::attempt_report& report) {
        const unsigned status = report.status && !report.error ? *report.status : 0;
        if (observer) {
            observer(report.attempt, status, report.retrying);
        }
        if (status >= 200 && status < 300) {
            spdlog::info("webhook of job {} delivered to {} (attempt {}, HTTP {})", job_id, where,
                         report.attempt, status);
            return;
        }
        std::string why;
        if (report.error) {
            why = "no answer: " + std::string(net::to_string(*report.error));
        } else if (status != 0) {
            why = "answered HTTP " + std::to_string(status);
        } else {
            why = "no answer";
        }
        spdlog::warn("webhook of job {} to {}: attempt {} of {} failed, {}{}", job_id, where,
                     report.attempt, settings.max_attempts, why,
                     report.retrying ? "; retrying" : "; giving up");
    };
    const auto result = co_await sender.send(std::move(request), std::move(hooks));
    co_return result.delivered() && result.status&&* result.status >= 200 && *result.status < 300
        ? delivery_outcome::delivered
        : delivery_outcome::failed;
}

}  // namespace harvest::service
