// Request -> response for the bulk API (api.hpp).

#include "service/api.hpp"

#include "engine/core/url_canonical.hpp"
#include "pipelines/item.hpp"
#include "service/render_request.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <charconv>
#include <cmath>

namespace harvest::service {

namespace {

namespace json = boost::json;

// An ASIN or other product id: what may be put into a template's {id} as is.
bool is_plain_id(std::string_view text) {
    if (text.empty() || text.size() > 64) {
        return false;
    }
    for (char c : text) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}

api_response bad_request(const std::string& field, const std::string& why) {
    return error_response(400, "invalid_request", field + ": " + why);
}

api_response json_response(unsigned status, const json::object& body) {
    api_response response;
    response.status = status;
    pipelines::append_json(response.body, json::value(body));  // 19.99, not 1.999E1
    return response;
}

}  // namespace

api_response error_response(unsigned status, std::string_view code, std::string_view message) {
    json::object error;
    error["code"] = code;
    error["message"] = message;
    json::object body;
    body["error"] = std::move(error);
    return json_response(status, body);
}

std::string format_time_ms(std::int64_t unix_ms) {
    return pipelines::format_rfc3339_ms(std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::milliseconds(unix_ms))));
}

std::string result_line(const item_row& item) {
    std::string line = "{\"result_id\":";
    pipelines::append_json_string(line, item.result_id);
    line += ",\"input\":";
    pipelines::append_json_string(line, item.input);
    line += ",\"url\":";
    pipelines::append_json_string(line, item.url);
    line += ",\"status\":";
    pipelines::append_json_string(line, item.status);
    if (!item.data.empty()) {
        line += ",\"data\":";
        line += item.data;  // stored as JSON text by the runner
    }
    if (!item.error.empty()) {
        line += ",\"error\":";
        pipelines::append_json_string(line, item.error);
    }
    line += ",\"attempts\":" + std::to_string(item.attempts);
    if (item.http_status != 0) {
        line += ",\"http_status\":" + std::to_string(item.http_status);
    }
    if (!item.last_error.empty()) {
        line += ",\"last_error\":";
        pipelines::append_json_string(line, item.last_error);
    }
    if (!item.waiting_for.empty()) {
        // Only an unsettled item waits; its next attempt's time is absent while it waits for
        // an event (the answer of its host's half-open probe) rather than a time.
        line += ",\"waiting_for\":";
        pipelines::append_json_string(line, item.waiting_for);
        if (item.next_attempt_at_ms != 0) {
            line += ",\"next_attempt_at\":";
            pipelines::append_json_string(line, format_time_ms(item.next_attempt_at_ms));
        }
    }
    line += "}\n";
    return line;
}

api::api(const config::service_config& config, jobs_db& db, const api_keys& keys,
         const egress_guard& guard, api_events events)
    : config_(config), db_(db), keys_(keys), guard_(guard), events_(std::move(events)) {}

