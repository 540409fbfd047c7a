#include "engine/crawl/sessions.hpp"

#include "engine/crawl/login.hpp"
#include "engine/crawl/permit_wait.hpp"
#include "engine/crawl/proxy_set.hpp"
#include "engine/net/fetch_outcome.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace harvest::crawl {
namespace asio = boost::asio;

namespace {

// A login request's way through its host's guard (`login:`): the permit it was sent under.
struct login_admission {
    host_state* host = nullptr;  // null: the URL has no origin (the fetch says why)
    std::optional<resilience::breaker_permit> permit;
    std::string refusal;  // no permit before the deadline: why
};

// Scheduler strand: a permit of the host's guard (its concurrency, token bucket and
// breaker, as for every request of the crawl), waited for until `deadline` (wait_for_permit;
// a wait for an event, a free slot or a probe's end, is asked again every 20 ms).
asio::awaitable<login_admission> admit_login(std::shared_ptr<crawl_context> self, std::string url,
                                             clock::time_point deadline) {
    login_admission out;
    out.host = self->queue.host_for(url);
    if (out.host == nullptr) {
        co_return out;
    }
    host_state* host = out.host;
    const resilience::admission admitted = co_await wait_for_permit(
        self->strand, [host](clock::time_point now) { return host->guard.admit(now); },
        std::chrono::milliseconds(20), deadline);
    if (admitted.permit) {
        out.permit = admitted.permit;
        co_return out;
    }
    out.refusal = admitted.why == resilience::wait_reason::breaker
                      ? "the circuit breaker of " + out.host->label + " is open"
                      : "no request to " + out.host->label +
                            " could be sent before the timeout (rate limit or "
                            "concurrency)";
    co_return out;
}

// The `login:` steps for one identity, in order, with its jar and User-Agent. Each goes
// through its host's guard (bucket, breaker, concurrency; its answer counts like any other)
// and through the proxies like every request (sticky_per_session: the session's proxy);
// not through the frontier: no robots.txt and no retry. "" when every step passed (2xx or
// 3xx after redirects, and its expect_cookie in the jar), else why not.
asio::awaitable<std::string> login_session(std::shared_ptr<crawl_context> self, identity who,
                                           std::uint32_t session) {
    for (std::size_t i = 0; i < self->options.login.size(); ++i) {
        const login_step& step = self->options.login[i];
        net::http_request request = login_request(step, who);
        const auto first_deadline = clock::now() + self->options.http.timeouts.total;
        const login_admission admission = co_await asio::co_spawn(
            self->strand, admit_login(self, step.url, first_deadline), asio::use_awaitable);
        if (admission.host != nullptr && !admission.permit) {
            co_return login_step_name(step, i) + ": " + admission.refusal;
        }
        const auto http = admission.host != nullptr
                              ? admission.host->http
                              : std::make_shared<const http_options>(self->options.http);
        const auto deadline = clock::now() + http->timeouts.total;
        self->stats.requests.fetch_add(1, std::memory_order_relaxed);
        boost::system::result<net::http_response> result = net::http_response{};
        if (self->proxies && admission.host != nullptr) {
            const auto session_key = self->options.sessions.count > 1
                                         ? std::optional<std::uint64_t>(session)
                                         : std::nullopt;
            result = co_await self->proxies->fetch(self->client, std::move(request), http, deadline,
                                                   admission.host->origin, session_key, who.jar);
        } else {
            result =
                co_await self->client.fetch(std::move(request), http, deadline, nullptr, who.jar);
        }
        if (admission.host != nullptr) {
            // The guard hears the answer on the strand, as for a crawl request.
            const auto outcome = net::outcome_of(result);
            resilience::attempt_outcome heard;
            heard.status = outcome.status;
            heard.error = outcome.error;
            asio::post(self->strand,
                       [self, host = admission.host, permit = *admission.permit, heard] {
                           bool failed_before = false;
                           self->record_outcome(*host, permit, heard, failed_before, clock::now());
                           host->guard.release();
                           self->wake();
                       });
        }
        if (result) {
            self->stats.count_response(result->status);
        }
        if (auto why = login_verdict(step, i, result, who); !why.empty()) {
            co_return why;
        }
    }
    co_return std::string();
}

}  // namespace

