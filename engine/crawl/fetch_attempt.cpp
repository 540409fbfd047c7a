#include "engine/crawl/fetch_attempt.hpp"

#include "engine/core/text.hpp"
#include "engine/crawl/crawler.hpp"
#include "engine/crawl/http_cache.hpp"
#include "engine/crawl/proxy_set.hpp"
#include "engine/crawl/render_gate.hpp"
#include "engine/crawl/renderer.hpp"
#include "engine/crawl/sitemap.hpp"
#include "engine/metrics/crawl_metrics.hpp"
#include "engine/net/fetch_outcome.hpp"
#include "engine/net/url.hpp"

#include <boost/asio/post.hpp>

namespace harvest::crawl {
namespace asio = boost::asio;

namespace {

// The render options of the first rule whose match is in the page's final URL, for an HTML
// page (or one that does not say what it is); null when it is not rendered.
const render_options* render_options_for(const crawl_context& self, const std::string& url,
                                         const net::http_response& response) {
    if (!self.renderer || self.render_patterns.empty()) {
        return nullptr;
    }
    const auto type = response.header("Content-Type");
    if (!type.empty() && type.find("html") == std::string_view::npos) {
        return nullptr;
    }
    for (std::size_t i = 0; i < self.render_patterns.size(); ++i) {
        if (std::regex_search(url, self.render_patterns[i])) {
            return &self.options.render_rules[i].options;
        }
    }
    return nullptr;
}

// What a request sends for header `name`: its own headers, then (User-Agent) its session's,
// then http.headers, then the client's User-Agent; "" when none. For the cache's Vary check,
// and the User-Agent a rendered page's tab takes on.
std::string request_header_value(const crawl_context& self, const crawl_request& request,
                                 const http_options& http, std::string_view name) {
    if (auto own = find_header(request.http.headers, name)) {
        return *own;
    }
    const bool user_agent = core::iequals(name, "user-agent");
    if (user_agent) {
        identity scratch;
        if (const identity& who = self.identities.of(request.session, scratch);
            !who.user_agent.empty()) {
            return who.user_agent;
        }
    }
    if (auto configured = find_header(http.headers, name)) {
        return *configured;
    }
    if (user_agent) {
        return self.options.engine.user_agent.empty() ? default_user_agent()
                                                      : self.options.engine.user_agent;
    }
    return {};
}

// http.cache mode conditional: the stored validators, asked again (RFC 9110 13.1).
void add_validators(const cache_entry& cached, net::http_request& sent) {
    if (auto etag = find_header(cached.headers, "ETag")) {
        sent.headers.emplace_back("If-None-Match", std::move(*etag));
    }
    if (auto modified = find_header(cached.headers, "Last-Modified")) {
        sent.headers.emplace_back("If-Modified-Since", std::move(*modified));
    }
}

// A 200 kept for the next run. Conditional mode keeps only what it can ask about again
// (an ETag or a Last-Modified) and was not redirected (the validators are the final URL's);
// replay keeps every 200.
template <typename RequestHeader>
void store_response(crawl_context& self, std::uint64_t key, const net::http_response& response,
                    RequestHeader&& sent_header) {
    const bool replay = self.options.http_cache.mode == http_cache_options::kind::replay;
    if (!replay && (response.redirects != 0 || (response.header("ETag").empty() &&
                                                response.header("Last-Modified").empty()))) {
        self.cache->remove(key);  // a stale entry would answer the next 304
        return;
    }
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    auto entry = entry_of(response, sent_header, now_ms);
    if (!entry || !self.cache->store(key, *entry)) {
        self.cache->remove(key);
    }
}

// The fingerprint of a redirected page's final URL when it differs from its request's and
// the crawl deduplicates (the local frontier's seen set, or the shared frontier's, which
// always deduplicates).
std::optional<std::uint64_t> redirect_claim_needed(const crawl_context& self,
                                                   const fetched_page& page) {
    if (page.response.redirects == 0 || (!self.options.engine.dedup && !self.shared)) {
        return std::nullopt;
    }
    const auto target = fingerprint(net::http_request{"GET", page.response.final_url, {}, {}});
    if (!target || *target == page.request.fingerprint) {
        return std::nullopt;
    }
    return target;
}

// A sitemap's locations, resolved against nothing (sitemaps.org requires absolute URLs);
// a gzip-compressed sitemap (sitemap.xml.gz served without Content-Encoding) is inflated
// block by block, bounded by max_body like any body. The body is read in place: neither it
// nor its inflated form is copied whole (sitemap_reader).
void read_sitemap(const std::string& body, const http_options& http, completion& done) {
    sitemap_reader reader(
        [&done](std::string location) { done.sitemap_locations.push_back(std::move(location)); },
        http.max_body);
    reader.feed(body);
    reader.finish();
    done.sitemap_is_index = reader.is_index();
}

// What the wire, or the cache, answered one attempt.
struct answer {
    boost::system::result<net::http_response> result = net::http_response{};
    std::shared_ptr<core::cookie_jar> jar;  // the session's jar the attempt used
    bool unchanged = false;                 // a 304 answered from the cache
    bool unasked_304 = false;               // a 304 to a request that asked nothing
};

// The coroutines below are the attempt's steps, each with its own frame: a coroutine's frame
// holds every local of its body for its whole life, so the one frame an attempt keeps while
// it waits for the network (fetch_attempt's, sized by what it holds across that wait) stays
// small, and a rendered page's, a page's and a failure's locals live only while they are used.

// Whether http.cache keeps `request`'s answer: a GET with a fingerprint, the cache on.
bool cacheable(const crawl_context& self, const crawl_request& request) {
    return self.cache && request.http.method == "GET" && request.fingerprint != 0;
}

// The stored entry of a cacheable request when its Vary headers match what is sent now;
// null otherwise. On the heap: the attempt's frame holds a pointer across the fetch.
std::unique_ptr<cache_entry> load_cached(const crawl_context& self, const crawl_request& request,
                                         const host_state& host) {
    if (!cacheable(self, request)) {
        return nullptr;
    }
    auto cached = self.cache->load(request.fingerprint);
    const auto sent_header = [&](std::string_view name) {
        return request_header_value(self, request, *host.http, name);
    };
    if (!cached || !vary_matches(*cached, sent_header)) {
        return nullptr;  // none, or stored for other request headers: fetched and replaced
    }
    return std::make_unique<cache_entry>(std::move(*cached));
}

// The request as sent: the session's User-Agent, the cache's validators. `got.jar` becomes
// the session's jar.
net::http_request request_to_send(const crawl_context& self, const crawl_request& request,
                                  const cache_entry* cached, answer& got) {
    net::http_request sent = request.http;
    if (cached != nullptr) {
        add_validators(*cached, sent);
    }
    identity scratch;
    const identity& who = self.identities.of(request.session, scratch);
    if (!who.user_agent.empty() && !find_header(sent.headers, "User-Agent")) {
        sent.headers.emplace_back("User-Agent", who.user_agent);
    }
    got.jar = who.jar;
    return sent;
}

// A cacheable request's answer against the cache: a 304 to a validated request becomes the
// stored response, a 200 is stored for the next run.
void settle_with_cache(crawl_context& self, const crawl_request& request, const host_state& host,
                       const cache_entry* cached, answer& got) {
    auto& result = got.result;
    if (result->status == 304) {
        if (cached != nullptr) {
            metrics::inc(self.cache_not_modified);
            net::http_response stored = response_of(*cached);
            stored.wire_bytes = result->wire_bytes;
            stored.elapsed = result->elapsed;
            stored.proxy = std::move(result->proxy);  // a rendered page goes through it
            result = std::move(stored);
            got.unchanged = true;
        } else {
            // Nothing was stored, so nothing was asked conditionally: the server answered a
            // question nobody asked, and the page is not there.
            got.unasked_304 = true;
        }
        return;
    }
    metrics::inc(self.cache_miss);
    if (result->status == 200) {
        store_response(self, request.fingerprint, *result, [&](std::string_view name) {
            return request_header_value(self, request, *host.http, name);
        });
    }
}

// The fetch of the request as sent (request_to_send), through the proxy set when there is
// one. A plain function: what it builds is moved into the fetch's own frame, not kept in the
// caller's across the wait.
asio::awaitable<boost::system::result<net::http_response>> start_fetch(
    crawl_context& self, const crawl_request& request, const host_state& host,
    const cache_entry* cached, answer& got, clock::time_point deadline) {
    net::http_request sent = request_to_send(self, request, cached, got);
    std::shared_ptr<core::cookie_jar> jar = host.http->cookies ? got.jar : nullptr;
    if (self.proxies) {
        // sticky_per_session keys on the session when there are sessions, else on the host
        // (proxy_set::fetch).
        const auto session_key = self.options.sessions.count > 1
                                     ? std::optional<std::uint64_t>(request.session)
                                     : std::nullopt;
        return self.proxies->fetch(self.client, std::move(sent), host.http, deadline, host.origin,
                                   session_key, std::move(jar));
    }
    return self.client.fetch(std::move(sent), host.http, deadline, nullptr, std::move(jar));
}

// An attempt's answer: from the cache alone in replay mode, else from start_fetch, settled
// against the cache when it is on.
asio::awaitable<void> fetch_answer(crawl_context& self, const crawl_request& request,
                                   host_state& host, answer& got) {
    const std::unique_ptr<cache_entry> cached = load_cached(self, request, host);
    if (cached && self.options.http_cache.mode == http_cache_options::kind::replay) {
        got.result = response_of(*cached);
        metrics::inc(self.cache_hit);
        co_return;
    }
    self.stats.requests.fetch_add(1, std::memory_order_relaxed);
    const auto deadline = clock::now() + host.http->timeouts.total;
    got.result = co_await start_fetch(self, request, host, cached.get(), got, deadline);
    if (got.result) {
        self.stats.count_response(got.result->status);
        self.stats.bytes_received.fetch_add(got.result->wire_bytes, std::memory_order_relaxed);
        if (cacheable(self, request)) {
            settle_with_cache(self, request, host, cached.get(), got);
        }
    }
}

// A page a render rule matched, rendered from the bytes fetched: `response.body` becomes the
// rendered HTML, or the decision a failure (render_refused, render_crash, ...). True when
// rendered.
asio::awaitable<bool> render_page(const std::shared_ptr<crawl_context>& self,
                                  const crawl_request& request, host_state& host,
                                  const render_options& how, net::http_response& response,
                                  completion& done) {
    const std::string& page_url =
        response.final_url.empty() ? request.http.url : response.final_url;
    // The page came through the host's guard like any other; the browser gets these bytes for
    // it and fetches only what the page itself asks for. What the page's scripts ask of the
    // same host waits for the host's guard too.
    auto gate = std::make_shared<host_render_gate>(
        self->strand, host.guard,
        [self, guarded = &host](const resilience::breaker_permit& permit,
                                const resilience::attempt_outcome& answered) {
            bool failed_before = false;  // each sub-request is a request of its own
            self->record_outcome(*guarded, permit, answered, failed_before, clock::now());
        });
    // The session's cookies go into the browser for the page and come back; the tab speaks
    // with the User-Agent the page was fetched with.
    render_input page{page_url,
                      response.status,
                      std::string(response.header("Content-Type")),
                      std::move(response.body),
                      std::move(gate),
                      host.http->cookies ? done.jar : nullptr,
                      request_header_value(*self, request, *host.http, "user-agent"),
                      response.proxy};
    render_options options = how;
    render_outcome rendered = co_await self->renderer->render(std::move(page), options);
    if (rendered.failure) {
        // The host answered well (its guard hears a success in complete()); the page could
        // not be rendered.
        done.decision = resilience::decision{};
        done.decision.what = resilience::verdict::fail;
        done.decision.failure = *rendered.failure;
        response.body.clear();
        co_return false;
    }
    response.body = std::move(rendered.html);
    co_return true;
}

// A success's page through the sink, its links into the completion; or, redirected to a URL
// that must be claimed first, the page held back in the completion.
asio::awaitable<void> deliver_page(crawl_context& self, const crawl_request& request,
                                   net::http_response& response, bool rendered, bool unchanged,
                                   completion& done) {
    done.page_url = response.final_url;
    fetched_page page{request, std::move(response), std::chrono::system_clock::now()};
    page.rendered = rendered;
    page.unchanged = unchanged;
    page.emit_unchanged = self.options.http_cache.emit_unchanged;
    if (const auto target = redirect_claim_needed(self, page)) {
        // The final URL goes through dedup like any link before anything is emitted.
        done.redirected = std::move(page);
        done.redirect_target = *target;
        co_return;
    }
    sink_result found = co_await self.output->on_success(std::move(page));
    done.links = std::move(found.links);
    done.link_rules = std::move(found.link_rules);
}

// A failure to the error stream, with the body of the answer that failed when there was one.
// (Arguments are lvalues: GCC 12 mishandles a temporary made by ?: in a co_await's call.)
asio::awaitable<void> report_failure(crawl_context& self, const crawl_request& request,
                                     const completion& done,
                                     boost::system::result<net::http_response>& result) {
    self.stats.count_failure(done.decision.failure);
    failure_record failure{request.http.url,
                           done.decision.failure,
                           request.attempt,
                           done.status,
                           done.outcome.error
                               ? std::optional(net::failure_kind_of(*done.outcome.error))
                               : std::nullopt,
                           std::chrono::system_clock::now(),
                           request.fingerprint};
    if (result) {
        failure.body = std::move(result->body);
    }
    co_await self.output->on_failure(std::move(failure));
}

}  // namespace

asio::awaitable<std::unique_ptr<completion>> fetch_attempt(std::shared_ptr<crawl_context> self,
                                                           taken_request taken) {
    crawl_request& request = taken.request;
    host_state& host = *taken.host;
    ++request.attempt;

    answer got;
    co_await fetch_answer(*self, request, host, got);
    auto& result = got.result;

    auto owned = std::make_unique<completion>();
    completion& done = *owned;
    done.jar = std::move(got.jar);
    const resilience::attempt_outcome outcome = net::outcome_of(result);
    done.error = outcome.error;
    if (result) {
        done.status = got.unchanged ? 304u : result->status;
        done.wire_bytes = result->wire_bytes;
        done.elapsed = result->elapsed;
    } else {
        self->stats.count_transport_error(net::failure_kind_of(*outcome.error));
    }
    done.decision = host.policy.classify(outcome, request.attempt, request.http.method,
                                         !request.idempotency_key.empty(), request.previous_backoff,
                                         thread_rng(), std::chrono::system_clock::now());
    if (got.unasked_304) {
        done.decision = resilience::decision{};
        done.decision.what = resilience::verdict::fail;
        done.decision.failure = core::failure_kind::protocol;
    }
    // What the guard needs of it later, on the strand (the Retry-After view would dangle).
    done.outcome.status = outcome.status;
    done.outcome.error = outcome.error;

    bool rendered = false;
    if (done.decision.what == resilience::verdict::success) {
        const std::string& page_url =
            result->final_url.empty() ? request.http.url : result->final_url;
        if (const auto* how = render_options_for(*self, page_url, *result)) {
            rendered = co_await render_page(self, request, host, *how, *result, done);
        }
    }
    if (done.decision.what == resilience::verdict::success) {
        // The breaker hears of a success as soon as it is known, not after the page went
        // through the sink: of a burst of answers, the failures (which skip the sink) would
        // otherwise reach it first and could open it on a host that mostly succeeds.
        asio::post(self->strand,
                   [self, host = &host, permit = taken.permit, answered = done.outcome]() {
                       bool no_failure = false;  // a success: the request's mark is not needed
                       self->record_outcome(*host, permit, answered, no_failure, clock::now());
                   });
        done.breaker_recorded = true;
        self->stats.succeeded.fetch_add(1, std::memory_order_relaxed);
        if (request.sitemap) {
            read_sitemap(result->body, *host.http, done);
        }
        co_await deliver_page(*self, request, *result, rendered, got.unchanged, done);
    } else if (done.decision.what == resilience::verdict::fail) {
        co_await report_failure(*self, request, done, result);
    }
    done.taken = std::move(taken);
    co_return owned;
}

}  // namespace harvest::crawl