api_response api::handle(const api_request& request, std::chrono::steady_clock::time_point now) {
    std::string_view path = request.target;
    std::string_view query;
    if (const auto q = path.find('?'); q != std::string_view::npos) {
        query = path.substr(q + 1);
        path = path.substr(0, q);
    }
    if (path == "/healthz") {
        if (request.method != "GET") {
            return error_response(405, "method_not_allowed", "use GET");
        }
        // A dead or stalled job runner, or jobs_db refusing its writes, is not "ready".
        if (events_.runner_problem) {
            if (auto problem = events_.runner_problem()) {
                return json_response(
                    503, json::object{{"status", "unhealthy"}, {"problem", std::move(*problem)}});
            }
        }
        return json_response(200, json::object{{"status", "ok"}});
    }
    const auto owner = keys_.owner_of(request.authorization);
    if (!owner) {
        auto response =
            error_response(401, "unauthorized",
                           request.authorization.empty() ? "missing Authorization: Bearer <API key>"
                                                         : "unknown API key");
        response.headers.emplace_back("WWW-Authenticate", "Bearer");
        return response;
    }
    constexpr std::string_view jobs_prefix = "/v1/jobs";
    constexpr std::string_view results_prefix = "/v1/results/";
    if (path == jobs_prefix) {
        if (request.method != "POST") {
            return error_response(405, "method_not_allowed", "use POST to submit a job");
        }
        return submit(request, *owner, now);
    }
    if (path.substr(0, results_prefix.size()) == results_prefix) {
        if (request.method != "GET") {
            return error_response(405, "method_not_allowed", "use GET");
        }
        const auto item = db_.result(path.substr(results_prefix.size()));
        const auto job = item ? db_.job(item->job_id) : std::nullopt;
        if (!item || !job || job->owner != *owner) {
            return error_response(404, "not_found", "no such result");
        }
        auto response = json_response(200, {});
        response.body = result_line(*item);
        response.body.pop_back();
        return response;
    }
    if (path.substr(0, jobs_prefix.size() + 1) == "/v1/jobs/") {
        auto rest = path.substr(jobs_prefix.size() + 1);
        bool results = false;
        if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
            if (rest.substr(slash) != "/results") {
                return error_response(404, "not_found", "no such resource");
            }
            results = true;
            rest = rest.substr(0, slash);
        }
        const auto job = db_.job(rest);
        if (!job || job->owner != *owner) {
            return error_response(404, "not_found", "no such job");
        }
        if (results) {
            if (request.method != "GET") {
                return error_response(405, "method_not_allowed", "use GET");
            }
            return list_results(*job, query);
        }
        if (request.method == "GET") {
            return job_status(*job);
        }
        if (request.method == "DELETE") {
            if (db_.cancel(job->job_id, unix_ms_now()) && events_.job_cancelled) {
                events_.job_cancelled(job->job_id);
            }
            return job_status(*db_.job(job->job_id));
        }
        return error_response(405, "method_not_allowed", "use GET or DELETE");
    }
    return error_response(404, "not_found", "no such resource");
}

api_response api::job_status(const job_row& job) {
    json::object body;
    body["job_id"] = job.job_id;
    body["status"] = job.status;
    body["items"] = job.items;
    body["succeeded"] = job.succeeded;
    body["failed"] = job.failed;
    body["created_at"] = format_time_ms(job.created_at_ms);
    if (job.finished_at_ms != 0) {
        body["finished_at"] = format_time_ms(job.finished_at_ms);
    } else {
        body["finished_at"] = nullptr;
    }
    return json_response(200, body);
}

api_response api::list_results(const job_row& job, std::string_view query) {
    std::string status;
    std::size_t limit = default_page_items;
    std::int64_t after_index = -1;
    bool seen_status = false;
    bool seen_limit = false;
    bool seen_cursor = false;
    // Bounded: each turn consumes one `&`-separated parameter of the query.
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto param = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        const auto eq = param.find('=');
        const auto name = param.substr(0, eq);
        const auto value = eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1);
        auto number = [&value](std::int64_t& out) {
            const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
            return !value.empty() && ec == std::errc() && end == value.data() + value.size();
        };
        if (name == "status" && !seen_status) {
            seen_status = true;
            status = std::string(value);
            if (status != "ok" && status != "failed" && status != "queued" &&
                status != "retrying" && status != "cancelled") {
                return bad_request("status", "must be ok, failed, queued, retrying or cancelled");
            }
        } else if (name == "limit" && !seen_limit) {
            seen_limit = true;
            std::int64_t n = 0;
            if (!number(n) || n < 1 || n > static_cast<std::int64_t>(max_page_items)) {
                return bad_request(
                    "limit",
                    "an integer from 1 to " + std::to_string(max_page_items) + " (items per page)");
            }
            limit = static_cast<std::size_t>(n);
        } else if (name == "cursor" && !seen_cursor) {
            seen_cursor = true;
            if (!number(after_index) || after_index < 0) {
                return bad_request("cursor",
                                   "not a cursor of this API: pass the Harvest-Next-Cursor value "
                                   "of the previous page as is");
            }
        } else {
            return bad_request("query",
                               "only status=ok|failed|queued|retrying|cancelled, limit=N "
                               "and cursor=C, each at most once");
        }
    }
    const auto page = db_.results_page(job.job_id, status, after_index, limit, max_page_bytes);
    api_response response;
    response.content_type = "application/x-ndjson";
    for (const auto& item : page.items) {
        response.body += result_line(item);
    }
    if (page.more && !page.items.empty()) {
        response.headers.emplace_back("Harvest-Next-Cursor",
                                      std::to_string(page.items.back().index));
    }
    return response;
}