session_keeper::session_keeper(std::shared_ptr<crawl_context> context)
    : context_(std::move(context)) {
    saved_jar_versions_.assign(context_->identities.size(), 0);
    retiring_.assign(context_->identities.size(), false);
}

void session_keeper::restore(const std::map<std::uint32_t, std::string>& cookies) {
    restored_sessions_.assign(context_->identities.size(), false);
    const auto now = std::chrono::system_clock::now();
    for (const auto& [session, bytes] : cookies) {
        if (session >= context_->identities.size()) {
            continue;  // sessions.count was lowered since
        }
        if (auto jar = core::cookie_jar::decode(bytes)) {
            context_->identities.current(session).jar->restore(std::move(*jar), now);
            restored_sessions_[session] = true;
        }
    }
}

asio::awaitable<void> session_keeper::login_all(std::shared_ptr<session_keeper> self) {
    if (self->context_->options.login.empty()) {
        co_return;
    }
    for (std::uint32_t i = 0; i < self->context_->identities.size(); ++i) {
        if (i < self->restored_sessions_.size() && self->restored_sessions_[i]) {
            continue;  // --resume: its jar came back from the journal, logged in
        }
        const identity who = self->context_->identities.current(i);
        std::string error = co_await login_session(self->context_, who, i);
        if (!error.empty()) {
            spdlog::error("session {}: login failed: {}", i, error);
            self->context_->stats.login_error = "session " + std::to_string(i) + ": " + error;
            co_return;
        }
        self->context_->stats.logins.fetch_add(1, std::memory_order_relaxed);
        spdlog::info("session {} logged in", i);
    }
}

void session_keeper::save_cookies(clock::time_point now, bool force) {
    if (context_->state_log == nullptr || !context_->options.http.cookies) {
        return;
    }
    if (!force && now - last_cookie_save_ < cookie_save_interval) {
        return;
    }
    last_cookie_save_ = now;
    for (std::uint32_t i = 0; i < context_->identities.size(); ++i) {
        const identity who = context_->identities.current(i);
        // A jar's version and its address: a fresh jar (retirement) starts at version 0.
        const std::uint64_t mark =
            who.jar->version() ^ (reinterpret_cast<std::uintptr_t>(who.jar.get()) << 16);
        if (mark == saved_jar_versions_[i]) {
            continue;
        }
        saved_jar_versions_[i] = mark;
        context_->state_log->save_cookies(
            i, core::cookie_jar::encode(who.jar->cookies(std::chrono::system_clock::now())));
    }
}

void session_keeper::retire(std::uint32_t session, const std::shared_ptr<core::cookie_jar>& used) {
    session %= context_->identities.size();
    if (!used || !context_->identities.holds(session, used)) {
        return;
    }
    if (retiring_[session]) {
        return;
    }
    context_->stats.sessions_retired.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("session {} retired (a retire_on status): a fresh one replaces it", session);
    if (context_->options.login.empty()) {
        (void)context_->identities.replace_if(session, used, context_->identities.fresh(session));
        return;
    }
    retiring_[session] = true;
    ++logins_in_flight_;
    asio::co_spawn(context_->serial_executor(), relogin(shared_from_this(), session, used),
                   crawl_context::log_failure);
}

asio::awaitable<void> session_keeper::relogin(std::shared_ptr<session_keeper> self,
                                              std::uint32_t session,
                                              std::shared_ptr<core::cookie_jar> old_jar) {
    identity fresh = self->context_->identities.fresh(session);
    std::string error;
    try {
        error = co_await login_session(self->context_, fresh, session);
    } catch (const std::exception& e) {
        // Not expected (fetch reports errors as values); the crawl must not wait for it.
        error = e.what();
    }
    asio::post(self->context_->strand, [self, session, old_jar, fresh = std::move(fresh),
                                        error = std::move(error)]() mutable {
        self->retiring_[session] = false;
        --self->logins_in_flight_;
        self->context_->wake();
        if (!error.empty()) {
            spdlog::warn("session {}: logging in again failed ({}); it keeps its old identity",
                         session, error);
            return;
        }
        self->context_->stats.logins.fetch_add(1, std::memory_order_relaxed);
        (void)self->context_->identities.replace_if(session, old_jar, std::move(fresh));
    });
}

}  // namespace harvest::crawl