api_response api::submit(const api_request& request, const std::string& owner,
                         std::chrono::steady_clock::time_point now) {
    auto [limit, inserted] =
        submit_limits_.try_emplace(owner, config_.submit_per_second, config_.submit_burst);
    if (!limit->second.try_acquire(now)) {
        const auto wait = limit->second.next_available(now) - now;
        const auto seconds =
            static_cast<long long>(std::ceil(std::chrono::duration<double>(wait).count()));
        auto response = error_response(429, "rate_limited",
                                       "too many job submissions for this API key; retry later");
        response.headers.emplace_back("Retry-After", std::to_string(std::max(1LL, seconds)));
        return response;
    }

    const auto body_hash = sha256_hex(request.body);
    const auto now_ms = unix_ms_now();
    if (!request.idempotency_key.empty()) {
        if (request.idempotency_key.size() > 255) {
            return bad_request("Idempotency-Key", "at most 255 characters");
        }
        const auto ttl_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(idempotency_ttl).count();
        if (auto known = db_.idempotency(owner, request.idempotency_key, now_ms, ttl_ms)) {
            if (known->body_hash != body_hash) {
                return error_response(422, "idempotency_conflict",
                                      "this Idempotency-Key was used with another body");
            }
            const auto job = db_.job(known->job_id);
            return json_response(
                200, json::object{{"job_id", known->job_id}, {"items", job ? job->items : 0}});
        }
    }

    boost::system::error_code ec;
    auto parsed = json::parse(request.body, ec);
    if (ec) {
        return bad_request("body", "not valid JSON (" + ec.message() + ")");
    }
    if (!parsed.is_object()) {
        return bad_request("body", "must be a JSON object");
    }
    const auto& body = parsed.as_object();
    for (const auto& [key, value] : body) {
        if (key != "profile" && key != "urls" && key != "asins" && key != "template" &&
            key != "callback_url" && key != "render") {
            return bad_request(std::string(key),
                               "unknown field; expected profile, urls or template + asins, "
                               "callback_url, render");
        }
    }
    const auto* profile = body.if_contains("profile");
    if (profile == nullptr || !profile->is_string()) {
        return bad_request("profile", "required, a string naming a profile of the service");
    }
    const std::string profile_name(profile->as_string());
    if (config_.profiles.count(profile_name) == 0) {
        return bad_request("profile", "unknown profile \"" + profile_name + "\"");
    }
    const auto* urls = body.if_contains("urls");
    const auto* asins = body.if_contains("asins");
    if ((urls == nullptr) == (asins == nullptr)) {
        return bad_request("urls", "give exactly one of urls or asins (with template)");
    }
    const auto* list = urls != nullptr ? urls : asins;
    const std::string list_name = urls != nullptr ? "urls" : "asins";
    if (!list->is_array()) {
        return bad_request(list_name, asins != nullptr
                                          ? "must be a list of strings"
                                          : "must be a list of URL strings or {url, render} "
                                            "objects");
    }
    const auto& array = list->as_array();
    if (array.empty()) {
        return bad_request(list_name, "must not be empty");
    }
    if (array.size() > config_.max_items_per_job) {
        return error_response(413, "too_many_items",
                              list_name + ": " + std::to_string(array.size()) +
                                  " items, more than max_items_per_job (" +
                                  std::to_string(config_.max_items_per_job) + ")");
    }
    std::string url_template;
    if (asins != nullptr) {
        const auto* name = body.if_contains("template");
        if (name == nullptr || !name->is_string()) {
            return bad_request("template", "required with asins: a template name");
        }
        const auto it = config_.templates.find(std::string(name->as_string()));
        if (it == config_.templates.end()) {
            return bad_request("template",
                               "unknown template \"" + std::string(name->as_string()) + "\"");
        }
        url_template = it->second;
    } else if (body.contains("template")) {
        return bad_request("template", "only with asins");
    }
    std::vector<std::string> inputs;
    std::vector<std::string> item_urls;
    std::vector<std::optional<std::string>> item_renders;  // stays empty when no item has one
    inputs.reserve(array.size());
    item_urls.reserve(array.size());
    for (std::size_t i = 0; i < array.size(); ++i) {
        // Past the entry's own checks, errors are about its URL: "urls[2].url" for an object.
        std::string field = list_name + "[" + std::to_string(i) + "]";
        std::string input;
        if (asins != nullptr) {
            if (!array[i].is_string()) {
                return bad_request(field, "must be a string");
            }
            input = std::string(array[i].as_string());
        } else {
            auto entry = parse_url_entry(array[i], field);
            if (!entry.error.empty()) {
                const auto colon = entry.error.find(": ");
                return bad_request(entry.error.substr(0, colon), entry.error.substr(colon + 2));
            }
            if (entry.render && item_renders.empty()) {
                item_renders.resize(array.size());
            }
            if (!item_renders.empty()) {
                item_renders[i] = std::move(entry.render);
            }
            input = std::move(entry.url);
            if (array[i].is_object()) {
                field += ".url";
            }
        }
        std::string url;
        if (asins != nullptr) {
            if (!is_plain_id(input)) {
                return bad_request(field, "an id of 1 to 64 letters, digits, - or _");
            }
            url = url_template;
            for (auto pos = url.find("{id}"); pos != std::string::npos;
                 pos = url.find("{id}", pos + input.size())) {
                url.replace(pos, 4, input);
            }
        } else {
            if (input.size() > max_url_bytes) {
                return bad_request(field,
                                   "longer than " + std::to_string(max_url_bytes) + " bytes");
            }
            if (!core::is_http_url(input)) {
                return bad_request(field, "not an absolute http:// or https:// URL");
            }
            url = input;
        }
        if (url.size() > max_url_bytes) {
            return bad_request(field, "its URL from the template is longer than " +
                                          std::to_string(max_url_bytes) + " bytes");
        }
        if (!guard_.literal_allowed(url)) {
            return bad_request(field,
                               "refused by the egress guard: a private, loopback, "
                               "link-local or otherwise internal address");
        }
        inputs.push_back(std::move(input));
        item_urls.push_back(std::move(url));
    }
    std::string callback;
    if (const auto* cb = body.if_contains("callback_url")) {
        if (config_.webhook.secret.empty()) {
            // An unsigned callback could be forged by anyone who knows the receiver's URL.
            return bad_request("callback_url",
                               "this service has no webhook secret (webhook.secret_file), so it "
                               "cannot sign callbacks; submit without callback_url and poll "
                               "GET /v1/jobs/{job_id}");
        }
        if (cb->is_string() && cb->as_string().size() > max_callback_url_bytes) {
            return bad_request("callback_url",
                               "longer than " + std::to_string(max_callback_url_bytes) + " bytes");
        }
        if (!cb->is_string() || !core::is_http_url(cb->as_string())) {
            return bad_request("callback_url", "must be an absolute http:// or https:// URL");
        }
        callback = std::string(cb->as_string());
        if (!guard_.literal_allowed(callback)) {
            return bad_request("callback_url",
                               "refused by the egress guard: an internal "
                               "address");
        }
    }

    std::string render;
    if (const auto* r = body.if_contains("render")) {
        const auto field = parse_render_field(*r);
        if (!field.error.empty()) {
            const auto colon = field.error.find(": ");
            return bad_request(field.error.substr(0, colon), field.error.substr(colon + 2));
        }
        if (field.options) {
            render = render_to_json(*field.options);
        }
    }

    job_row job;
    job.job_id = random_id("job_");
    job.render = std::move(render);
    job.owner = owner;
    job.profile = profile_name;
    job.callback_url = callback;
    job.status = "queued";
    job.created_at_ms = now_ms;
    std::vector<std::string> result_ids;
    result_ids.reserve(inputs.size());
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        result_ids.push_back(random_id("res_"));
    }
    try {
        db_.insert_job(job, inputs, item_urls, result_ids, request.idempotency_key, body_hash,
                       item_renders);
    } catch (const quota_exceeded& e) {
        // Nothing was stored: the key may submit again once its jobs settle.
        return error_response(429, "quota_exceeded", e.what());
    }
    if (events_.job_submitted) {
        events_.job_submitted(job.job_id);
    }
    auto response = json_response(
        202,
        json::object{{"job_id", job.job_id}, {"items", static_cast<std::int64_t>(inputs.size())}});
    response.headers.emplace_back("Location", "/v1/jobs/" + job.job_id);
    return response;
}

}  // namespace harvest::service
